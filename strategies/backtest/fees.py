"""What Interactive Brokers charges for a US stock fill: the fixed and tiered commission schedules.

The figures are IB's published schedule for US stocks and ETFs as of 2026 (interactivebrokers.com,
"Commissions: Stocks, ETFs and Warrants — North America"); check them there before relying on a
backtest's fees, IB changes the pass-through and regulatory figures now and then.

Fixed: USD 0.005 a share, at least USD 1.00 and at most 1% of the trade value an order. Exchange
and clearing fees are included; the regulatory fees on sales (SEC transaction fee, FINRA trading
activity fee) are passed through.

Tiered: a rate a share by the month's volume so far (≤ 300,000 shares USD 0.0035; ≤ 3,000,000
0.0020; ≤ 20,000,000 0.0015; ≤ 100,000,000 0.0010; above 0.0005), at least USD 0.35 and at most
1% of the trade value, plus what IB passes through: the clearing fee (NSCC/DTC, USD 0.00020 a
share), an exchange fee (a market order removes liquidity; USD 0.0030 a share is the usual
NYSE/Nasdaq remove fee, a venue's real fee varies by venue and liquidity) and the FINRA
pass-through fee (0.000565 x the commission). Both schedules pass through, on sales only, the SEC
transaction fee (USD 27.80 per million of sale value) and the FINRA trading activity fee
(USD 0.000166 a share sold, at most USD 8.30 a trade).

Where the cap and the minimum disagree (a tiny order whose 1% is below the minimum) the cap wins,
as IB's own examples show. No Django here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

FIXED_PER_SHARE = 0.005
FIXED_MINIMUM = 1.00
MAX_FRACTION_OF_VALUE = 0.01

# (up to this many shares this month, rate a share); the last tier has no ceiling.
TIERS: tuple[tuple[float, float], ...] = (
    (300_000, 0.0035),
    (3_000_000, 0.0020),
    (20_000_000, 0.0015),
    (100_000_000, 0.0010),
    (math.inf, 0.0005),
)
TIERED_MINIMUM = 0.35
CLEARING_PER_SHARE = 0.00020
EXCHANGE_REMOVE_PER_SHARE = 0.0030
FINRA_PASS_THROUGH_OF_COMMISSION = 0.000565
SEC_FEE_OF_SALE_VALUE = 27.80 / 1_000_000
FINRA_TAF_PER_SHARE_SOLD = 0.000166
FINRA_TAF_MAXIMUM = 8.30

KINDS = ("fixed", "tiered", "none")


class BadFeeModel(ValueError):
    """A fee model the backtester does not know; ``code`` is the stable error code."""

    code = "backtest.bad_fee_model"


def regulatory_on_sale(shares: float, price: float) -> float:
    """The SEC transaction fee and FINRA's trading activity fee on a sale of ``shares`` at ``price``."""
    return shares * price * SEC_FEE_OF_SALE_VALUE + min(shares * FINRA_TAF_PER_SHARE_SOLD, FINRA_TAF_MAXIMUM)


def fixed_commission(shares: float, price: float) -> float:
    """IB's fixed commission of one order of ``shares`` at ``price`` (fees included but the sale's)."""
    commission = max(shares * FIXED_PER_SHARE, FIXED_MINIMUM)
    return min(commission, shares * price * MAX_FRACTION_OF_VALUE)


def tier_rate(month_volume: float) -> float:
    """The tiered rate a share once ``month_volume`` shares have traded this month."""
    for ceiling, rate in TIERS:
        if month_volume < ceiling:
            return rate
    return TIERS[-1][1]


def tiered_commission(shares: float, price: float, month_volume: float = 0.0) -> float:
    """IB's tiered commission of one order (without the pass-through fees), the month's volume before it given.

    The whole order takes the rate of the tier the month's volume is in when it trades.
    """
    commission = max(shares * tier_rate(month_volume), TIERED_MINIMUM)
    return min(commission, shares * price * MAX_FRACTION_OF_VALUE)


@dataclass
class FeeModel:
    """One account's commissions over a backtest: ``kind`` "fixed", "tiered" or "none".

    Keeps the month-to-date volume the tiered schedule needs (months by the fill's UTC calendar month).
    """

    kind: str = "fixed"
    _month: tuple[int, int] | None = field(default=None, repr=False)
    _month_volume: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise BadFeeModel(f"Unknown fee model {self.kind!r}: use one of {', '.join(KINDS)}.")

    def charge(self, shares: float, price: float, *, selling: bool, month: tuple[int, int]) -> float:
        """Everything the fill of ``shares`` at ``price`` costs in commissions and fees (USD, ≥ 0)."""
        if self.kind == "none" or shares <= 0:
            return 0.0
        if self.kind == "fixed":
            total = fixed_commission(shares, price)
        else:
            if month != self._month:
                self._month, self._month_volume = month, 0.0
            commission = tiered_commission(shares, price, self._month_volume)
            self._month_volume += shares
            total = (
                commission
                + shares * (CLEARING_PER_SHARE + EXCHANGE_REMOVE_PER_SHARE)
                + commission * FINRA_PASS_THROUGH_OF_COMMISSION
            )
        if selling:
            total += regulatory_on_sale(shares, price)
        return total
