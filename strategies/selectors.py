"""Reads of strategies, their versions and trading sessions, scoped to the user's accounts."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from accounts.selectors import accounts_for_user
from strategies.models import Strategy, StrategyVersion, TradingSession


def trading_session_list(
    *, user: User, status: str | list[str] | None = None, account=None
) -> QuerySet[TradingSession]:
    """Return the trading sessions on ``user``'s accounts, newest first."""
    queryset = TradingSession.objects.select_related("strategy", "account", "version", "instrument").filter(
        account__in=accounts_for_user(user)
    )
    if status:
        queryset = queryset.filter(status__in=[status] if isinstance(status, str) else list(status))
    if account is not None:
        queryset = queryset.filter(account=account)
    return queryset


def strategy_list(*, user: User) -> QuerySet[Strategy]:
    """Return the strategies that may trade at least one of ``user``'s accounts, or any account."""
    visible = accounts_for_user(user)
    if user.is_superuser:
        return Strategy.objects.all()
    return (Strategy.objects.filter(accounts__in=visible) | Strategy.objects.filter(accounts__isnull=True)).distinct()


def strategy_version_list(*, user: User, strategy: Strategy | None = None) -> QuerySet[StrategyVersion]:
    """Return the versions of the strategies ``user`` sees (of ``strategy`` only, when given), newest first."""
    queryset = StrategyVersion.objects.select_related("strategy", "author", "approved_by").filter(
        strategy__in=strategy_list(user=user)
    )
    if strategy is not None:
        queryset = queryset.filter(strategy=strategy)
    return queryset.order_by("strategy__name", "-number")
