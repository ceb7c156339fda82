"""Fault points: ``faultpoint("name")`` kills the process when ``FAULTPOINTS`` names it.

Tests set ``FAULTPOINTS=after_xadd_before_mark`` on a subprocess to get a deterministic
"kill -9 at the worst moment" without racing a signal against the code.
"""

from __future__ import annotations

import os


def faultpoint(name: str) -> None:
    """Exit at once with status 137 (as after SIGKILL) when ``name`` is listed in ``FAULTPOINTS``."""
    names = os.environ.get("FAULTPOINTS", "")
    if names and name in {part.strip() for part in names.split(",")}:
        os._exit(137)
