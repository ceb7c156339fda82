"""placeOrder from templates: the bytes ibapi's placeOrder would write, and TWS reads the orders right."""

from __future__ import annotations

import itertools

from ibapi.order import Order
from ibapi.server_versions import MAX_CLIENT_VER

from execution_worker.broker import make_contract, make_order, open_connection
from execution_worker.messages import ORDER_TYPES
from execution_worker.order_template import OrderTemplates, ibapi_fields
from execution_worker.tests.harness import ACCOUNT, wait_until

CONTRACTS = (
    make_contract("AAPL", "STK", "SMART", "USD"),
    make_contract("BRK B", "STK", "NYSE", "USD"),
    make_contract("ES", "FUT", "GLOBEX", "EUR"),
)


def _orders():
    """Every order type, tif, side, session flag and OCA group, with whole and fractional quantities."""
    shapes = itertools.product(
        ORDER_TYPES, ("DAY", "GTC", "IOC"), ("BUY", "SELL"), (False, True), ("", "oca-1"), ("1", "12.5", "250000")
    )
    for n, (order_type, tif, side, outside_rth, oca_group, quantity) in enumerate(shapes):
        yield make_order(
            client_order_id=f"6f1c2d3e-0000-4000-8000-{n:012d}",
            account=ACCOUNT,
            side=side,
            quantity=quantity,
            order_type=order_type,
            limit_price="187.25" if "LMT" in order_type else None,
            stop_price="0.0001" if "STP" in order_type else None,
            tif=tif,
            outside_rth=outside_rth,
            oca_group=oca_group,
        )


def test_every_order_the_worker_builds_is_written_byte_for_byte_as_ibapi_placeorder_writes_it():
    templates = OrderTemplates(MAX_CLIENT_VER)
    for n, order in enumerate(_orders()):
        for contract in CONTRACTS:
            assert templates.message(1000 + n, contract, order) == "".join(
                ibapi_fields(MAX_CLIENT_VER, 1000 + n, contract, order)
            )


def test_a_server_version_ibapi_cannot_place_the_order_at_gets_no_template():
    # ibapi refuses (error 503, nothing sent) below the version that knows the cash quantity field.
    templates = OrderTemplates(100)
    order = next(_orders())
    assert templates.message(1, CONTRACTS[0], order) is None


def test_an_order_holds_ibapis_defaults_and_shares_no_object_with_another():
    first, second = itertools.islice(_orders(), 2)
    set_by_make_order = {"orderRef", "account", "action", "totalQuantity", "orderType", "lmtPrice", "auxPrice"}
    set_by_make_order |= {"tif", "outsideRth", "ocaGroup", "eTradeOnly", "firmQuoteOnly"}
    fresh = Order()
    assert vars(first).keys() == vars(fresh).keys()
    for name, value in vars(fresh).items():
        if name not in set_by_make_order:
            assert str(getattr(first, name)) == str(value), name
    assert first.conditions is not second.conditions
    assert first.softDollarTier is not second.softDollarTier


class _Handler:
    def __getattr__(self, name):
        return lambda *args: None


def test_orders_placed_from_templates_reach_tws_with_every_field_as_sent(sim):
    connection = open_connection(_Handler(), 1, "127.0.0.1", sim.port, 77, timeout=5.0)
    try:
        assert connection.client.serverVersion() == MAX_CLIENT_VER
        orders = list(itertools.islice(_orders(), 0, None, 37))
        for n, order in enumerate(orders):
            connection.place_order(5000 + n, CONTRACTS[0], order)
        placed = wait_until(
            lambda: (
                [p for p in sim.ledger.snapshot()["place_orders"] if p["client_id"] == 77]
                if len(sim.ledger.snapshot()["place_orders"]) >= len(orders)
                else None
            ),
            10,
            what="every order at TWS",
        )
    finally:
        connection.close()
    by_ref = {p["order_ref"]: p for p in placed}
    assert len(by_ref) == len(orders)
    for n, order in enumerate(orders):
        seen = by_ref[order.orderRef]
        assert seen["order_id"] == 5000 + n
        assert (seen["account"], seen["symbol"], seen["action"], seen["order_type"]) == (
            order.account,
            "AAPL",
            order.action,
            order.orderType,
        )
        assert seen["quantity"] == order.totalQuantity
        assert seen["lmt_price"] == (187.25 if "LMT" in order.orderType else None)
        assert seen["aux_price"] == (0.0001 if "STP" in order.orderType else None)
