"""The bridge hands the order's terms an ``order.status`` carries to the services: a price or TIF modify is
confirmed when they show it, and the blotter row's pending badge goes."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from execution_worker import messages as m
from orders.services import order_modify
from streams import relay, rows
from streams.tests.harness import drain, xadd

pytestmark = pytest.mark.django_db


def status(order, **terms):
    return m.OrderStatus(
        client_order_id=str(order.client_order_id),
        order_id=7,
        perm_id=900001,
        status="Submitted",
        filled=Decimal(0),
        remaining=Decimal(10),
        avg_fill_price=Decimal(0),
        quantity=Decimal(10),
        order_type="LMT",
        **terms,
    )


def test_a_status_showing_the_asked_price_and_tif_confirms_the_modify(redis_client, bridge, submit, trader):
    order = submit()
    relay.publish_pending()
    xadd(redis_client, status(order, limit_price=Decimal("100"), tif="DAY"))
    drain(bridge)
    order_modify(order=order, actor=trader, limit_price="100.25", tif="GTC", via="test")
    assert rows.order_row_by_id(order.pk)["ctx"]["modify_pending_text"] == "limit 100 → 100.25, TIF DAY → GTC"

    old = status(order, limit_price=Decimal("100"), tif="DAY")
    xadd(redis_client, old)
    drain(bridge)
    assert rows.order_row_by_id(order.pk)["ctx"]["modify_pending"] is True

    xadd(redis_client, dataclasses.replace(old, id=m.new_id(), limit_price=Decimal("100.25"), tif="GTC"))
    drain(bridge)
    order.refresh_from_db()
    assert (order.limit_price, order.tif, order.modify_prior, order.modify_requested_at) == (
        Decimal("100.25"),
        "GTC",
        {},
        None,
    )
    assert rows.order_row_by_id(order.pk)["ctx"]["modify_pending"] is False
