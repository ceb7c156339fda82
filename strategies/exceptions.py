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
    """A session's input is malformed; ``field`` names it (equity, version, instrument, resolution, costs, limits)."""

    code = "trading_session.invalid"
    http_status = 400
    default_message = "The trading session is not valid."


class StrategyGraphRefused(ApplicationError):
    """A strategy graph the compiler refuses; ``problems`` lists every problem (code, message, node, port)."""

    code = "graph.refused"
    http_status = 400
    default_message = "The strategy graph has problems; nothing was saved."

    def __init__(self, message: str | None = None, *, problems: list[dict]):
        self.problems = problems
        super().__init__(message, extra={"problems": problems})


class StrategyVersionApproveOwn(ApplicationError):
    code = "strategy.approve_own_version"
    http_status = 403
    default_message = "A version must be approved by a Risk manager other than its author."


class StrategyVersionNotRiskManager(ApplicationError):
    code = "strategy.not_risk_manager"
    http_status = 403
    default_message = "Only a Risk manager may approve a strategy version."


class StrategyVersionAlreadyApproved(ApplicationError):
    code = "strategy.already_approved"
    http_status = 409
    default_message = "This strategy version is already approved."


class TradingSessionNotRunnable(ApplicationError):
    """A session with nothing to run: no pinned strategy version or no instrument (one opened before sessions ran)."""

    code = "trading_session.not_runnable"
    http_status = 409
    default_message = (
        "A session runs a pinned strategy version on one instrument; this one has no version or no instrument."
    )


class TradingSessionVersionNotApproved(ApplicationError):
    """A broker session (orders through the desk) of a version no Risk manager has approved."""

    code = "trading_session.version_not_approved"
    http_status = 409
    default_message = "A broker session needs a strategy version approved by a Risk manager."


class TradingSessionNotRunning(ApplicationError):
    """A decision reached a session that is not a running broker session (paused, stopped, or a forward test)."""

    code = "trading_session.not_running"
    http_status = 409
    default_message = "The trading session is not a running broker session."
