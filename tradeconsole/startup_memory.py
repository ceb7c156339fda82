"""What a long-running process loaded at start, kept out of the garbage collector's full scans."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Move every object alive now into the collector's permanent generation; return how many.

    What a process has loaded at start (Django, the apps, their modules: about 185,000 objects)
    lives as long as the process, yet a full collection scans it all, a pause of about 100 ms on a
    small machine that lands inside whatever runs then: a monitoring run timed at 20 ms, a bar update
    on its way to a page (bench market_topics: an 81 ms pause in a web process's fan-out). Frozen,
    it is never scanned again; collections see only what the process creates afterwards.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
