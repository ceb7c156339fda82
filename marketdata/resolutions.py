"""The bar resolutions the desk keeps, named as TradingView's UDF datafeed names them.

No Django here: the bar builder, the window reader and the strategy engine share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


class BadResolution(ValueError):
    """A resolution the desk does not keep; ``code`` is the stable error code."""

    code = "marketdata.bad_resolution"


@dataclass(frozen=True, slots=True)
class Resolution:
    """One bar size: ``code`` as UDF writes it ("1", "5", "15", "60", "1D"), its length, and IB's name."""

    code: str
    seconds: int
    label: str
    ib_bar_size: str

    @property
    def length(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    @property
    def daily(self) -> bool:
        """A daily bar spans the exchange's session, not a fixed clock interval."""
        return self.seconds >= 86_400


ONE_MINUTE = Resolution("1", 60, "1 minute", "1 min")
FIVE_MINUTES = Resolution("5", 300, "5 minutes", "5 mins")
FIFTEEN_MINUTES = Resolution("15", 900, "15 minutes", "15 mins")
ONE_HOUR = Resolution("60", 3600, "1 hour", "1 hour")
ONE_DAY = Resolution("1D", 86_400, "1 day", "1 day")

ALL: tuple[Resolution, ...] = (ONE_MINUTE, FIVE_MINUTES, FIFTEEN_MINUTES, ONE_HOUR, ONE_DAY)
BY_CODE: dict[str, Resolution] = {r.code: r for r in ALL}
# Spellings clients send for the same sizes (UDF accepts "D" and "1D"; some send "60" as "1H").
_ALIASES = {"D": "1D", "1H": "60", "1M": "1", "5M": "5", "15M": "15"}
CHOICES: list[tuple[str, str]] = [(r.code, r.label) for r in ALL]


def parse(value: object) -> Resolution:
    """The resolution named by ``value`` ("1", "5", "15", "60", "1D", or an alias such as "D").

    Raises ``BadResolution`` for anything else.
    """
    text = str(value).strip().upper() if value is not None else ""
    code = _ALIASES.get(text, text)
    try:
        return BY_CODE[code]
    except KeyError:
        raise BadResolution(f"Unknown resolution {value!r}: use one of {', '.join(r.code for r in ALL)}.") from None
