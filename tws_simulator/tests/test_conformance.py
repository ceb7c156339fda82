"""Every message the encoder can send, run through ibapi 9.81's own Decoder: all fields consumed, right values."""

from __future__ import annotations

import inspect

import pytest
from ibapi.comm import read_fields
from ibapi.common import UNSET_DOUBLE
from ibapi.decoder import Decoder
from ibapi.wrapper import EWrapper

from tws_simulator import encoder as enc
from tws_simulator.wire import frame, handshake_reply

ORDER = {
    "order_id": 42,
    "client_id": 7,
    "perm_id": 1351823328,
    "con_id": 265598,
    "symbol": "AAPL",
    "exchange": "SMART",
    "currency": "USD",
    "account": "DU0000001",
    "action": "SELL",
    "quantity": 250.0,
    "order_type": "LMT",
    "lmt_price": 190.25,
    "aux_price": None,
    "tif": "GTC",
    "oca_group": "oca-1",
    "order_ref": "tc-0001",
    "parent_id": 0,
    "outside_rth": True,
}
EXECUTION = {
    "exec_id": "0000e215.656d0000.01.01",
    "order_id": 42,
    "client_id": 7,
    "perm_id": 1351823328,
    "con_id": 265598,
    "symbol": "AAPL",
    "exchange": "SMART",
    "venue": "ISLAND",
    "currency": "USD",
    "account": "DU0000001",
    "side": "SLD",
    "shares": 100.0,
    "price": 190.26,
    "cum_qty": 150.0,
    "avg_price": 190.255,
    "order_ref": "tc-0001",
    "time": "20261121 18:01:10 UTC",
    "last_liquidity": 2,
}


class Capture(EWrapper):
    """Records every callback the decoder makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple]] = []

    def __getattribute__(self, name: str):
        attr = object.__getattribute__(self, name)
        if name[0].islower() and name != "calls" and callable(attr) and hasattr(EWrapper, name):

            def record(*args):
                object.__getattribute__(self, "calls").append((name, args))

            return record
        return attr


def decode(message: bytes) -> tuple[list[tuple[str, tuple]], int, int]:
    """Decode one framed message with the 9.81 decoder at 157; return (callbacks, fields sent, fields left)."""
    size = int.from_bytes(message[:4], "big")
    assert size == len(message) - 4
    fields = read_fields(message[4:])
    wrapper = Capture()
    decoder = Decoder(wrapper, 157)
    info = decoder.msgId2handleInfo[int(fields[0])]
    if info.wrapperMeth is not None:
        arity = len(inspect.signature(info.wrapperMeth).parameters) - 1
        assert len(fields) == arity + 2, f"{info.wrapperMeth.__name__}: {len(fields)} fields, arity {arity}"
        decoder.interpret(fields)
        return wrapper.calls, len(fields), 0
    it = iter(fields)
    info.processMeth(decoder, it)
    return wrapper.calls, len(fields), len(list(it))


def only(calls, name):
    matching = [args for n, args in calls if n == name]
    assert len(matching) == 1, calls
    return matching[0]


@pytest.mark.parametrize(
    ("message", "callback", "expected"),
    [
        (enc.next_valid_id(17), "nextValidId", (17,)),
        (enc.managed_accounts(["DU0000001", "DU0000002"]), "managedAccounts", ("DU0000001,DU0000002",)),
        (enc.error(42, 202, "Order Canceled - reason:"), "error", (42, 202, "Order Canceled - reason:")),
        (
            enc.error(-1, 2104, "Market data farm connection is OK:usfarm"),
            "error",
            (-1, 2104, "Market data farm connection is OK:usfarm"),
        ),
        (enc.current_time(1795290645), "currentTime", (1795290645,)),
        (enc.open_order_end(), "openOrderEnd", ()),
        (enc.exec_details_end(9), "execDetailsEnd", (9,)),
        (enc.position_end(), "positionEnd", ()),
        (
            enc.account_summary(3, "DU0000001", "NetLiquidation", "100000.00", "USD"),
            "accountSummary",
            (3, "DU0000001", "NetLiquidation", "100000.00", "USD"),
        ),
        (enc.account_summary_end(3), "accountSummaryEnd", (3,)),
        (enc.tick_size(5, 8, 123400), "tickSize", (5, 8, 123400)),
        (enc.tick_generic(5, 49, 0.0), "tickGeneric", (5, 49, 0.0)),
        (enc.tick_string(5, 45, "1795290645"), "tickString", (5, 45, "1795290645")),
        (enc.tick_snapshot_end(5), "tickSnapshotEnd", (5,)),
        (enc.market_data_type(5, 3), "marketDataType", (5, 3)),
    ],
)
def test_wrapper_signature_messages_carry_exactly_their_arity_and_decode_to_the_right_values(
    message, callback, expected
):
    calls, _, _ = decode(message)
    assert calls == [(callback, expected)]
    for arg, want in zip(calls[0][1], expected, strict=True):
        assert type(arg) is type(want)


def test_handshake_reply_is_exactly_two_fields():
    payload = handshake_reply("20261121 18:01:10 UTC")
    fields = read_fields(payload[4:])
    assert fields == (b"157", b"20261121 18:01:10 UTC")


def test_tick_price_consumes_all_fields_and_implies_the_size_callback():
    calls, sent, left = decode(enc.tick_price(5, 1, 190.01, 300, 1))
    assert (sent, left) == (7, 0)
    name, (req_id, tick_type, price, attrib) = calls[0]
    assert (name, req_id, tick_type, price, attrib.canAutoExecute) == ("tickPrice", 5, 1, 190.01, True)
    assert calls[1] == ("tickSize", (5, 0, 300))


def test_delayed_tick_price_implies_the_delayed_size_type():
    calls, _, _ = decode(enc.tick_price(5, 68, 190.0, 100, 0))
    assert calls[1] == ("tickSize", (5, 71, 100))


def test_order_status_consumes_twelve_fields_with_float_quantities():
    message = enc.order_status(
        order_id=42,
        status="Submitted",
        filled=150,
        remaining=100,
        avg_fill_price=190.255,
        perm_id=1351823328,
        parent_id=0,
        last_fill_price=190.26,
        client_id=7,
    )
    calls, sent, left = decode(message)
    assert (sent, left) == (12, 0)
    assert only(calls, "orderStatus") == (42, "Submitted", 150.0, 100.0, 190.255, 1351823328, 0, 190.26, 7, "", 0.0)


def test_open_order_consumes_exactly_120_fields_and_echoes_the_order():
    calls, sent, left = decode(enc.open_order(ORDER, "Submitted"))
    assert (sent, left) == (120, 0)
    order_id, contract, order, state = only(calls, "openOrder")
    assert order_id == 42
    assert (contract.symbol, contract.secType, contract.exchange, contract.currency, contract.conId) == (
        "AAPL",
        "STK",
        "SMART",
        "USD",
        265598,
    )
    assert (order.action, order.totalQuantity, order.orderType, order.lmtPrice, order.auxPrice) == (
        "SELL",
        250.0,
        "LMT",
        190.25,
        UNSET_DOUBLE,
    )
    assert (order.tif, order.ocaGroup, order.account, order.orderRef, order.clientId, order.permId) == (
        "GTC",
        "oca-1",
        "DU0000001",
        "tc-0001",
        7,
        1351823328,
    )
    assert order.outsideRth is True
    assert order.eTradeOnly is False and order.firmQuoteOnly is False
    assert order.cashQty == UNSET_DOUBLE
    assert state.status == "Submitted"


def test_open_order_of_a_stop_order_carries_the_stop_price():
    stop = dict(ORDER, order_type="STP", lmt_price=None, aux_price=185.5)
    calls, _, left = decode(enc.open_order(stop, "PreSubmitted"))
    _, _, order, state = only(calls, "openOrder")
    assert left == 0
    assert (order.orderType, order.lmtPrice, order.auxPrice, state.status) == (
        "STP",
        UNSET_DOUBLE,
        185.5,
        "PreSubmitted",
    )


def test_exec_details_consumes_31_fields_and_fills_the_execution():
    calls, sent, left = decode(enc.exec_details(req_id=-1, execution=EXECUTION))
    assert (sent, left) == (31, 0)
    req_id, contract, execution = only(calls, "execDetails")
    assert req_id == -1
    assert (contract.symbol, contract.conId, contract.currency) == ("AAPL", 265598, "USD")
    assert (execution.execId, execution.orderId, execution.side, execution.shares, execution.price) == (
        "0000e215.656d0000.01.01",
        42,
        "SLD",
        100.0,
        190.26,
    )
    assert (execution.permId, execution.clientId, execution.cumQty, execution.avgPrice) == (
        1351823328,
        7,
        150.0,
        190.255,
    )
    assert (execution.orderRef, execution.acctNumber, execution.time, execution.lastLiquidity) == (
        "tc-0001",
        "DU0000001",
        "20261121 18:01:10 UTC",
        2,
    )


def test_commission_report_consumes_eight_fields_and_unknown_pnl_is_double_max():
    calls, sent, left = decode(
        enc.commission_report(exec_id="x.y.01.01", commission=1.0, currency="USD", realized_pnl=None)
    )
    assert (sent, left) == (8, 0)
    (report,) = only(calls, "commissionReport")
    assert (report.execId, report.commission, report.currency, report.realizedPNL) == (
        "x.y.01.01",
        1.0,
        "USD",
        UNSET_DOUBLE,
    )
    calls, _, _ = decode(enc.commission_report(exec_id="e", commission=1.25, currency="USD", realized_pnl=-12.5))
    assert only(calls, "commissionReport")[0].realizedPNL == -12.5


def test_position_consumes_sixteen_fields():
    message = enc.position(
        account="DU0000001", con_id=265598, symbol="AAPL", currency="USD", quantity=-300, avg_cost=190.0133
    )
    calls, sent, left = decode(message)
    assert (sent, left) == (16, 0)
    account, contract, quantity, avg_cost = only(calls, "position")
    assert (account, contract.symbol, contract.conId, quantity, avg_cost) == (
        "DU0000001",
        "AAPL",
        265598,
        -300.0,
        190.0133,
    )


@pytest.mark.parametrize(("sent", "reported"), [(None, 3), (0, 3), (1, 1), (2, 2), (3, 3)])
def test_open_order_carries_the_oca_type_and_parent_the_client_sent(sent, reported):
    child = dict(ORDER, parent_id=41) if sent is None else dict(ORDER, parent_id=41, oca_type=sent)
    for message in (enc.open_order(child, "PreSubmitted"), frame(enc._open_order_fields(child, "PreSubmitted"))):
        calls, sent_fields, left = decode(message)
        _, _, order, _ = only(calls, "openOrder")
        assert (sent_fields, left) == (120, 0)
        assert (order.ocaGroup, order.ocaType, order.parentId) == ("oca-1", reported, 41)


def test_text_fields_must_be_plain_ascii():
    with pytest.raises(ValueError):
        enc.error(1, 201, "Order rejected - reason:caf\u00e9")
