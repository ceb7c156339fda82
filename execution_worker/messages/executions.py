"""IB's execution ids and their corrections, the rule both the worker and the book apply.

An execId reads ``<stem>.<revision>`` (``0000e0d5.6553a1b2.01.01``). IB corrects an execution by
sending it again under the same stem with a higher revision (``….01.02``): the later revision
replaces the earlier one (its fill, position, PnL and commission); it is not a second fill.
"""

from __future__ import annotations


def exec_revision(exec_id: str) -> tuple[str, int] | None:
    """Return ``(stem, revision)`` of an IB execId, or None when it carries no revision.

    Ids without a dot or whose last part is not a number (external systems, tests) are never
    taken for corrections of one another.
    """
    stem, dot, last = (exec_id or "").rpartition(".")
    if not dot or not stem or not last.isdigit():
        return None
    return stem, int(last)


def corrects(exec_id: str, earlier: str) -> bool:
    """Whether ``exec_id`` is a correction of ``earlier`` (same stem, higher revision)."""
    new, old = exec_revision(exec_id), exec_revision(earlier)
    return new is not None and old is not None and new[0] == old[0] and new[1] > old[1]
