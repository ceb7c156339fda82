"""Refusals of the orders services, each with a stable ``code``.

HTTP statuses: 400 bad input, 403 not allowed, 404 no such order, 409 the order's state
forbids it, 422 a pre-trade risk limit refuses it, 429 too many orders per minute.
Account membership and halts live in ``accounts.exceptions`` (``account.not_member``,
``account.halted``, ``desk.halted``); they are re-exported here for callers' convenience.
"""

from __future__ import annotations

from accounts.exceptions import AccountHalted, AccountNotMember, DeskHalted, PermissionRequired
from tradeconsole.exceptions import ApplicationError

__all__ = [
    "AccountHalted",
    "AccountNotMember",
    "DeskHalted",
    "FillInvalid",
    "InstrumentExists",
    "InstrumentInactive",
    "InstrumentInvalid",
    "InstrumentNotAllowed",
    "InstrumentUnknown",
    "OrderClientIdConflict",
    "OrderInvalid",
    "OrderLimitPriceRequired",
    "OrderModifyEmpty",
    "OrderNotCancellable",
    "OrderNotFound",
    "OrderNotModifiable",
    "OrderNotReducing",
    "OrderParentInvalid",
    "OrderPriceNotAllowed",
    "OrderPriceNotPositive",
    "OrderPriceOffTick",
    "OrderQuantityNotPositive",
    "OrderSessionNotRunning",
    "OrderStopPriceRequired",
    "OrderTifNotModifiable",
    "OrderTransitionRefused",
    "PermissionRequired",
    "PositionFlat",
    "RiskDailyLoss",
    "RiskLimitBreached",
    "RiskLimitInvalid",
    "RiskMaxNotional",
    "RiskMaxPosition",
    "RiskMaxQuantity",
    "RiskNoReferencePrice",
    "RiskPriceCollar",
    "RiskRate",
]


# --- bad input (400) ---------------------------------------------------------------------


class OrderInvalid(ApplicationError):
    """A field has a value outside its choices (side, order type, TIF, source)."""

    code = "order.invalid"
    http_status = 400
    default_message = "The order is not valid."


class OrderQuantityNotPositive(ApplicationError):
    code = "order.quantity_not_positive"
    http_status = 400
    default_message = "The quantity must be greater than zero."


class OrderQuantityIncrement(ApplicationError):
    code = "order.quantity_increment"
    http_status = 400
    default_message = "The quantity is not a whole number of the instrument's quantity increment."


class OrderPossibleDuplicate(ApplicationError):
    """An order identical to one the same person entered on the account moments ago (``orders.services.duplicates``)."""

    code = "order.possible_duplicate"
    http_status = 409
    default_message = "An identical order was entered moments ago; confirm to place a second one."

    def __init__(self, message: str | None = None, *, earlier, attempted: dict | None = None, **kwargs):
        self.earlier = earlier
        self.attempted = attempted or {}
        super().__init__(message, **kwargs)


class OrderPriceNotPositive(ApplicationError):
    code = "order.price_not_positive"
    http_status = 400
    default_message = "A price must be greater than zero."


class OrderPriceOffTick(ApplicationError):
    code = "order.price_off_tick"
    http_status = 400
    default_message = "The price is not a multiple of the instrument's minimum tick."


class OrderLimitPriceRequired(ApplicationError):
    code = "order.limit_price_required"
    http_status = 400
    default_message = "A limit order needs a limit price."


class OrderStopPriceRequired(ApplicationError):
    code = "order.stop_price_required"
    http_status = 400
    default_message = "A stop order needs a stop price."


class OrderPriceNotAllowed(ApplicationError):
    """A price was given that the order type does not use (a limit price on a market order)."""

    code = "order.price_not_allowed"
    http_status = 400
    default_message = "This order type takes no such price."


class OrderParentInvalid(ApplicationError):
    code = "order.parent_invalid"
    http_status = 400
    default_message = "The parent order must be a working order of the same account and instrument."


class OrderBracketInvalid(ApplicationError):
    code = "order.bracket_invalid"
    http_status = 400
    default_message = "The bracket cannot be entered."


class OrderModifyEmpty(ApplicationError):
    code = "order.modify_empty"
    http_status = 400
    default_message = "Nothing to modify: give a quantity, a limit price, a stop price or a time in force."


class InstrumentInvalid(ApplicationError):
    """A field of an instrument is missing or malformed (symbol, currency, tick, multiplier)."""

    code = "instrument.invalid"
    http_status = 400
    default_message = "The instrument is not valid."


class InstrumentExists(ApplicationError):
    """Another instrument already has this symbol, type, exchange and currency, or this contract id."""

    code = "instrument.exists"
    http_status = 409
    default_message = "This instrument already exists."


class InstrumentUnknown(ApplicationError):
    code = "instrument.unknown"
    http_status = 400
    default_message = "No such instrument."


class FillInvalid(ApplicationError):
    code = "fill.invalid"
    http_status = 400
    default_message = "The fill is not valid."


class RiskLimitInvalid(ApplicationError):
    code = "risk_limit.invalid"
    http_status = 400
    default_message = "A risk limit is not valid."


# --- not found / state conflicts ----------------------------------------------------------


class OrderNotFound(ApplicationError):
    code = "order.not_found"
    http_status = 404
    default_message = "No such order."


class OrderNotCancellable(ApplicationError):
    code = "order.not_cancellable"
    http_status = 409
    default_message = "The order can no longer be cancelled."


class OrderNotModifiable(ApplicationError):
    code = "order.not_modifiable"
    http_status = 409
    default_message = "The order can no longer be modified."


class OrderTifNotModifiable(ApplicationError):
    """A working order's TIF moves only between DAY and GTC (see ``order_modify``)."""

    code = "order.tif_not_modifiable"
    http_status = 409
    default_message = (
        "A working order's time in force can only change between DAY and GTC: IOC is given at entry and"
        " a resting order can neither become nor stop being immediate-or-cancel."
    )


class OrderNotReducing(ApplicationError):
    """A reduce-only order (a flatten's) that would open or grow the position, or find none to close."""

    code = "order.not_reducing"
    http_status = 409
    default_message = "The order would not only reduce the position."


class PositionFlat(ApplicationError):
    """A flatten asked of a position that is already flat (or of an account or desk with none open)."""

    code = "position.flat"
    http_status = 409
    default_message = "There is no open position to flatten."


class OrderClientIdConflict(ApplicationError):
    """A ``client_order_id`` already names an order of another account."""

    code = "order.client_order_id_conflict"
    http_status = 409
    default_message = "This client order id already names another order."


class OrderSessionNotRunning(ApplicationError):
    code = "order.session_not_running"
    http_status = 409
    default_message = "The trading session is not running."


class OrderTransitionRefused(ApplicationError):
    code = "order.transition_refused"
    http_status = 409
    default_message = "The order cannot move to that state."


# --- pre-trade risk (422, rate 429) -------------------------------------------------------


class RiskLimitBreached(ApplicationError):
    """Base of every pre-trade risk refusal; ``extra`` carries ``limit`` and ``value``."""

    code = "risk.limit"
    http_status = 422
    default_message = "A risk limit refuses the order."


class InstrumentNotAllowed(RiskLimitBreached):
    code = "instrument.not_allowed"
    default_message = "This instrument is not allowed for the account."


class InstrumentInactive(RiskLimitBreached):
    code = "instrument.inactive"
    default_message = "This instrument is not active."


class RiskMaxQuantity(RiskLimitBreached):
    code = "risk.max_quantity"
    default_message = "The quantity is above the account's maximum order quantity."


class RiskMaxNotional(RiskLimitBreached):
    code = "risk.max_notional"
    default_message = "The order's notional is above the account's maximum."


class RiskNoReferencePrice(RiskLimitBreached):
    """A market order whose notional cannot be estimated because the instrument has no price."""

    code = "risk.no_reference_price"
    default_message = "No reference price is known for this instrument, so the notional limit cannot be checked."


class RiskMaxPosition(RiskLimitBreached):
    code = "risk.max_position"
    default_message = "The order could take the position beyond the account's maximum."


class RiskPriceCollar(RiskLimitBreached):
    code = "risk.price_collar"
    default_message = "The price is too far from the last price."


class RiskDailyLoss(RiskLimitBreached):
    code = "risk.daily_loss"
    default_message = "The account's loss today has reached its daily limit."


class RiskRate(RiskLimitBreached):
    code = "risk.rate"
    http_status = 429
    default_message = "Too many orders in the last minute."


class ScheduledOrderHasRuns(ApplicationError):
    """A schedule that has fired cannot be deleted (its runs keep their history); disable it instead."""

    code = "scheduled_order.has_runs"
    http_status = 409
    default_message = "This schedule has fired already; disable it instead of deleting it."
