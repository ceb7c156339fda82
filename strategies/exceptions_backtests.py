"""Refusals of the backtest services."""

from __future__ import annotations

from tradeconsole.exceptions import ApplicationError


class BacktestInvalid(ApplicationError):
    """A backtest request's field is missing or malformed; ``field`` names it."""

    code = "backtest.invalid"
    http_status = 400
    default_message = "The backtest request is not valid."


class BacktestNotCancellable(ApplicationError):
    code = "backtest.not_cancellable"
    http_status = 409
    default_message = "The backtest has already finished."
