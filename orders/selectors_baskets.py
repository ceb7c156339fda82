"""Baskets read for a person: those of their accounts, and each basket's progress from its orders."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum
from django.shortcuts import get_object_or_404

from accounts.models import User
from accounts.selectors import accounts_for_user
from orders.models import Basket, Order, OrderStatus
from orders.transitions import OPEN_STATUSES


@dataclass
class BasketProgress:
    """A basket's orders counted by status, and the quantity filled of the quantity entered."""

    orders: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    quantity: Decimal = Decimal("0")
    filled_quantity: Decimal = Decimal("0")

    @property
    def working(self) -> int:
        return sum(n for status, n in self.by_status.items() if status in OPEN_STATUSES)

    @property
    def filled(self) -> int:
        return self.by_status.get(OrderStatus.FILLED, 0)

    @property
    def done(self) -> bool:
        return self.orders > 0 and self.working == 0

    def data(self) -> dict:
        return {
            "orders": self.orders,
            "working": self.working,
            "filled": self.filled,
            "by_status": dict(sorted(self.by_status.items())),
            "quantity": str(self.quantity),
            "filled_quantity": str(self.filled_quantity),
            "done": self.done,
        }


def basket_list(*, user: User) -> QuerySet[Basket]:
    """Return the baskets of the user's accounts, newest first."""
    return Basket.objects.select_related("account", "created_by").filter(account__in=accounts_for_user(user))


def basket_get(*, user: User, pk: int) -> Basket:
    """Return one basket of the user's accounts.

    :raises Http404: no such basket on the user's accounts.
    """
    return get_object_or_404(basket_list(user=user), pk=pk)


def basket_progress(baskets: list[Basket]) -> dict[int, BasketProgress]:
    """Return each basket's progress (by its primary key), in one grouped query."""
    progress = {basket.pk: BasketProgress() for basket in baskets}
    rows = (
        Order.objects.filter(basket_id__in=list(progress))
        .values("basket_id", "status")
        .annotate(n=Count("id"), quantity=Sum("quantity"), filled=Sum("filled_quantity"))
        .order_by()
    )
    for row in rows:
        entry = progress[row["basket_id"]]
        entry.orders += row["n"]
        entry.by_status[row["status"]] = row["n"]
        entry.quantity += row["quantity"]
        entry.filled_quantity += row["filled"]
    return progress


def basket_orders(basket: Basket) -> QuerySet[Order]:
    """Return a basket's orders in the order of its lines, with what their rows show."""
    return basket.orders.select_related("account", "instrument", "trading_session__strategy").order_by("id")


__all__ = ["BasketProgress", "basket_get", "basket_list", "basket_orders", "basket_progress"]
