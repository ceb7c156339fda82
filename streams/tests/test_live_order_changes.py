"""Order changes that send the worker no command reach the live pages when they commit (their announcements)."""

from __future__ import annotations

import pytest

from orders.models import OrderStatus
from orders.services import order_approval_refuse, order_cancel, risk_limit_update
from orders.tests.helpers import submit
from streams import live
from streams.tests.harness import commit, receive_from_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def approval_limit(account, risk_manager):
    return risk_limit_update(
        risk_limit=account.risk_limit, actor=risk_manager, via="test", approval_above_notional="5000"
    )


def _rows_of(message: dict) -> dict[str, dict]:
    return {row["kind"]: row["ctx"] for row in message["rows"]}


def test_an_order_waiting_for_approval_shows_then_its_cancel_shows(
    redis_client, trader, account, instrument, approval_limit
):
    group = live.account_group(account.pk)
    entered = {}

    def enter():
        entered["order"] = submit(actor=trader, account=account, instrument=instrument, quantity=60)
        commit()

    shown = _rows_of(receive_from_group(group, enter))
    order = entered["order"]
    assert shown["order"]["pk"] == order.pk and shown["order"]["status"] == OrderStatus.PENDING_APPROVAL
    assert shown["account"]["pk"] == account.pk

    def cancel():
        order_cancel(order=order, actor=trader, reason="changed my mind", via="test")
        commit()

    shown = _rows_of(receive_from_group(group, cancel))
    assert shown["order"]["status"] == OrderStatus.CANCELLED and not shown["order"]["working"]


def test_a_refused_approval_shows(redis_client, trader, risk_manager, account, instrument, approval_limit):
    order = submit(actor=trader, account=account, instrument=instrument, quantity=60)
    commit()

    def refuse():
        order_approval_refuse(order=order, actor=risk_manager, reason="too large", via="test")
        commit()

    shown = _rows_of(receive_from_group(live.account_group(account.pk), refuse))
    assert shown["order"]["pk"] == order.pk and shown["order"]["final"]
