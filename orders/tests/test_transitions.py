"""The order state machine: every pair of states, IB's words, and the forward-only rule."""

from __future__ import annotations

import itertools

import pytest

from orders.models import OrderStatus as S
from orders.transitions import RANK, TRANSITIONS, can_transition, is_final, status_from_broker

# Written out by hand from design.md, independently of the table under test.
ALLOWED = {
    (S.PENDING_APPROVAL, S.NEW),
    (S.PENDING_APPROVAL, S.CANCELLED),
    (S.PENDING_APPROVAL, S.REJECTED),
    *(
        (S.NEW, to)
        for to in (
            S.SUBMITTING,
            S.SUBMITTED,
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.CANCEL_REQUESTED,
            S.CANCELLED,
            S.REJECTED,
            S.INACTIVE,
            S.SUBMIT_UNKNOWN,
        )
    ),
    *(
        (S.SUBMITTING, to)
        for to in (
            S.SUBMITTED,
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.CANCEL_REQUESTED,
            S.CANCELLED,
            S.REJECTED,
            S.INACTIVE,
            S.SUBMIT_UNKNOWN,
        )
    ),
    *(
        (S.SUBMIT_UNKNOWN, to)
        for to in (S.SUBMITTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCEL_REQUESTED, S.CANCELLED, S.REJECTED, S.INACTIVE)
    ),
    *(
        (S.SUBMITTED, to)
        for to in (S.PARTIALLY_FILLED, S.FILLED, S.CANCEL_REQUESTED, S.CANCELLED, S.REJECTED, S.INACTIVE)
    ),
    *((S.PARTIALLY_FILLED, to) for to in (S.PARTIALLY_FILLED, S.FILLED, S.CANCEL_REQUESTED, S.CANCELLED, S.INACTIVE)),
    *((S.CANCEL_REQUESTED, to) for to in (S.CANCELLED, S.FILLED, S.REJECTED, S.INACTIVE)),
}
ALL_PAIRS = list(itertools.product(S, S))


@pytest.mark.parametrize(("from_status", "to_status"), sorted(ALLOWED))
def test_an_allowed_transition_is_allowed(from_status, to_status):
    assert can_transition(from_status, to_status)


@pytest.mark.parametrize(("from_status", "to_status"), [pair for pair in ALL_PAIRS if pair not in ALLOWED])
def test_a_transition_outside_the_table_is_refused(from_status, to_status):
    assert not can_transition(from_status, to_status)


def test_the_table_covers_every_state():
    assert set(TRANSITIONS) == set(S)
    assert set(RANK) == set(S)


@pytest.mark.parametrize(("from_status", "to_status"), sorted(ALLOWED))
def test_every_allowed_transition_moves_forward(from_status, to_status):
    assert RANK[to_status] >= RANK[from_status]


@pytest.mark.parametrize("status", [S.FILLED, S.CANCELLED, S.REJECTED, S.INACTIVE])
def test_a_final_state_has_no_way_out(status):
    assert is_final(status)
    assert not any(can_transition(status, other) for other in S)


def test_unknown_state_names_are_never_allowed():
    assert not can_transition("NEW", "LOST")
    assert not can_transition("LOST", "NEW")


@pytest.mark.parametrize(
    ("word", "filled", "remaining", "expected"),
    [
        ("ApiPending", 0, 100, S.SUBMITTING),
        ("PendingSubmit", 0, 100, S.SUBMITTING),
        ("PreSubmitted", 0, 100, S.SUBMITTED),
        ("Submitted", 0, 100, S.SUBMITTED),
        ("Submitted", 40, 60, S.PARTIALLY_FILLED),
        ("PreSubmitted", 40, 60, S.PARTIALLY_FILLED),
        ("Submitted", 100, 0, S.FILLED),
        ("PendingCancel", 0, 100, S.CANCEL_REQUESTED),
        ("ApiCancelled", 0, 100, S.CANCELLED),
        ("Cancelled", 0, 100, S.CANCELLED),
        ("Cancelled", 40, 60, S.CANCELLED),
        ("Filled", 100, 0, S.FILLED),
        ("Inactive", 0, 100, S.INACTIVE),
        ("Unknown", 0, 100, None),
        ("", 0, 100, None),
    ],
)
def test_ib_status_words_map_to_our_states(word, filled, remaining, expected):
    assert status_from_broker(word, filled, remaining) == expected
