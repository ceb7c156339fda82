"""Announcements reach their receivers once per commit, coalesced, and never for rolled-back work."""

from __future__ import annotations

import pytest
from django.db import transaction

from accounts.announce import announce, changed, stamped


@pytest.fixture
def heard():
    got: list[dict] = []

    def listen(sender, changes, **kwargs) -> None:
        got.append(dict(changes))

    changed.connect(listen, dispatch_uid="test_announce.listen")
    yield got
    changed.disconnect(dispatch_uid="test_announce.listen")


@pytest.mark.django_db
def test_announcements_of_one_transaction_are_heard_once_on_commit(heard, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        announce("orders.order", 1)
        announce("orders.order", 1)
        with stamped(5):
            announce("accounts.brokeraccount", 2)
        assert heard == []
    assert heard == [{("orders.order", 1): None, ("accounts.brokeraccount", 2): 5}]


@pytest.mark.django_db
def test_work_rolled_back_to_a_savepoint_is_not_announced_and_what_follows_is(
    heard, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():
                announce("orders.order", 1)
                raise RuntimeError("refused")
        except RuntimeError:
            pass
        announce("orders.order", 2)
    assert heard == [{("orders.order", 2): None}]


@pytest.mark.django_db
def test_announcements_after_a_flushed_transaction_start_a_new_one(heard, django_capture_on_commit_callbacks):
    for pk in (1, 2):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            announce("orders.order", pk)
    assert heard == [{("orders.order", 1): None}, {("orders.order", 2): None}]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_announces_nothing_and_autocommit_announces_at_once(heard):
    with pytest.raises(RuntimeError), transaction.atomic():
        announce("orders.order", 1)
        raise RuntimeError("refused")
    assert heard == []
    announce("orders.order", 3)
    assert heard == [{("orders.order", 3): None}]


@pytest.mark.django_db
def test_only_the_audit_rows_people_are_told_of_are_announced(heard, django_capture_on_commit_callbacks, account):
    from accounts.services import audit_record

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        entered = audit_record(actor=None, action="order.submit", obj=account, after={"status": "NEW"}, via="test")
        halted = audit_record(actor=None, action="account.halt", obj=account, after={"halted_reason": "x"}, via="t")
    (changes,) = heard
    # An order's entry (every order) costs the publisher no read of its audit row; a halt is a toast.
    assert ("accounts.auditlog", entered.pk) not in changes
    assert ("accounts.auditlog", halted.pk) in changes
