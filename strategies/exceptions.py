"""Refusals of the strategies services."""

from __future__ import annotations

from tradeconsole.exceptions import ApplicationError


class TradingSessionTransitionRefused(ApplicationError):
    code = "trading_session.transition_refused"
    http_status = 409
    default_message = "The trading session cannot do that in its current state."


class StrategyDisabled(ApplicationError):
    code = "strategy.disabled"
    http_status = 409
    default_message = "The strategy is disabled."


class StrategyNotAllowedOnAccount(ApplicationError):
    code = "strategy.account_not_allowed"
    http_status = 403
    default_message = "The strategy may not trade this account."


class StrategyInvalid(ApplicationError):
    """A field of a strategy is missing or malformed (an empty name, parameters not a JSON object)."""

    code = "strategy.invalid"
    http_status = 400
    default_message = "The strategy is not valid."


class StrategyNameTaken(ApplicationError):
    code = "strategy.name_taken"
    http_status = 409
    default_message = "A strategy with this name already exists."


class TradingSessionInvalid(ApplicationError):
    """A new session's input is malformed (a negative or non-numeric starting equity)."""

    code = "trading_session.invalid"
    http_status = 400
    default_message = "The trading session is not valid."
