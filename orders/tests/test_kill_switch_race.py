"""Order entry and the kill switch under concurrency: the shared lock on the switch closes the race.

Each test runs the two sides in threads on their own connections and watches PostgreSQL's
``pg_stat_activity`` to know, rather than guess by sleeping, that one side waits on the other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from accounts.exceptions import DeskHalted
from accounts.models import OutboxMessage, Role
from accounts.selectors import kill_switch_get
from accounts.services import kill_switch_engage
from accounts.tests.factories import UserFactory
from orders.models import Order
from orders.tests.helpers import submit

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 10  # seconds; every wait below is bounded by it


@pytest.fixture(autouse=True)
def released_switch(db):
    """The switch row exists, released, as on any desk that has used the switch once."""
    return kill_switch_get()


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Start ``work`` in a thread with its own connection; its result or error lands in the dict."""
    outcome: dict[str, Any] = {}

    def body() -> None:
        try:
            outcome["result"] = work()
        except Exception as error:  # asserted on by the test
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, outcome


def wait_until_blocked(*fragments: str) -> bool:
    """Return True once a session of this database waits on a lock in a query holding ``fragments``."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT query FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if any(all(fragment in query for fragment in fragments) for (query,) in cursor.fetchall()):
                return True
        time.sleep(0.02)
    return False


def join(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.join(timeout=WAIT)
    assert not any(thread.is_alive() for thread in threads)


def test_an_order_entered_while_an_engage_commits_waits_for_it_and_is_refused(
    trader, risk_manager, account, instrument
):
    engaged, release = threading.Event(), threading.Event()

    def engage_and_hold() -> None:
        with transaction.atomic():
            kill_switch_engage(actor=risk_manager, reason="Runaway", via="test")
            engaged.set()
            release.wait(WAIT)

    engage_thread, _ = in_thread(engage_and_hold)
    try:
        assert engaged.wait(WAIT)
        submit_thread, entry = in_thread(lambda: submit(actor=trader, account=account, instrument=instrument))
        # The entry started before the engage committed: it must be waiting on the switch, not past it.
        blocked = wait_until_blocked("accounts_killswitch", "FOR SHARE")
    finally:
        release.set()
    join(engage_thread, submit_thread)
    assert blocked
    assert isinstance(entry.get("error"), DeskHalted)
    assert not Order.objects.exists()
    assert list(OutboxMessage.objects.values_list("type", flat=True)) == ["trading.halt"]


def test_an_engage_waits_for_an_order_entry_in_progress_and_its_cancel_follows_the_order(
    trader, risk_manager, account, instrument
):
    entered, release = threading.Event(), threading.Event()

    def enter_and_hold() -> Order:
        with transaction.atomic():
            order = submit(actor=trader, account=account, instrument=instrument)
            entered.set()
            release.wait(WAIT)
        return order

    submit_thread, entry = in_thread(enter_and_hold)
    try:
        assert entered.wait(WAIT)
        engage_thread, engage = in_thread(lambda: kill_switch_engage(actor=risk_manager, reason="Runaway", via="test"))
        blocked = wait_until_blocked("accounts_killswitch", "FOR UPDATE")
    finally:
        release.set()
    join(submit_thread, engage_thread)
    assert blocked
    assert "error" not in entry and "error" not in engage
    assert Order.objects.get().pk == entry["result"].pk
    # The worker reads the order before the engage's cancel_all, so the cancel covers it.
    commands = list(OutboxMessage.objects.order_by("id").values_list("type", "data"))
    assert [kind for kind, _ in commands] == ["order.place", "trading.halt"]
    assert commands[1][1] == {"mode": "cancel_all"}


def test_order_entries_on_two_accounts_share_the_kill_switch_lock_without_waiting(account, other_account, instrument):
    trader = UserFactory(username="two-desks", roles=[Role.TRADER], accounts=[account, other_account])
    entered, release = threading.Event(), threading.Event()

    def enter_and_hold() -> Order:
        with transaction.atomic():
            order = submit(actor=trader, account=account, instrument=instrument)
            entered.set()
            release.wait(WAIT)
        return order

    first_thread, first = in_thread(enter_and_hold)
    try:
        assert entered.wait(WAIT)
        second_thread, second = in_thread(lambda: submit(actor=trader, account=other_account, instrument=instrument))
        second_thread.join(timeout=WAIT)
        # Finished while the first entry still holds its lock on the switch.
        second_done_first = not second_thread.is_alive() and first_thread.is_alive()
    finally:
        release.set()
    join(first_thread, second_thread)
    assert second_done_first
    assert "error" not in first and "error" not in second
    assert Order.objects.count() == 2
