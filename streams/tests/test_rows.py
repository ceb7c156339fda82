"""The live pages' rows: the plain-SQL blotter rows are the ORM-built ones."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders.models import Order, OrderStatus
from orders.tests.factories import OrderFactory
from strategies.tests.factories import TradingSessionFactory
from streams import rows

pytestmark = pytest.mark.django_db


def _orm_rows(**filters) -> list[dict]:
    orders = Order.objects.select_related("account", "instrument", "trading_session__strategy").filter(**filters)
    return [rows.order_row(order) for order in orders.order_by("-created_at", "-pk")]


def test_order_rows_read_by_id_and_by_client_id_equal_the_orm_built_rows(account, instrument):
    session = TradingSessionFactory(account=account)
    plain = OrderFactory(account=account, instrument=instrument)
    market = OrderFactory(
        account=account,
        instrument=instrument,
        order_type="MKT",
        limit_price=None,
        status=OrderStatus.PARTIALLY_FILLED,
        filled_quantity=Decimal("40"),
        average_fill_price=Decimal("101.2345"),
        trading_session=session,
        source="strategy",
    )
    rejected = OrderFactory(
        account=account,
        instrument=instrument,
        order_type="STP",
        limit_price=None,
        stop_price=Decimal("99.50"),
        status=OrderStatus.REJECTED,
        reject_reason="201: no margin",
        side="SELL",
    )
    orders = [plain, market, rejected]

    assert rows.order_rows(pks=[o.pk for o in orders]) == _orm_rows(pk__in=[o.pk for o in orders])
    assert rows.order_rows(client_order_ids=[str(o.client_order_id) for o in orders]) == _orm_rows(
        pk__in=[o.pk for o in orders]
    )
    assert rows.order_rows(pks=[market.pk])[0]["ctx"]["strategy"] == session.strategy.name
    assert rows.order_row_by_id(rejected.pk) == rows.order_row(rejected)


def test_order_rows_of_nothing_or_of_unknown_orders_are_empty():
    assert rows.order_rows() == []
    assert rows.order_rows(pks=[987654]) == []
    assert rows.order_row_by_id(987654) is None
