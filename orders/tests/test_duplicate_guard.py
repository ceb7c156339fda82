"""The duplicate guard for people (issue 16 #1): the service rule, the API's 409 and the admin's step.

The Back-then-Save path in Chromium is ``streams/tests/test_browser_duplicate_guard.py``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from accounts.models import AuditLog, Role
from accounts.tests.factories import UserFactory
from orders.exceptions import OrderPossibleDuplicate
from orders.models import Order, OrderStatus
from orders.services import order_submit, risk_limit_update
from orders.tests.helpers import order_body, post_order, row_counts

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def _submit(actor, account, instrument, **more):
    fields = {
        "side": "BUY",
        "quantity": Decimal("7"),
        "order_type": "LMT",
        "limit_price": Decimal("100"),
        "tif": "DAY",
        "source": "admin",
        "via": "admin",
    }
    return order_submit(actor=actor, account=account, instrument=instrument, **{**fields, **more})


def test_the_same_order_again_within_the_window_is_refused_naming_the_earlier_and_writes_nothing(
    trader, account, instrument
):
    with time_machine.travel(T0, tick=False):
        first = _submit(trader, account, instrument)
    before = row_counts()
    with time_machine.travel(T0 + timedelta(seconds=29), tick=False), pytest.raises(OrderPossibleDuplicate) as refused:
        _submit(trader, account, instrument)
    assert refused.value.http_status == 409 and refused.value.code == "order.possible_duplicate"
    assert refused.value.earlier == first
    assert refused.value.extra["earlier_client_order_id"] == str(first.client_order_id)
    assert refused.value.extra["earlier_status"] == OrderStatus.NEW
    assert str(first.client_order_id) in refused.value.message and "29 s ago" in refused.value.message
    assert row_counts() == before


def test_confirming_places_the_second_order_and_audits_it(trader, account, instrument):
    with time_machine.travel(T0, tick=False):
        first = _submit(trader, account, instrument)
        second = _submit(trader, account, instrument, confirm_duplicate=True)
    assert second.pk != first.pk and second.status == OrderStatus.NEW
    audit = AuditLog.objects.get(action="order.duplicate_confirmed")
    assert (audit.actor, audit.object_id) == (trader, str(second.pk))
    assert audit.after["earlier_client_order_id"] == str(first.client_order_id)


def test_after_the_window_or_with_another_field_the_same_person_is_not_asked(trader, account, instrument):
    with time_machine.travel(T0, tick=False):
        _submit(trader, account, instrument)
        _submit(trader, account, instrument, quantity=Decimal("8"))
        _submit(trader, account, instrument, limit_price=Decimal("100.01"))
        _submit(trader, account, instrument, side="SELL")
        _submit(trader, account, instrument, tif="GTC")
    with time_machine.travel(T0 + timedelta(seconds=30), tick=False):
        _submit(trader, account, instrument)
    assert Order.objects.count() == 6


def test_another_person_or_the_desk_itself_is_not_a_duplicate(trader, account, instrument):
    colleague = UserFactory(username="colleague", roles=[Role.TRADER], accounts=[account])
    with time_machine.travel(T0, tick=False):
        _submit(trader, account, instrument)
        _submit(colleague, account, instrument)
        # Scheduled and monitor orders keep their own exactly-once keys (derived client order ids).
        _submit(None, account, instrument, source="scheduler")
        _submit(None, account, instrument, source="scheduler")
        _submit(None, account, instrument, source="monitor")
    assert Order.objects.count() == 5


def test_the_window_is_the_accounts_risk_limit_and_zero_turns_the_guard_off(risk_manager, trader, account, instrument):
    risk_limit_update(risk_limit=account.risk_limit, actor=risk_manager, via="test", duplicate_window_seconds=60)
    with time_machine.travel(T0, tick=False):
        _submit(trader, account, instrument)
    with time_machine.travel(T0 + timedelta(seconds=59), tick=False), pytest.raises(OrderPossibleDuplicate):
        _submit(trader, account, instrument)
    risk_limit_update(risk_limit=account.risk_limit, actor=risk_manager, via="test", duplicate_window_seconds=0)
    with time_machine.travel(T0 + timedelta(seconds=59), tick=False):
        _submit(trader, account, instrument)


# --- the API ----------------------------------------------------------------------------------------


def test_the_api_answers_409_with_the_earlier_order_and_audits_the_refusal(api_client, trader, account, instrument):
    api_client.force_authenticate(trader)
    with time_machine.travel(T0, tick=False):
        first = post_order(api_client, order_body())
        key = str(uuid.uuid4())
        refused = post_order(api_client, order_body(), key=key)

    assert first.status_code == 201
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "order.possible_duplicate"
    assert body["earlier_client_order_id"] == first.json()["client_order_id"]
    assert body["earlier_status"] == "NEW"
    assert Order.objects.count() == 1
    audit = AuditLog.objects.get(action="order.duplicate_refused")
    earlier = Order.objects.get()
    assert (audit.actor, audit.via, audit.object_id) == (trader, "api", str(earlier.pk))
    assert audit.after["attempted"]["quantity"] == "10"

    # The refusal kept no key: the same key with allow_duplicate places the second order.
    with time_machine.travel(T0 + timedelta(seconds=1), tick=False):
        allowed = post_order(api_client, order_body(allow_duplicate=True), key=key)
    assert allowed.status_code == 201
    assert Order.objects.count() == 2
    assert AuditLog.objects.filter(action="order.duplicate_confirmed", actor=trader, via="api").count() == 1


def test_a_retry_with_the_same_idempotency_key_still_replays_the_first_answer(api_client, trader, account, instrument):
    api_client.force_authenticate(trader)
    key = str(uuid.uuid4())
    first = post_order(api_client, order_body(), key=key)
    again = post_order(api_client, order_body(), key=key)
    assert (again.status_code, again["Idempotent-Replayed"]) == (201, "true")
    assert again.json()["client_order_id"] == first.json()["client_order_id"]
    assert not AuditLog.objects.filter(action="order.duplicate_refused").exists()


# --- the admin (the browser test drives the same view in Chromium) ---------------------------------------


def _form(account, instrument) -> dict:
    return {
        "client_order_id": str(uuid.uuid4()),
        "account": account.pk,
        "instrument": instrument.pk,
        "side": "BUY",
        "quantity": "7",
        "order_type": "LMT",
        "limit_price": "100",
        "tif": "DAY",
    }


def test_the_admin_asks_before_placing_the_same_order_again(client, trader, account, instrument):
    client.force_login(trader)
    url = reverse("admin:orders_order_add")
    assert client.post(url, _form(account, instrument)).status_code == 302
    earlier = Order.objects.get()

    form = _form(account, instrument)  # Back, then Save: a new client_order_id
    asked = client.post(url, form)
    assert asked.status_code == 200
    page = asked.content.decode()
    assert 'id="duplicate-confirmation"' in page and str(earlier.client_order_id) in page
    assert "New" in page
    assert Order.objects.count() == 1
    assert AuditLog.objects.filter(action="order.duplicate_refused", actor=trader, via="admin").count() == 1

    confirmed = client.post(url, {**form, "confirm_duplicate": str(earlier.client_order_id)})
    assert confirmed.status_code == 302
    assert Order.objects.count() == 2
    assert AuditLog.objects.filter(action="order.duplicate_confirmed", actor=trader, via="admin").count() == 1


def test_the_add_form_is_never_cached_so_back_asks_the_server_again(client, trader):
    client.force_login(trader)
    response = client.get(reverse("admin:orders_order_add"))
    assert "no-store" in response["Cache-Control"]
