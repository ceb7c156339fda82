"""The envelope's optional ``cid``: the correlation id of the log lines travels with a message, or not at all."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest

from execution_worker import messages as m

COID = "6f1c2d3e-0000-4000-8000-000000000001"


def _place_fields(**extra: str) -> dict[str, str]:
    data = {"client_order_id": COID, "account": "DU0000001", "symbol": "AAPL", "side": "BUY", "quantity": "5"}
    return {"v": "1", "type": "order.place", "id": str(uuid.uuid4()), "ts": "1700000000000000000",
            "data": json.dumps(data), **extra}  # fmt: skip


def test_a_message_with_a_cid_round_trips_in_a_sixth_field():
    message = m.OrderPlace(
        client_order_id=COID, account="DU0000001", symbol="AAPL", side="BUY", quantity=Decimal(5), cid="req-7f3a"
    )
    fields = m.encode(message)
    assert fields["cid"] == "req-7f3a"
    assert sorted(fields) == ["cid", "data", "id", "ts", "type", "v"]
    as_bytes = {key.encode(): value.encode() for key, value in fields.items()}
    assert m.decode(as_bytes) == message


def test_a_message_without_a_cid_keeps_the_five_fields_and_decodes_with_none():
    message = m.OrderCancel(client_order_id=COID, reason="operator")
    fields = m.encode(message)
    assert "cid" not in fields
    assert m.decode(fields).cid == ""
    assert m.decode(_place_fields()).cid == ""


def test_an_events_cid_is_read_like_a_commands():
    event = m.decode(m.encode(m.OrderAccepted(client_order_id=COID, order_id=7, account="DU0000001", cid="abc")))
    assert (type(event), event.cid) == (m.OrderAccepted, "abc")


@pytest.mark.parametrize("cid", ["", "a b", "x" * 65, "é"])
def test_a_malformed_cid_is_a_bad_field(cid):
    with pytest.raises(m.MessageError) as caught:
        m.decode(_place_fields(cid=cid))
    assert (caught.value.code, caught.value.field) == (m.BAD_FIELD, "cid")


def test_a_field_beside_the_cid_is_still_refused():
    with pytest.raises(m.MessageError) as caught:
        m.decode(_place_fields(cid="abc", extra="x"))
    assert caught.value.code == m.UNKNOWN_FIELD
    with pytest.raises(m.MessageError) as caught:
        m.decode(_place_fields(extra="x"))
    assert caught.value.code == m.UNKNOWN_FIELD and "extra" in str(caught.value)
