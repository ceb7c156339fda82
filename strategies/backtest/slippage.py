"""Slippage: how much worse than the quoted price a market fill is, in ticks or basis points. No Django here."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("none", "ticks", "bps")


class BadSlippageModel(ValueError):
    """A slippage model the backtester does not know, or a negative amount; ``code`` is the stable error code."""

    code = "backtest.bad_slippage_model"


@dataclass(frozen=True)
class SlippageModel:
    """``kind`` "ticks" (``amount`` ticks of ``tick_size``), "bps" (``amount`` basis points) or "none".

    Always against the trader: a buy pays more, a sale gets less.
    """

    kind: str = "none"
    amount: float = 0.0
    tick_size: float = 0.01

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise BadSlippageModel(f"Unknown slippage model {self.kind!r}: use one of {', '.join(KINDS)}.")
        if not self.amount >= 0 or not self.tick_size > 0:
            raise BadSlippageModel("Slippage amount must be ≥ 0 and the tick size > 0.")

    def price(self, price: float, *, buying: bool) -> float:
        """The fill price of a market order at ``price``, slipped against the trader."""
        if self.kind == "ticks":
            slip = self.amount * self.tick_size
        elif self.kind == "bps":
            slip = price * self.amount / 10_000
        else:
            return price
        return price + slip if buying else price - slip
