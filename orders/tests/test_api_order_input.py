"""T4: bad input in every field of order entry is a 400 naming the field, never a 500, never an order."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.idempotency import IdempotencyKey
from orders.api.serializers import OrderCreateInput
from orders.models import Order

ORDERS = reverse("api-v1:order-list")
VALID = {
    "account": "DU0000001",
    "symbol": "AAPL",
    "side": "BUY",
    "quantity": "10",
    "order_type": "LMT",
    "limit_price": "100.00",
    "stop_price": None,
    "tif": "DAY",
    "outside_rth": False,
    "oca_group": "",
    "not_before": None,
    "parent": None,
    "trading_session": None,
    "client_order_id": None,
}

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    # NaN and infinities cannot be written as JSON; the raw-body test below sends them as tokens.
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
# Values that are wrong for the field they go in (each strategy avoids the field's valid values).
# Homoglyphs are written as escapes. Surrounding spaces are trimmed by the API, so " AAPL" is a
# valid symbol and is not generated.
BAD = {
    "account": st.one_of(st.sampled_from(["DU0000002", "du0000001", "", "\uff24\uff350000001"]), junk).filter(
        lambda v: not (isinstance(v, str) and v.strip() == "DU0000001")
    ),
    "symbol": st.one_of(st.sampled_from(["\u0391APL", "", "NOPE", "A" * 40]), junk).filter(
        lambda v: not (isinstance(v, str) and v.strip().upper() == "AAPL")
    ),
    "side": st.one_of(st.sampled_from(["buy", "SHORT", "", "B UY"]), junk).filter(lambda v: v not in ("BUY", "SELL")),
    "quantity": st.one_of(
        st.sampled_from(["0", "-1", "NaN", "Infinity", "-Infinity", "1e12", "0.00001", "1e-9", "ten", ""]),
        st.integers(max_value=0),
        st.booleans(),
        st.none(),
    ),
    "order_type": st.one_of(st.sampled_from(["LIMIT", "lmt", "MOC", ""]), junk).filter(
        lambda v: v not in ("MKT", "LMT", "STP", "STP LMT")
    ),
    "limit_price": st.one_of(
        st.sampled_from(["0", "-100", "NaN", "Infinity", "100.001", "1000", "1e30", "abc", ""]),
        st.just(None),
    ),
    "stop_price": st.sampled_from(["NaN", "-1", "abc", "Infinity", "1e30"]),
    "tif": st.one_of(st.sampled_from(["GTD", "day", "", "FOK"]), junk).filter(lambda v: v not in ("DAY", "GTC", "IOC")),
    "outside_rth": st.one_of(st.sampled_from(["maybe", "2", ""]), st.lists(st.booleans(), min_size=1)),
    # Longer than 64 characters even after the API trims surrounding spaces.
    "oca_group": st.text(min_size=65, max_size=80).filter(lambda v: len(v.strip()) > 64),
    "not_before": st.sampled_from(["tomorrow", "2026-13-01T00:00:00Z", "1", ""]),
    "parent": st.sampled_from(["not-a-uuid", str(uuid.uuid4()), "1"]),
    "trading_session": st.one_of(st.integers(max_value=0), st.sampled_from(["one", 999999999])),
    "client_order_id": st.sampled_from(["not-a-uuid", "1234", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"]),
}


@pytest.fixture
def as_trader(api_client, trader, instrument, other_account):
    api_client.force_authenticate(trader)
    return api_client


@pytest.mark.django_db
@pytest.mark.parametrize("field", sorted(BAD))
def test_bad_input_in_any_order_field_is_refused_as_a_field_error(field, as_trader):
    @settings(
        max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(value=BAD[field])
    def check(value):
        body = {**VALID, field: value}
        if field == "stop_price":
            body["order_type"] = "STP LMT"
        response = as_trader.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
        assert response.status_code in (400, 422), (value, response.status_code, response.content)
        assert response["Content-Type"] == "application/problem+json"
        problem = response.json()
        named = set(problem.get("errors", {})) | {problem.get("field")}
        if response.status_code == 400:
            assert field in named or problem["code"].startswith(("order.", "instrument.")), problem
        else:
            # A well-formed but outsized value (1e12 shares, a price far from the last) is a risk refusal.
            assert problem["code"].startswith("risk."), problem
        assert "Traceback" not in response.content.decode()

    check()
    assert not Order.objects.exists()
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999999", "[", "'10'"])
def test_a_body_that_is_not_json_is_a_parse_error(as_trader, token):
    raw = '{"account": "DU0000001", "symbol": "AAPL", "side": "BUY", "order_type": "MKT", "quantity": ' + token + "}"

    response = as_trader.post(ORDERS, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))

    assert response.status_code == 400, response.content
    assert response.json()["code"] in {"parse_error", "validation_error"}
    assert not Order.objects.exists()


def test_each_input_gets_fields_of_its_own_and_the_declared_ones_stay_unbound():
    first, second = OrderCreateInput(data=VALID), OrderCreateInput(data={**VALID, "side": "SIDEWAYS"})

    assert first.is_valid() and not second.is_valid()
    assert first.fields["side"] is not second.fields["side"]
    assert (first.fields["side"].parent, second.fields["side"].parent) == (first, second)
    assert OrderCreateInput._declared_fields["side"].parent is None
    assert list(second.errors) == ["side"]
