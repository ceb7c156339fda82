"""Refusals of baskets (``orders.services.baskets``, ``orders.basket_csv``), each with a stable ``code``.

A refused basket lists every refused line (``lines``: line number, code, detail, field): the
line's own code is ``order_submit``'s (``risk.max_position``…) or the CSV reader's (``basket.csv_*``).
"""

from __future__ import annotations

from tradeconsole.exceptions import ApplicationError


class BasketLineRefused(ApplicationError):
    """One or more lines of a basket were refused; nothing was entered."""

    code = "basket.line_refused"
    http_status = 422
    default_message = "Lines of the basket were refused; no order was entered."


class BasketCsvInvalid(ApplicationError):
    """The CSV upload could not be read into lines (``rows``: each row's problem)."""

    code = "basket.csv_invalid"
    http_status = 400
    default_message = "The CSV file has rows that cannot be read; no order was entered."


class BasketInvalid(ApplicationError):
    """The basket itself is not valid: no lines, too many, a bad id or name."""

    code = "basket.invalid"
    http_status = 400
    default_message = "The basket is not valid."


class BasketClientIdConflict(ApplicationError):
    code = "basket.client_basket_id_conflict"
    http_status = 409
    default_message = "client_basket_id names a basket of another account."


class BasketNotCancellable(ApplicationError):
    code = "basket.not_cancellable"
    http_status = 409
    default_message = "No order of the basket is working; there is nothing to cancel."


__all__ = [
    "BasketClientIdConflict",
    "BasketCsvInvalid",
    "BasketInvalid",
    "BasketLineRefused",
    "BasketNotCancellable",
]
