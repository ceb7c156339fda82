"""Instruments are added, changed and retired only through audited services."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.exceptions import PermissionRequired
from accounts.models import AuditLog, OutboxMessage
from orders.exceptions import InstrumentExists, InstrumentInactive, InstrumentInvalid
from orders.models import Instrument
from orders.services import instrument_create, instrument_update, risk_limit_update
from orders.tests.helpers import submit

pytestmark = pytest.mark.django_db


def test_creating_an_instrument_stores_upper_case_codes_and_an_audit_row(admin_user):
    instrument = instrument_create(
        actor=admin_user, symbol=" msft ", primary_exchange="nasdaq", con_id=272093, min_tick="0.01", via="test"
    )
    instrument.refresh_from_db()
    assert (instrument.symbol, instrument.primary_exchange, instrument.con_id, instrument.min_tick) == (
        "MSFT",
        "NASDAQ",
        272093,
        Decimal("0.01"),
    )
    audit = AuditLog.objects.get()
    assert (audit.action, audit.actor, audit.object_id, audit.account) == (
        "instrument.create",
        admin_user,
        str(instrument.pk),
        None,
    )
    assert audit.after["symbol"] == "MSFT" and audit.after["min_tick"] == "0.01" and audit.after["active"] is True


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"symbol": " "}, "symbol"),
        ({"currency": "US"}, "currency"),
        ({"min_tick": "0"}, "min_tick"),
        ({"min_tick": "cheap"}, "min_tick"),
        ({"multiplier": 0}, "multiplier"),
        ({"con_id": -5}, "con_id"),
        ({"symbol": "X" * 40}, "symbol"),
    ],
)
def test_an_instrument_with_a_bad_field_is_refused_and_leaves_no_rows(admin_user, fields, field):
    with pytest.raises(InstrumentInvalid) as refused:
        instrument_create(actor=admin_user, via="test", **{"symbol": "IBM", **fields})
    assert (refused.value.code, refused.value.field) == ("instrument.invalid", field)
    assert (Instrument.objects.count(), AuditLog.objects.count()) == (0, 0)


def test_the_same_contract_twice_is_refused(admin_user, instrument):
    with pytest.raises(InstrumentExists) as refused:
        instrument_create(actor=admin_user, symbol="aapl", via="test")
    assert refused.value.code == "instrument.exists"
    with pytest.raises(InstrumentExists):
        instrument_create(actor=admin_user, symbol="AAPL2", con_id=instrument.con_id, via="test")
    assert (Instrument.objects.count(), AuditLog.objects.count()) == (1, 0)


def test_a_trader_may_not_add_or_change_instruments(trader, instrument):
    with pytest.raises(PermissionRequired):
        instrument_create(actor=trader, symbol="IBM", via="test")
    with pytest.raises(PermissionRequired):
        instrument_update(instrument=instrument, actor=trader, description="Apple", via="test")
    assert (Instrument.objects.count(), AuditLog.objects.count()) == (1, 0)


def test_updating_an_instrument_audits_the_fields_that_changed(admin_user, instrument):
    instrument_update(instrument=instrument, actor=admin_user, description="Apple Inc.", min_tick="0.0100", via="admin")
    instrument.refresh_from_db()
    assert instrument.description == "Apple Inc."
    audit = AuditLog.objects.get()
    assert (audit.action, audit.via) == ("instrument.update", "admin")
    assert (audit.before, audit.after) == ({"description": ""}, {"description": "Apple Inc."})


def test_the_reference_price_is_not_edited_by_hand(admin_user, instrument):
    with pytest.raises(TypeError):
        instrument_update(instrument=instrument, actor=admin_user, last_price=Decimal("1"), via="test")


def test_a_deactivated_instrument_refuses_new_orders(admin_user, trader, account, instrument):
    instrument_update(instrument=instrument, actor=admin_user, active=False, via="admin")
    audit = AuditLog.objects.get()
    assert (audit.action, audit.before, audit.after) == ("instrument.deactivate", {"active": True}, {"active": False})
    instrument.refresh_from_db()
    with pytest.raises(InstrumentInactive):
        submit(actor=trader, account=account, instrument=instrument)


def test_an_update_clashing_with_another_instrument_changes_nothing(admin_user, instrument):
    other = instrument_create(actor=admin_user, symbol="MSFT", via="test")
    with pytest.raises(InstrumentExists):
        instrument_update(instrument=other, actor=admin_user, symbol="AAPL", description="clash", via="test")
    other.refresh_from_db()
    assert (other.symbol, other.description, AuditLog.objects.count()) == ("MSFT", "", 1)


def test_renaming_an_allowed_instrument_republishes_the_limits_that_name_it(
    admin_user, risk_manager, account, instrument
):
    risk_limit_update(risk_limit=account.risk_limit, actor=risk_manager, allowed_instruments=[instrument], via="test")
    OutboxMessage.objects.all().delete()
    instrument_update(instrument=instrument, actor=admin_user, symbol="AAPL.OLD", via="test")
    published = OutboxMessage.objects.get(type="risk.limits")
    assert (published.stream, published.data["account"], published.data["allowed_symbols"]) == (
        "risk",
        account.code,
        ["AAPL.OLD"],
    )
