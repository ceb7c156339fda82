"""IB's US stock commissions: each schedule's per-share rate, minimum, cap, tiers and the fees passed through."""

from __future__ import annotations

import pytest

from strategies.backtest.fees import (
    BadFeeModel,
    FeeModel,
    fixed_commission,
    regulatory_on_sale,
    tier_rate,
    tiered_commission,
)

MARCH, APRIL = (2026, 3), (2026, 4)


def test_fixed_charges_half_a_cent_a_share():
    # 1,000 shares x $0.005 = $5.00 (above the $1 minimum, below 1% of $50,000).
    assert fixed_commission(1000, 50.0) == pytest.approx(5.00)


def test_fixed_charges_at_least_one_dollar():
    # 100 x $0.005 = $0.50 -> the $1.00 minimum (1% of $5,000 is $50, no cap).
    assert fixed_commission(100, 50.0) == pytest.approx(1.00)


def test_fixed_charges_at_most_one_percent_of_the_trade_value_even_below_the_minimum():
    # 300 x $0.005 = $1.50, but 1% of 300 x $0.20 = $0.60 caps it.
    assert fixed_commission(300, 0.20) == pytest.approx(0.60)
    # 100 x $0.25: the minimum $1.00 is above 1% of $25 = $0.25; the cap wins.
    assert fixed_commission(100, 0.25) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("month_volume", "rate"),
    [
        (0, 0.0035),
        (299_999, 0.0035),
        (300_000, 0.0020),
        (2_999_999, 0.0020),
        (3_000_000, 0.0015),
        (20_000_000, 0.0010),
        (99_999_999, 0.0010),
        (100_000_000, 0.0005),
    ],
)
def test_tiered_rate_follows_the_months_volume(month_volume, rate):
    assert tier_rate(month_volume) == rate


def test_tiered_minimum_and_cap():
    # 50 x $0.0035 = $0.175 -> the $0.35 minimum.
    assert tiered_commission(50, 20.0) == pytest.approx(0.35)
    # 200 x $0.0035 = $0.70, capped at 1% of 200 x $0.10 = $0.20.
    assert tiered_commission(200, 0.10) == pytest.approx(0.20)
    # 1,000 x $0.002 in the second tier = $2.00.
    assert tiered_commission(1000, 50.0, month_volume=500_000) == pytest.approx(2.00)


def test_regulatory_fees_on_a_sale():
    # SEC: $50,000 x 27.80 / 1,000,000 = $1.39; FINRA TAF: 1,000 x $0.000166 = $0.166.
    assert regulatory_on_sale(1000, 50.0) == pytest.approx(1.39 + 0.166)
    # FINRA TAF caps at $8.30 (100,000 x $0.000166 = $16.60); SEC on $100,000 = $2.78.
    assert regulatory_on_sale(100_000, 1.0) == pytest.approx(2.78 + 8.30)


def test_fixed_model_adds_the_regulatory_fees_to_sales_only():
    fees = FeeModel("fixed")
    assert fees.charge(1000, 50.0, selling=False, month=MARCH) == pytest.approx(5.00)
    # $5.00 + $1.39 SEC + $0.166 FINRA TAF = $6.556.
    assert fees.charge(1000, 50.0, selling=True, month=MARCH) == pytest.approx(6.556)


def test_tiered_model_adds_clearing_exchange_and_pass_through_fees():
    fees = FeeModel("tiered")
    # $3.50 commission + 1,000 x ($0.0002 clearing + $0.003 exchange) = $3.20 + $3.50 x 0.000565 = $0.0019775.
    assert fees.charge(1000, 50.0, selling=False, month=MARCH) == pytest.approx(6.7019775)


def test_tiered_model_counts_the_months_shares_and_starts_again_each_month():
    fees = FeeModel("tiered")
    fees.charge(300_000, 10.0, selling=False, month=MARCH)
    # The next 1,000 shares of March are in the second tier: $2.00 + $3.20 + $2.00 x 0.000565.
    assert fees.charge(1000, 50.0, selling=False, month=MARCH) == pytest.approx(2.00 + 3.20 + 0.00113)
    # April starts from no volume: the first tier again.
    assert fees.charge(1000, 50.0, selling=False, month=APRIL) == pytest.approx(6.7019775)


def test_no_fee_model_charges_nothing():
    assert FeeModel("none").charge(1000, 50.0, selling=True, month=MARCH) == 0.0


def test_an_unknown_fee_model_is_refused_with_its_code():
    with pytest.raises(BadFeeModel) as refused:
        FeeModel("flat")
    assert refused.value.code == "backtest.bad_fee_model"
