"""FIFO position keeping: long, short, through zero, partial closes; incremental equals replay."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders.pnl import Lot, apply_fill, average_cost, fifo_replay, net_quantity, unrealized

D = Decimal


def fill(side, quantity, price):
    return {"side": side, "quantity": D(quantity), "price": D(price)}


def test_a_long_position_closed_at_a_higher_price_realizes_the_gain():
    lots, realized = fifo_replay([fill("BUY", 100, "10.00"), fill("SELL", 100, "12.50")])
    assert lots == []
    assert realized == D("250.00")


def test_a_short_position_covered_at_a_higher_price_realizes_a_loss():
    lots, realized = fifo_replay([fill("SELL", 50, "20"), fill("BUY", 50, "21")])
    assert lots == []
    assert realized == D("-50")


def test_a_partial_close_takes_the_oldest_lot_first():
    lots, realized = fifo_replay([fill("BUY", 100, "10"), fill("BUY", 100, "11"), fill("SELL", 150, "12")])
    # 100 from the lot at 10 (+200) and 50 from the lot at 11 (+50).
    assert realized == D("250")
    assert [(lot.quantity, lot.price) for lot in lots] == [(D("50"), D("11"))]
    assert average_cost(lots) == D("11")


def test_a_sale_larger_than_the_long_position_goes_short_through_zero():
    lots, realized = fifo_replay([fill("BUY", 100, "10"), fill("SELL", 130, "9")])
    assert realized == D("-100")
    assert [(lot.quantity, lot.price) for lot in lots] == [(D("-30"), D("9"))]
    assert net_quantity(lots) == D("-30")


def test_a_purchase_larger_than_the_short_position_goes_long_through_zero():
    lots, realized = fifo_replay([fill("SELL", 10, "50"), fill("SELL", 10, "52"), fill("BUY", 25, "51")])
    # Cover 10 shorted at 50 (-10) and 10 at 52 (+10); 5 left open long at 51.
    assert realized == D("0")
    assert [(lot.quantity, lot.price) for lot in lots] == [(D("5"), D("51"))]


def test_the_multiplier_scales_realized_and_unrealized_pnl():
    lots, realized = fifo_replay([fill("BUY", 2, "100"), fill("SELL", 1, "101")], multiplier=100)
    assert realized == D("100")
    assert unrealized(lots, D("99"), multiplier=100) == D("-100")


def test_unrealized_pnl_of_long_and_short_lots():
    assert unrealized([Lot(D("10"), D("100"))], D("105")) == D("50")
    assert unrealized([Lot(D("-10"), D("100"))], D("105")) == D("-50")
    assert unrealized([Lot(D("10"), D("100"))], None) == 0


def test_apply_fill_leaves_its_input_alone():
    lots = [Lot(D("10"), D("100"))]
    apply_fill(lots, side="SELL", quantity=D("4"), price=D("101"))
    assert lots == [Lot(D("10"), D("100"))]


@pytest.mark.parametrize(("side", "quantity"), [("BUY", "0"), ("SELL", "-1"), ("HOLD", "1")])
def test_a_bad_side_or_quantity_is_refused(side, quantity):
    with pytest.raises(ValueError):
        apply_fill([], side=side, quantity=D(quantity), price=D("1"))


fills = st.lists(
    st.builds(
        fill,
        st.sampled_from(["BUY", "SELL"]),
        st.integers(min_value=1, max_value=500),
        st.decimals(min_value=D("0.01"), max_value=D("999.99"), places=2),
    ),
    max_size=40,
)


@given(fills)
def test_incremental_fifo_equals_a_full_replay(sequence):
    lots, realized_total = [], D("0")
    for item in sequence:
        # Round-trip through plain lots as the database stores them.
        stored = [Lot(lot.quantity, lot.price) for lot in lots]
        lots, realized = apply_fill(stored, side=item["side"], quantity=item["quantity"], price=item["price"])
        realized_total += realized
    replay_lots, replay_realized = fifo_replay(sequence)
    assert realized_total == replay_realized
    assert [(lot.quantity, lot.price) for lot in lots] == [(lot.quantity, lot.price) for lot in replay_lots]
    signed = sum((item["quantity"] if item["side"] == "BUY" else -item["quantity"] for item in sequence), D("0"))
    assert net_quantity(lots) == signed
    # All lots of an open position share one sign.
    assert len({lot.quantity > 0 for lot in lots}) <= 1


@given(fills, st.decimals(min_value=D("0.01"), max_value=D("999.99"), places=2))
def test_closing_everything_at_a_price_realizes_exactly_the_unrealized_pnl(sequence, price):
    lots, realized = fifo_replay(sequence)
    open_quantity = net_quantity(lots)
    expected = realized + unrealized(lots, price)
    if open_quantity:
        side = "SELL" if open_quantity > 0 else "BUY"
        lots, realized = fifo_replay([*sequence, fill(side, abs(open_quantity), price)])
    assert lots == []
    assert realized == expected
