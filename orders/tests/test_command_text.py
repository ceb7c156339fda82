"""Text bound for a worker command is refused at entry (400 ``text.invalid``) by the decoder's own rule."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.command_text import command_text_check
from accounts.exceptions import CommandTextInvalid
from accounts.models import OutboxMessage
from execution_worker import messages
from orders.models import OrderStatus
from orders.services import instrument_create
from orders.tests.factories import OrderFactory
from orders.tests.helpers import row_counts
from strategies.services import strategy_create

pytestmark = pytest.mark.django_db

BELL = "bell\u0007in reason"


def test_a_cancel_whose_reason_the_worker_would_dead_letter_is_refused_and_changes_nothing(
    as_trader, account, instrument
):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED)
    url = reverse("api-v1:order-cancel", kwargs={"client_order_id": order.client_order_id})
    before = row_counts()

    response = as_trader.post(url, {"reason": BELL}, format="json")

    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["code"], body["field"]) == ("text.invalid", "reason")
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED
    assert row_counts() == before
    assert not OutboxMessage.objects.filter(type="order.cancel").exists()


def test_a_clean_cancel_after_a_refused_one_is_sent(as_trader, account, instrument):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED)
    url = reverse("api-v1:order-cancel", kwargs={"client_order_id": order.client_order_id})
    assert as_trader.post(url, {"reason": BELL}, format="json").status_code == 400

    response = as_trader.post(url, {"reason": "fat finger"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == OrderStatus.CANCEL_REQUESTED
    assert OutboxMessage.objects.filter(type="order.cancel").count() == 1


@pytest.mark.parametrize("oca_group", ["grp\u0007", "gr\u00fcppe", "x" * 65])
def test_an_order_whose_oca_group_the_worker_would_refuse_is_refused(as_trader, account, oca_group):
    body = {"account": account.code, "symbol": "AAPL", "side": "BUY", "quantity": "1", "order_type": "MKT"}
    response = as_trader.post(
        reverse("api-v1:order-list"), {**body, "oca_group": oca_group}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )

    assert response.status_code == 400, response.content
    assert response.json()["code"] in ("text.invalid", "validation_error")
    assert not OutboxMessage.objects.filter(type="order.place").exists()


def test_an_oca_group_with_a_control_character_is_refused_by_the_stable_code(as_trader, account):
    body = {"account": account.code, "symbol": "AAPL", "side": "BUY", "quantity": "1", "order_type": "MKT"}
    response = as_trader.post(
        reverse("api-v1:order-list"), {**body, "oca_group": "grp\u0007"}, format="json", HTTP_IDEMPOTENCY_KEY="k2"
    )

    assert response.status_code == 400, response.content
    assert (response.json()["code"], response.json()["field"]) == ("text.invalid", "oca_group")


def test_a_strategy_name_the_worker_would_refuse_is_refused(admin_user):
    with pytest.raises(CommandTextInvalid) as refused:
        strategy_create(actor=admin_user, name="mean\u0007reversion", via="test")
    assert refused.value.field == "name"


def test_an_instrument_code_the_worker_would_refuse_is_refused(admin_user):
    with pytest.raises(CommandTextInvalid) as refused:
        instrument_create(actor=admin_user, via="test", symbol="\u00c5APL", min_tick=Decimal("0.01"))
    assert refused.value.field == "symbol"


@pytest.mark.parametrize(
    "reason", ["", "fat finger", "tab\tand newline\n", "caf\u00e9 \u2014 ok", BELL, "nul\x00", "del\x7f", "x" * 2001]
)
def test_entry_accepts_a_cancel_reason_exactly_when_the_worker_decodes_it(reason):
    entry = {
        "v": messages.SCHEMA_VERSION,
        "type": "order.cancel",
        "id": str(uuid.uuid4()),
        "ts": str(timezone.now().timestamp() * 1e9).split(".")[0],
        "data": json.dumps({"client_order_id": str(uuid.uuid4()), "reason": reason}),
    }
    try:
        messages.decode(entry)
        worker_accepts = True
    except messages.MessageError as error:
        assert error.code == messages.BAD_FIELD
        worker_accepts = False
    try:
        command_text_check(command="order.cancel", key="reason", value=reason)
        entry_accepts = True
    except CommandTextInvalid:
        entry_accepts = False
    assert entry_accepts == worker_accepts
