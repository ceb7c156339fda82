"""Slippage in ticks or basis points, always against the trader."""

from __future__ import annotations

import pytest

from strategies.backtest.slippage import BadSlippageModel, SlippageModel


def test_ticks_raise_a_buy_and_lower_a_sale():
    model = SlippageModel("ticks", 2, tick_size=0.01)
    assert model.price(100.0, buying=True) == pytest.approx(100.02)
    assert model.price(100.0, buying=False) == pytest.approx(99.98)


def test_basis_points_are_a_fraction_of_the_price():
    # 5 bp of $200 = $0.10.
    model = SlippageModel("bps", 5)
    assert model.price(200.0, buying=True) == pytest.approx(200.10)
    assert model.price(200.0, buying=False) == pytest.approx(199.90)


def test_no_slippage_keeps_the_price():
    assert SlippageModel().price(200.0, buying=True) == 200.0


@pytest.mark.parametrize(("kind", "amount", "tick"), [("pips", 1, 0.01), ("ticks", -1, 0.01), ("ticks", 1, 0)])
def test_a_bad_slippage_model_is_refused_with_its_code(kind, amount, tick):
    with pytest.raises(BadSlippageModel) as refused:
        SlippageModel(kind, amount, tick_size=tick)
    assert refused.value.code == "backtest.bad_slippage_model"
