"""The order state machine: the one transition table every writer uses, and IB's status words.

Orders only move forward. ``RANK`` orders the states so that every allowed transition goes to
an equal or higher rank; an event that would move an order backwards is recorded and ignored by
the services. Final states (``FILLED``, ``CANCELLED``, ``REJECTED``, ``INACTIVE``) have no exit.

``CANCEL_REQUESTED`` is sticky: a late ``Submitted`` from the broker (sent before it saw our
cancel) must not make the desk believe the cancel was forgotten; fills while a cancel is pending
raise the filled quantity without changing the status.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from orders.models import OrderStatus

S = OrderStatus

_AFTER_SEND = frozenset({S.SUBMITTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.INACTIVE})

TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_APPROVAL: frozenset({S.NEW, S.CANCELLED, S.REJECTED}),
    S.NEW: frozenset({S.SUBMITTING, S.CANCEL_REQUESTED, S.SUBMIT_UNKNOWN} | _AFTER_SEND),
    S.SUBMITTING: frozenset({S.CANCEL_REQUESTED, S.SUBMIT_UNKNOWN} | _AFTER_SEND),
    S.SUBMIT_UNKNOWN: frozenset({S.CANCEL_REQUESTED} | _AFTER_SEND),
    S.SUBMITTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCEL_REQUESTED, S.CANCELLED, S.REJECTED, S.INACTIVE}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCEL_REQUESTED, S.CANCELLED, S.INACTIVE}),
    S.CANCEL_REQUESTED: frozenset({S.CANCELLED, S.FILLED, S.REJECTED, S.INACTIVE}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.INACTIVE: frozenset(),
}

RANK: Mapping[OrderStatus, int] = {
    S.PENDING_APPROVAL: 0,
    S.NEW: 1,
    S.SUBMITTING: 2,
    S.SUBMIT_UNKNOWN: 3,
    S.SUBMITTED: 4,
    S.PARTIALLY_FILLED: 5,
    S.CANCEL_REQUESTED: 6,
    S.FILLED: 7,
    S.CANCELLED: 7,
    S.REJECTED: 7,
    S.INACTIVE: 7,
}

FINAL_STATUSES: frozenset[OrderStatus] = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
# Working: the broker may still fill it (or will, once sent). Counted by the position limit.
WORKING_STATUSES: frozenset[OrderStatus] = frozenset(
    {S.NEW, S.SUBMITTING, S.SUBMIT_UNKNOWN, S.SUBMITTED, S.PARTIALLY_FILLED, S.CANCEL_REQUESTED}
)
OPEN_STATUSES: frozenset[OrderStatus] = frozenset({S.PENDING_APPROVAL} | WORKING_STATUSES)
CANCELLABLE_STATUSES: frozenset[OrderStatus] = frozenset(
    {S.PENDING_APPROVAL, S.NEW, S.SUBMITTING, S.SUBMIT_UNKNOWN, S.SUBMITTED, S.PARTIALLY_FILLED}
)
MODIFIABLE_STATUSES: frozenset[OrderStatus] = frozenset(
    {S.PENDING_APPROVAL, S.NEW, S.SUBMITTING, S.SUBMITTED, S.PARTIALLY_FILLED}
)


def can_transition(from_status: str, to_status: str) -> bool:
    """Return whether an order in ``from_status`` may move to ``to_status``.

    Staying in the same state is not a transition, except ``PARTIALLY_FILLED`` (another fill).
    Unknown state names are never allowed.
    """
    try:
        return OrderStatus(to_status) in TRANSITIONS[OrderStatus(from_status)]
    except ValueError:
        return False


# The one backward move, allowed only when the broker (or the worker) refuses a cancel: the order
# is still working, and staying in the sticky CANCEL_REQUESTED would tell the desk it is going
# away. Back to the working state it had (or the broker reports); never used for a status event.
CANCEL_REFUSED_TARGETS: frozenset[OrderStatus] = frozenset(
    {S.NEW, S.SUBMITTING, S.SUBMIT_UNKNOWN, S.SUBMITTED, S.PARTIALLY_FILLED}
)


def can_revert_cancel(from_status: str, to_status: str) -> bool:
    """Return whether a refused cancel may move an order from ``from_status`` back to ``to_status``.

    Only ``CANCEL_REQUESTED`` → a working state (``CANCEL_REFUSED_TARGETS``); ``can_transition``
    stays forward-only for everything else.
    """
    try:
        return OrderStatus(from_status) == S.CANCEL_REQUESTED and OrderStatus(to_status) in CANCEL_REFUSED_TARGETS
    except ValueError:
        return False


def is_final(status: str) -> bool:
    """Return whether nothing can change ``status`` any more."""
    return status in FINAL_STATUSES


# IB's order status words (EWrapper.orderStatus) → our states. ``None`` means the word carries no
# state of its own (an unknown word is recorded and ignored).
IB_STATUS: Mapping[str, OrderStatus] = {
    "ApiPending": S.SUBMITTING,
    "PendingSubmit": S.SUBMITTING,
    "PreSubmitted": S.SUBMITTED,
    "Submitted": S.SUBMITTED,
    "PendingCancel": S.CANCEL_REQUESTED,
    "ApiCancelled": S.CANCELLED,
    "Cancelled": S.CANCELLED,
    "Filled": S.FILLED,
    "Inactive": S.INACTIVE,
}


def status_from_broker(
    word: str, filled: Decimal | int | str = 0, remaining: Decimal | int | str | None = None
) -> OrderStatus | None:
    """Map IB's status word and fill counts to our state, or ``None`` for an unknown word.

    A working order (``PreSubmitted``/``Submitted``) with something filled is
    ``PARTIALLY_FILLED``; ``Submitted`` with nothing remaining and something filled is ``FILLED``
    (IB sometimes reports the last fill before it says ``Filled``). ``Cancelled`` stays
    ``CANCELLED`` even when partly filled: the fills are kept, the rest is gone.
    """
    status = IB_STATUS.get(word)
    if status is None:
        return None
    filled_qty = Decimal(str(filled or 0))
    if status == S.SUBMITTED and filled_qty > 0:
        if remaining is not None and Decimal(str(remaining)) <= 0:
            return S.FILLED
        return S.PARTIALLY_FILLED
    return status
