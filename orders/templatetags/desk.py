"""The desk summary shown on the admin index: accounts, halts, open orders, the kill switch."""

from __future__ import annotations

from dataclasses import dataclass

from django import template
from django.db.models import Count

from accounts.models import Alert, BrokerAccount
from accounts.selectors import accounts_for_user, alert_list, kill_switch_engaged
from orders.selectors import order_list

register = template.Library()


@dataclass(frozen=True)
class AccountLine:
    account: BrokerAccount
    open_orders: int


@dataclass(frozen=True)
class DeskSummary:
    accounts: list[AccountLine]
    open_orders: int
    halted: int
    kill_switch_engaged: bool
    open_alerts: int


def desk_summary(user) -> DeskSummary:
    """Summarise the desk as ``user`` may see it (only their accounts), through the selectors."""
    counts = dict(
        order_list(user=user, filters={"open": True})
        .order_by()
        .values_list("account_id")
        .annotate(count=Count("id"))
        .values_list("account_id", "count")
    )
    lines = [AccountLine(account, counts.get(account.pk, 0)) for account in accounts_for_user(user).order_by("code")]
    engaged = kill_switch_engaged()
    return DeskSummary(
        accounts=lines,
        open_orders=sum(counts.values()),
        # The kill switch halts every account, whatever its own flag says.
        halted=len(lines) if engaged else sum(1 for line in lines if not line.account.trading_enabled),
        kill_switch_engaged=engaged,
        open_alerts=alert_list(user=user, status=[Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED]).count(),
    )


@register.simple_tag(takes_context=True)
def desk_summary_for_request(context) -> DeskSummary | None:
    """Return the summary for the signed-in user of the page, or None without one."""
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return None
    return desk_summary(request.user)
