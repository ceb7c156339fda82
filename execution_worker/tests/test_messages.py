"""The stream contract: every message round-trips, and decode refuses anything else with a stable code."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution_worker import messages as m

COID = "6f1c2d3e-0000-4000-8000-000000000001"


def _place(**overrides):
    data = {
        "client_order_id": COID,
        "account": "DU0000001",
        "symbol": "AAPL",
        "side": "BUY",
        "quantity": "100",
        "order_type": "LMT",
        "limit_price": "187.25",
    }
    data.update(overrides)
    return {
        "v": "1",
        "type": "order.place",
        "id": str(uuid.uuid4()),
        "ts": "1700000000000000000",
        "data": json.dumps(data),
    }


def _code(fields) -> str:
    with pytest.raises(m.MessageError) as caught:
        m.decode(fields)
    return caught.value.code


SAMPLES = [
    m.OrderPlace(
        client_order_id=COID,
        account="DU0000001",
        symbol="AAPL",
        side="SELL",
        quantity=Decimal("12.5"),
        order_type="STP LMT",
        limit_price=Decimal("99.5"),
        stop_price=Decimal("100"),
        tif="GTC",
        outside_rth=True,
        not_before=1_700_000_000_000_000_000,
        source="scheduler",
        strategy="mean-revert",
    ),
    m.OrderCancel(client_order_id=COID, reason="operator"),
    m.OrderModify(client_order_id=COID, limit_price=Decimal("101.25")),
    m.TradingHalt(account="DU0000001", mode="cancel_all", reason="kill switch"),
    m.TradingHalt(),
    m.TradingResume(account=None),
    m.BrokerRefresh(what=("positions", "executions")),
    m.OrderAccepted(client_order_id=COID, order_id=17, account="DU0000001", perm_id=1351823328),
    m.OrderRejected(client_order_id=COID, code="risk.max_notional", reason="too big"),
    m.OrderStatus(
        client_order_id=COID,
        order_id=17,
        perm_id=5,
        status="Filled",
        filled=Decimal("100"),
        remaining=Decimal("0"),
        avg_fill_price=Decimal("187.2"),
    ),
    m.OrderStatus(
        client_order_id="",
        order_id=0,
        perm_id=9,
        status="Submitted",
        filled=Decimal("0"),
        remaining=Decimal("5"),
        avg_fill_price=Decimal("0"),
        external=True,
        account="DU0000001",
        symbol="MSFT",
        side="BUY",
        quantity=Decimal("5"),
        order_type="LMT",
        limit_price=Decimal("300"),
    ),
    m.OrderFilled(
        client_order_id=COID,
        order_id=17,
        exec_id="0000e215.656d0000.01.01",
        account="DU0000001",
        symbol="AAPL",
        side="BUY",
        quantity=Decimal("40"),
        price=Decimal("187.2"),
        time="2026-11-21T18:01:10Z",
        perm_id=5,
    ),
    m.OrderCommission(exec_id="0000e215.656d0000.01.01", commission=Decimal("1.00"), currency="USD"),
    m.OrderUnknown(client_order_id=COID, order_id=17, reason="socket lost"),
    m.PositionSnapshot(
        account="DU0000001",
        positions=(
            {
                "symbol": "AAPL",
                "con_id": 265598,
                "quantity": Decimal("-10"),
                "avg_cost": Decimal("187.2"),
                "sec_type": "STK",
                "currency": "USD",
            },
        ),
    ),
    m.AccountValues(account="DU0000001", values={"NetLiquidation": "1000000.00"}, currency="USD"),
    m.GatewayStatus(state="reconciling", server_version=157, detail="after reconnect"),
    m.WorkerHeartbeat(
        worker="w1",
        started_at=1,
        in_flight=2,
        pacing_tokens=Decimal("4.5"),
        halted=("*",),
        latency_ms={"p50": 0.4, "p99": 1.2},
    ),
    m.MarketData(symbol="AAPL", bid=Decimal("1.5"), ask=Decimal("1.6"), last_size=Decimal("100")),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda msg: msg.TYPE)
def test_every_message_type_survives_encode_then_decode(message):
    fields = m.encode(message)
    assert set(fields) == {"v", "type", "id", "ts", "data"}
    assert all(isinstance(v, str) for v in fields.values())
    as_bytes = {k.encode(): v.encode() for k, v in fields.items()}
    decoded = m.decode(as_bytes)
    assert type(decoded) is type(message)
    normalised = {
        f: (list(v) if isinstance(v, tuple) else v)
        for f, v in ((name, getattr(message, name)) for name in message.SPEC)
        if v is not None
    }
    again = {
        f: (list(v) if isinstance(v, tuple) else v)
        for f, v in ((name, getattr(decoded, name)) for name in decoded.SPEC)
        if v is not None
    }
    assert again == normalised
    assert (decoded.id, decoded.ts) == (message.id, message.ts)


def test_every_contract_type_has_a_sample():
    assert {s.TYPE for s in SAMPLES} == set(m.MESSAGE_TYPES)


def test_quantities_arrive_as_exact_decimals_from_strings_and_numbers():
    assert m.decode(_place(quantity="0.1")).quantity == Decimal("0.1")
    assert m.decode(_place(quantity=3)).quantity == Decimal(3)
    # A JSON float is parsed as a Decimal, so 0.1 stays 0.1 and never becomes 0.1000000000000000055.
    fields = _place()
    fields["data"] = fields["data"].replace('"100"', "0.1")
    assert m.decode(fields).quantity == Decimal("0.1")


def test_decimals_are_encoded_without_exponent():
    fields = {name: getattr(SAMPLES[0], name) for name in SAMPLES[0].SPEC}
    fields["quantity"] = Decimal("1E+2")
    data = json.loads(m.encode(m.OrderPlace(**fields))["data"])
    assert data["quantity"] == "100"


@pytest.mark.parametrize("quantity", ["0", "-1", "abc", "1e5", "NaN", "", True, None, [1], "1" * 40, "0.0000000000001"])
def test_a_quantity_that_is_not_a_positive_decimal_is_refused_as_a_bad_field(quantity):
    assert _code(_place(quantity=quantity)) == m.BAD_FIELD


def test_a_float_nan_or_infinity_is_refused():
    fields = _place()
    fields["data"] = fields["data"].replace('"100"', "NaN")
    assert _code(fields) == m.BAD_FIELD
    fields["data"] = fields["data"].replace("NaN", "Infinity")
    assert _code(fields) == m.BAD_FIELD


def test_an_unknown_type_is_refused_with_its_own_code():
    fields = _place()
    fields["type"] = "order.teleport"
    assert _code(fields) == m.UNKNOWN_TYPE


def test_a_missing_required_data_key_names_the_field():
    fields = _place()
    data = json.loads(fields["data"])
    del data["account"]
    fields["data"] = json.dumps(data)
    with pytest.raises(m.MessageError) as caught:
        m.decode(fields)
    assert (caught.value.code, caught.value.field) == (m.MISSING_FIELD, "account")
    assert "account" in str(caught.value)


def test_an_unknown_data_key_is_refused_never_ignored():
    assert _code(_place(risk_override=True)) == m.UNKNOWN_FIELD


def test_an_extra_envelope_field_is_refused():
    fields = _place()
    fields["extra"] = "x"
    assert _code(fields) == m.UNKNOWN_FIELD


@pytest.mark.parametrize("missing", ["v", "type", "id", "ts"])
def test_a_missing_envelope_field_is_refused(missing):
    fields = _place()
    del fields[missing]
    assert _code(fields) == m.MISSING_FIELD


def test_a_missing_data_field_is_undecodable():
    fields = _place()
    del fields["data"]
    assert _code(fields) == m.UNDECODABLE


@pytest.mark.parametrize("data", ["{not json", "[1,2]", '"text"', "", "null"])
def test_data_that_is_not_a_json_object_is_undecodable(data):
    fields = _place()
    fields["data"] = data
    assert _code(fields) == m.UNDECODABLE


def test_invalid_utf8_is_undecodable():
    fields = {k.encode(): v.encode() for k, v in _place().items()}
    fields[b"data"] = b"\xff\xfe{}"
    assert _code(fields) == m.UNDECODABLE


def test_a_ten_megabyte_payload_is_refused_as_too_large_before_parsing():
    fields = _place()
    fields["data"] = '{"pad":"' + "x" * (10 * 1024 * 1024) + '"}'
    assert _code(fields) == m.TOO_LARGE
    assert _code({k.encode(): v.encode() for k, v in fields.items()}) == m.TOO_LARGE


def test_another_schema_version_is_refused():
    fields = _place()
    fields["v"] = "2"
    assert _code(fields) == m.UNSUPPORTED_VERSION


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("client_order_id", "not-a-uuid"),
        ("client_order_id", 12),
        ("side", "buy "),
        ("order_type", "MOC"),
        ("tif", "FOK"),
        ("symbol", "ÄAPL"),
        ("symbol", ""),
        ("account", "DU\x001"),
        ("outside_rth", "maybe"),
        ("not_before", -5),
        ("not_before", "soon"),
        ("source", "robot"),
        ("limit_price", "0"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(key, value):
    with pytest.raises(m.MessageError) as caught:
        m.decode(_place(**{key: value}))
    assert caught.value.code == m.BAD_FIELD
    assert caught.value.field == key


def test_a_limit_order_without_a_limit_price_is_missing_a_field():
    fields = _place()
    data = json.loads(fields["data"])
    del data["limit_price"]
    fields["data"] = json.dumps(data)
    assert _code(fields) == m.MISSING_FIELD


def test_a_market_order_with_a_limit_price_is_refused():
    assert _code(_place(order_type="MKT")) == m.BAD_FIELD


def test_a_modify_that_changes_nothing_is_refused():
    fields = m.encode(m.OrderModify(client_order_id=COID, quantity=Decimal(1)))
    fields["data"] = json.dumps({"client_order_id": COID})
    assert _code(fields) == m.MISSING_FIELD


def test_defaults_fill_in_the_optional_place_fields():
    order = m.decode(_place())
    assert (order.sec_type, order.exchange, order.currency, order.tif, order.outside_rth) == (
        "STK",
        "SMART",
        "USD",
        "DAY",
        False,
    )
    assert order.client_order_id == COID and order.not_before is None


def test_a_field_sent_at_its_default_decodes_as_if_left_out_and_a_look_alike_is_still_checked():
    defaults = {"sec_type": "STK", "exchange": "SMART", "tif": "DAY", "outside_rth": False, "oca_group": ""}
    sent, left_out = m.decode(_place(**defaults)), m.decode(_place())
    assert [getattr(sent, k) for k in m.OrderPlace.SPEC] == [getattr(left_out, k) for k in m.OrderPlace.SPEC]
    # Equal to a default but not of its type: parsed (and refused or converted) as before.
    assert _code(_place(outside_rth=0.0)) == m.BAD_FIELD
    assert m.decode(_place(outside_rth=0)).outside_rth is False
    assert m.decode(_place(sec_type="stk")).sec_type == "STK"


def test_client_order_ids_and_symbols_are_normalised():
    order = m.decode(_place(client_order_id=COID.upper(), symbol="aapl"))
    assert order.client_order_id == COID
    assert order.symbol == "AAPL"


def test_stream_names_follow_the_prefix():
    names = m.StreamNames("tcx")
    assert (names.commands, names.events, names.dlq) == ("tcx:commands", "tcx:events", "tcx:dlq")
    assert names.md("AAPL") == "tcx:md:AAPL"
    assert names.risk_limits("DU0000001") == "tcx:risk:limits:DU0000001"
    assert names.worker("orders") == "tcx:worker:orders"


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
_keys = st.sampled_from(sorted({k for cls in m.MESSAGE_TYPES.values() for k in cls.SPEC})) | st.text(max_size=10)


@settings(max_examples=300, deadline=None)
@given(
    type_name=st.sampled_from([*m.MESSAGE_TYPES, "nope", ""]),
    data=st.dictionaries(_keys, _json_values, max_size=8) | _json_values,
    message_id=st.one_of(st.just(COID), st.text(max_size=40)),
    ts=st.one_of(st.just("1"), st.text(max_size=22)),
    as_bytes=st.booleans(),
)
def test_decode_of_arbitrary_entries_never_raises_anything_but_message_error(type_name, data, message_id, ts, as_bytes):
    fields = {"v": "1", "type": type_name, "id": message_id, "ts": ts, "data": json.dumps(data)}
    if as_bytes:
        fields = {k.encode(): v.encode("utf-8", "surrogatepass") for k, v in fields.items()}
    try:
        message = m.decode(fields)
    except m.MessageError as error:
        assert error.code.startswith("message.")
    else:
        # Whatever decodes must encode back to an entry that decodes to the same thing.
        assert m.decode(m.encode(message)) == message


@settings(max_examples=200, deadline=None)
@given(raw=st.dictionaries(st.binary(max_size=8) | st.text(max_size=8), st.binary(max_size=64) | st.text(max_size=64)))
def test_decode_of_arbitrary_field_maps_never_raises_anything_but_message_error(raw):
    try:
        m.decode(raw)
    except m.MessageError:
        pass


def test_text_for_people_may_be_any_unicode_but_fields_sent_to_ib_must_be_ascii():
    cancel = m.encode(m.OrderCancel(client_order_id=COID))
    cancel["data"] = json.dumps({"client_order_id": COID, "reason": "Kunde möchte stornieren, sofort"})
    assert m.decode(cancel).reason.endswith("sofort")
    assert m.decode(_place(strategy="Momentum \u00fcber US")).strategy == "Momentum \u00fcber US"
    assert _code(_place(strategy="bad\x00name")) == m.BAD_FIELD
    assert _code(_place(oca_group="grüppe")) == m.BAD_FIELD


def test_the_command_the_django_side_writes_for_an_order_decodes():
    # The shape orders.services.order_place_data produces: normalised decimal text, absent optionals left out.
    data = {
        "client_order_id": COID,
        "account": "DU0000001",
        "symbol": "AAPL",
        "sec_type": "STK",
        "exchange": "SMART",
        "currency": "USD",
        "side": "BUY",
        "quantity": "100",
        "order_type": "LMT",
        "limit_price": "187.25",
        "tif": "DAY",
        "outside_rth": False,
        "oca_group": "",
        "not_before": 1_795_000_000_123_456_000,
        "source": "admin",
        "strategy": "",
    }
    fields = {"v": "1", "type": "order.place", "id": str(uuid.uuid4()), "ts": "1", "data": json.dumps(data)}
    order = m.decode(fields)
    assert order.limit_price == Decimal("187.25") and order.not_before == 1_795_000_000_123_456_000


def test_a_modify_may_carry_only_a_tif_and_only_one_of_the_desks_tifs():
    assert m.decode(m.encode(m.OrderModify(client_order_id=COID, tif="GTC"))).tif == "GTC"
    fields = m.encode(m.OrderModify(client_order_id=COID, tif="GTC"))
    fields["data"] = json.dumps({"client_order_id": COID, "tif": "FOK"})
    assert _code(fields) == m.BAD_FIELD
