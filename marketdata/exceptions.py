"""Refusals of the market-data reads and services, each with a stable ``code``.

An unknown symbol is ``marketdata.lookups.UnknownSymbol`` wherever it is found out (the desk's
instruments or the broker's contracts).

The datafeed answers every one of them as UDF does (HTTP 400, ``{"s": "error", "errmsg", "code"}``);
the watchlist API answers them as every other endpoint does (problem+json with the same ``code``).
"""

from __future__ import annotations

from marketdata.resolutions import BadResolution
from tradeconsole.exceptions import ApplicationError


class MarketDataRefused(ApplicationError):
    """The base of every market-data refusal."""

    code = "marketdata.refused"


class ParameterMissing(MarketDataRefused):
    code = "marketdata.missing_parameter"
    default_message = "A required parameter is missing."


class ParameterInvalid(MarketDataRefused):
    code = "marketdata.bad_parameter"
    default_message = "A parameter is not valid."


class ResolutionInvalid(MarketDataRefused):
    code = BadResolution.code
    default_message = "Unknown resolution: use one of 1, 5, 15, 60, 1D."


class RangeInvalid(MarketDataRefused):
    code = "marketdata.bad_range"
    default_message = "The time range is not valid: from must be before to, both epoch seconds."


class RangeTooLong(MarketDataRefused):
    code = "marketdata.range_too_long"
    default_message = "The time range is longer than this resolution allows."


class CountbackInvalid(MarketDataRefused):
    code = "marketdata.bad_countback"
    default_message = "countback is a whole number of bars within the limit."


class TooManySymbols(MarketDataRefused):
    code = "marketdata.too_many_symbols"
    default_message = "Too many symbols in one request."


class WatchlistSymbolAbsent(MarketDataRefused):
    code = "marketdata.not_on_watchlist"
    http_status = 404
    default_message = "That symbol is not on your watchlist."


class WatchlistFull(MarketDataRefused):
    code = "marketdata.watchlist_full"
    http_status = 409
    default_message = "Your watchlist is full; remove a symbol first."


class WatchlistOrderInvalid(MarketDataRefused):
    code = "marketdata.bad_watchlist_order"
    default_message = "A new order of the watchlist names each of its symbols exactly once."
