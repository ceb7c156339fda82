"""The worker's memory of IB's execution revisions: a correction replaces the execution it corrects.

IB corrects an execution by sending it again as ``<stem>.<revision+1>`` (``messages.executions``).
Without this memory the worker counted a correction as a second execution: its shares twice in an
order's executed total, its realized PnL twice toward the daily loss limit. No Django here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal

from execution_worker.messages.executions import exec_revision

# Stems remembered (oldest forgotten first): far more than a trading day's executions.
MAX_STEMS = 200_000


@dataclass(slots=True)
class Revision:
    """The latest revision seen of one execution, what it added to its order's executed total, and
    the realized PnL counted toward the daily loss limit for the execution (any revision)."""

    exec_id: str
    revision: int
    shares: Decimal
    value: Decimal
    counted: Decimal = Decimal(0)


class ExecutionRevisions:
    """Which execution each execId replaces (``observe``), and how much PnL a report adds (``realized_delta``)."""

    def __init__(self, max_stems: int = MAX_STEMS) -> None:
        self._latest: OrderedDict[str, Revision] = OrderedDict()
        self._max = max_stems
        self._lock = threading.Lock()

    def observe(self, exec_id: str, *, shares: Decimal, value: Decimal) -> tuple[str, Revision | None]:
        """Note a new execId; return ``("new", None)``, ``("correction", replaced)`` or ``("stale", latest)``.

        ``replaced`` is a copy of the revision the correction replaces (its shares and value are
        to be taken out of the order's total). ``stale``: a revision older than one already seen (a
        late original after its correction): it is ignored, the correction stands.
        """
        parsed = exec_revision(exec_id)
        if parsed is None:
            return "new", None
        stem, revision = parsed
        with self._lock:
            latest = self._latest.get(stem)
            if latest is not None and latest.revision >= revision:
                return "stale", latest
            replaced = (
                None if latest is None else Revision(latest.exec_id, latest.revision, latest.shares, latest.value)
            )
            counted = latest.counted if latest is not None else Decimal(0)
            self._latest[stem] = Revision(exec_id, revision, shares, value, counted)
            self._latest.move_to_end(stem)
            while len(self._latest) > self._max:
                self._latest.popitem(last=False)
        return ("correction", replaced) if replaced is not None else ("new", None)

    def realized_delta(self, exec_id: str, realized: Decimal) -> Decimal:
        """The realized PnL a commission report of ``exec_id`` adds to the day's count.

        The latest revision's figure replaces what earlier revisions counted (the difference is
        returned); a report of a revision already corrected adds nothing.
        """
        parsed = exec_revision(exec_id)
        if parsed is None:
            return realized
        with self._lock:
            latest = self._latest.get(parsed[0])
            if latest is None:
                return realized
            if latest.exec_id != exec_id:
                return Decimal(0)
            delta, latest.counted = realized - latest.counted, realized
            return delta
