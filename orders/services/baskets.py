"""Baskets: a list of orders checked all or nothing, entered as one and cancellable together.

Every line passes ``order_submit``'s own checks (``order_entry_check``: fields, permissions,
halts, risk limits, the duplicate guard) and is written (``order_entry_write``) before the next
is checked, in one transaction: the next line's position, working quantity and rate counts see
the lines before it, so two lines that each fit a limit but not together are refused. A refused
line does not stop the checking; once every line is checked, one refusal names them all and the
transaction is rolled back: nothing is entered. ``basket_check`` runs the same path and always
rolls back: the preview a person confirms is the answer the desk would give.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import BrokerAccount, User
from accounts.services import account_lock, audit_record, require_actor
from orders import risk
from orders.exceptions_baskets import (
    BasketClientIdConflict,
    BasketInvalid,
    BasketLineRefused,
    BasketNotCancellable,
)
from orders.models import Basket, Order, OrderSource, OrderType, TimeInForce
from orders.services.amend import order_cancel
from orders.services.common import account_resolve
from orders.services.entry import order_entry_check, order_entry_write
from orders.transitions import CANCELLABLE_STATUSES
from tradeconsole.exceptions import ApplicationError

MAX_LINES = 500
CENT = Decimal("0.01")
LINE_FIELDS = ("symbol", "side", "quantity", "order_type", "limit_price", "stop_price", "tif")


@dataclass
class BasketLine:
    """One line's answer: entered (``status``, ``notional``) or refused (``code``, ``detail``, ``field``)."""

    number: int
    values: dict[str, Any]
    status: str = ""
    notional: Decimal | None = None
    code: str = ""
    detail: str = ""
    field: str = ""

    @property
    def ok(self) -> bool:
        return not self.code

    def refusal(self) -> dict[str, Any]:
        return {"line": self.number, "code": self.code, "detail": self.detail, "field": self.field}


@dataclass
class BasketCheck:
    """Every line of a basket with its answer, and the notional of those that pass."""

    lines: list[BasketLine] = field(default_factory=list)

    @property
    def refused(self) -> list[BasketLine]:
        return [line for line in self.lines if not line.ok]

    @property
    def ok(self) -> bool:
        return bool(self.lines) and not self.refused

    @property
    def notional(self) -> Decimal:
        return sum((line.notional or Decimal("0") for line in self.lines), Decimal("0"))


@dataclass
class BasketCancelOutcome:
    """What ``basket_cancel`` did: the orders it cancelled (or asked the broker to) and those refused."""

    basket: Basket
    cancelled: list[Order] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)


def _line(line: Mapping[str, Any]) -> dict[str, Any]:
    """The line's fields, with the defaults: a limit order when it has a limit price, else market; DAY."""
    values = {key: line.get(key) for key in LINE_FIELDS}
    values["order_type"] = values["order_type"] or (OrderType.LIMIT if values["limit_price"] else OrderType.MARKET)
    values["tif"] = values["tif"] or TimeInForce.DAY
    return values


def _lines(lines: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    found = [_line(line) for line in lines]
    if not found:
        raise BasketInvalid("The basket has no lines.", field="lines")
    if len(found) > MAX_LINES:
        raise BasketInvalid(f"A basket holds at most {MAX_LINES} lines; this one has {len(found)}.", field="lines")
    return found


def _client_basket_id(value: uuid.UUID | str | None) -> uuid.UUID:
    if value in (None, ""):
        return uuid.uuid4()
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BasketInvalid("client_basket_id is not a UUID.", field="client_basket_id")


def _enter_lines(
    *,
    actor: User | None,
    account: BrokerAccount,
    lines: list[dict[str, Any]],
    basket: Basket | None,
    source: str,
    confirm_duplicate: bool,
    via: str,
) -> BasketCheck:
    """Check and write each line in turn (the caller's transaction), collecting every refusal."""
    check = BasketCheck()
    for number, line in enumerate(lines, start=1):
        answer = BasketLine(number=number, values=line)
        check.lines.append(answer)
        try:
            values = order_entry_check(
                actor=actor,
                account=account,
                instrument=line["symbol"] or "",
                side=line["side"] or "",
                quantity=line["quantity"],
                order_type=line["order_type"],
                limit_price=line["limit_price"],
                stop_price=line["stop_price"],
                tif=line["tif"],
                source=source,
                confirm_duplicate=confirm_duplicate,
            )
        except ApplicationError as refusal:
            # Raised before anything of this line was written: the transaction stays usable.
            answer.code, answer.detail, answer.field = refusal.code, refusal.message, refusal.field or ""
            continue
        instrument = values["instrument"]
        price = risk.reference_price(
            limit_price=values["limit_price"], stop_price=values["stop_price"], instrument=instrument
        )
        if price is not None:
            answer.notional = (values["quantity"] * price * instrument.multiplier).quantize(CENT)
        answer.status = values["status"]
        values["basket"] = basket
        # A preview (no basket) is rolled back: no command queued, not even for the log to mention.
        order_entry_write(values, actor=actor, via=via, enqueue=basket is not None)
    return check


def basket_check(
    *,
    actor: User | None,
    account: BrokerAccount | str,
    lines: Iterable[Mapping[str, Any]],
    source: str = OrderSource.ADMIN,
    confirm_duplicate: bool = False,
) -> BasketCheck:
    """Answer, line by line, what ``basket_submit`` would: entered (with its notional) or refused.

    Runs ``basket_submit``'s path in a savepoint it always rolls back: nothing is kept, nothing
    is announced. Each line's answer counts the lines before it (position, rate).

    :raises OrderInvalid: no such account.
    :raises AccountNotMember, PermissionRequired: the actor may not enter orders on the account.
    :raises BasketInvalid: no lines, or more than ``MAX_LINES``.
    """
    account = account_resolve(account)
    require_actor(actor, account=account, perm="orders.add_order")
    lines = _lines(lines)
    with transaction.atomic():
        check = _enter_lines(
            actor=actor,
            account=account,
            lines=lines,
            basket=None,
            source=source,
            confirm_duplicate=confirm_duplicate,
            via="preview",
        )
        transaction.set_rollback(True)
    return check


def basket_submit(
    *,
    actor: User | None,
    account: BrokerAccount | str,
    lines: Iterable[Mapping[str, Any]],
    name: str = "",
    client_basket_id: uuid.UUID | str | None = None,
    source: str = OrderSource.ADMIN,
    confirm_duplicate: bool = False,
    via: str,
) -> Basket:
    """Enter every line of a basket as an order of ``account``, or none of them.

    Lines are mappings of ``symbol``, ``side``, ``quantity``, ``order_type``, ``limit_price``,
    ``stop_price`` and ``tif``. The basket, its orders (each with its event, audit row and
    ``order.place``) and the ``basket.submit`` audit row are written in one transaction and
    announced on commit. ``client_basket_id`` already naming a basket of the account returns
    that basket unchanged: a basket sent twice is entered once. ``confirm_duplicate`` answers the
    duplicate guard for every line (a line identical to one entered moments ago, or to another
    line of the basket).

    :raises OrderInvalid: no such account.
    :raises AccountNotMember, PermissionRequired: the actor may not enter orders on the account.
    :raises BasketInvalid: no lines, more than ``MAX_LINES``, a bad ``client_basket_id``.
    :raises BasketClientIdConflict: ``client_basket_id`` names a basket of another account.
    :raises BasketLineRefused: a line was refused; ``lines`` lists each with its code; nothing written.
    """
    account = account_resolve(account)
    require_actor(actor, account=account, perm="orders.add_order")
    lines = _lines(lines)
    client_basket_id = _client_basket_id(client_basket_id)
    name = (name or "").strip()[:100]
    with transaction.atomic():
        # The account lock orders two posts of the same basket: the second finds the first's row.
        account = account_lock(account.pk)
        existing = Basket.objects.filter(client_basket_id=client_basket_id).first()
        if existing is not None:
            if existing.account_id != account.pk:
                raise BasketClientIdConflict(field="client_basket_id")
            return existing
        try:
            with transaction.atomic():
                basket = Basket.objects.create(
                    client_basket_id=client_basket_id,
                    name=name,
                    account=account,
                    created_by=actor if actor is not None and actor.is_authenticated else None,
                )
        except IntegrityError:
            # The same id taken by another account's basket committed meanwhile.
            raise BasketClientIdConflict(field="client_basket_id")
        check = _enter_lines(
            actor=actor,
            account=account,
            lines=lines,
            basket=basket,
            source=source,
            confirm_duplicate=confirm_duplicate,
            via=via,
        )
        if check.refused:
            count = len(check.refused)
            raise BasketLineRefused(
                f"{count} of {len(lines)} lines refused; no order was entered: "
                + "; ".join(f"line {line.number}: {line.code}" for line in check.refused[:10]),
                field="lines",
                extra={"lines": [line.refusal() for line in check.refused]},
            )
        audit_record(
            actor=actor,
            action="basket.submit",
            obj=basket,
            account=account,
            after={
                "name": name,
                "client_basket_id": str(client_basket_id),
                "lines": len(lines),
                "notional": str(check.notional),
                "orders": [str(c) for c in basket.orders.order_by("id").values_list("client_order_id", flat=True)],
            },
            via=via,
        )
        return basket


@transaction.atomic
def basket_cancel(*, actor: User | None, basket: Basket, reason: str, via: str) -> BasketCancelOutcome:
    """Cancel every working order of a basket through ``order_cancel``, and mark the basket cancelled.

    Each order is cancelled in a savepoint: one refused (its bracket not yet sent, a reason the
    worker cannot carry) is listed with its code and the others go on. Audited as ``basket.cancel``.

    :raises BasketInvalid: no reason.
    :raises AccountNotMember, PermissionRequired: the actor may not change the account's orders.
    :raises BasketNotCancellable: no order of the basket is working.
    """
    reason = (reason or "").strip()[:255]
    if not reason:
        raise BasketInvalid("Say why the basket is cancelled.", field="reason")
    require_actor(actor, account=basket.account, perm="orders.change_order")
    basket = Basket.objects.select_for_update().select_related("account").get(pk=basket.pk)
    working = list(
        basket.orders.select_related("account", "instrument").filter(status__in=CANCELLABLE_STATUSES).order_by("id")
    )
    if not working:
        raise BasketNotCancellable()
    outcome = BasketCancelOutcome(basket=basket)
    for order in working:
        try:
            with transaction.atomic():
                outcome.cancelled.append(order_cancel(order=order, actor=actor, reason=f"basket: {reason}", via=via))
        except ApplicationError as refusal:
            outcome.refused.append(
                {"order": str(order.client_order_id), "code": refusal.code, "detail": refusal.message}
            )
    before = {"status": basket.status}
    if basket.status != Basket.Status.CANCELLED:
        basket.status = Basket.Status.CANCELLED
        basket.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action="basket.cancel",
        obj=basket,
        account=basket.account,
        before=before,
        after={
            "status": basket.status,
            "reason": reason,
            "cancelled": [str(order.client_order_id) for order in outcome.cancelled],
            "refused": outcome.refused,
        },
        via=via,
    )
    return outcome


__all__ = [
    "MAX_LINES",
    "BasketCancelOutcome",
    "BasketCheck",
    "BasketLine",
    "basket_cancel",
    "basket_check",
    "basket_submit",
]
