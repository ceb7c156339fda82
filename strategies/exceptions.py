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
