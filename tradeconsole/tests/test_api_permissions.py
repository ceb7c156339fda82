"""Every endpoint of /api/v1/ for every role: allowed and refused, and nothing without signing in.

The table below is checked against the URLconf, so a new endpoint without a row fails the suite.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import Role
from accounts.tests.factories import AlertFactory, UserFactory
from marketdata.services import watchlist_add
from orders.models import Basket, OrderStatus, ScheduledOrder
from orders.tests.factories import OrderFactory, PositionFactory
from strategies.services import strategy_version_save
from strategies.services.backtests import backtest_request
from strategies.tests.factories import StrategyFactory, TradingSessionFactory, template_graph

pytestmark = pytest.mark.django_db

ALL = {Role.VIEWER, Role.TRADER, Role.RISK_MANAGER, Role.ADMIN}
TRADE = {Role.TRADER, Role.RISK_MANAGER, Role.ADMIN}
RISK = {Role.RISK_MANAGER, Role.ADMIN}
ADMIN = {Role.ADMIN}


@dataclass(frozen=True)
class Case:
    method: str
    name: str
    allowed: set
    ok: int = 200
    kwargs: str = (
        ""  # which fixture object fills the URL: order, alert, schedule, session, strategy, version, account, position
    )
    body: dict = field(default_factory=dict)
    idempotent: bool = False


ORDER_BODY = {
    "account": "DU0000001",
    "symbol": "AAPL",
    "side": "BUY",
    "quantity": "10",
    "order_type": "LMT",
    "limit_price": "100.00",
}
BRACKET_BODY = {
    **ORDER_BODY,
    "quantity": "5",
    "take_profit_price": "104.00",
    "stop_loss_price": "96.00",
}
SCHEDULE_BODY = {
    "name": "open buy",
    "account": "DU0000001",
    "symbol": "AAPL",
    "side": "BUY",
    "quantity": "5",
    "order_type": "MKT",
    "time_of_day": "09:31:00",
}

# A backtest of the world's version (a callable value is filled from the world at call time).
BACKTEST_BODY = {
    "version": lambda world: world["version"].pk,
    "symbols": ["AAPL"],
    "resolution": "1",
    "start": "2026-03-01T00:00:00Z",
    "end": "2026-04-01T00:00:00Z",
    "starting_cash": "100000",
}

# A forward test of the world's version on AAPL (opening sessions is the Admin's).
SESSION_BODY = {
    "account": "DU0000001",
    "version": lambda world: world["version"].pk,
    "symbol": "AAPL",
    "starting_equity": "100000",
}

# A bar range of a datafeed read (epoch seconds; no bars in it: the read still needs the permission).
RANGE = {"symbol": "AAPL", "resolution": "1", "from": 1_767_000_000, "to": 1_767_003_600}

CASES = [
    Case("get", "account-list", ALL),
    Case("get", "account-detail", ALL, kwargs="account"),
    Case("post", "account-halt", RISK, kwargs="account", body={"reason": "test"}),
    Case("post", "account-resume", RISK, kwargs="account"),
    Case("get", "kill-switch", ALL),
    Case("post", "kill-switch-engage", RISK, body={"reason": "test"}),
    Case("post", "kill-switch-release", RISK),
    Case("get", "alert-list", ALL),
    Case("get", "audit-log-export", ALL),
    Case("get", "alert-detail", ALL, kwargs="alert"),
    Case("post", "alert-acknowledge", RISK, kwargs="alert"),
    Case("get", "token-list", ALL),
    Case("post", "token-list", ALL, ok=201, body={"ttl_hours": 1}),
    Case("delete", "token-revoke", ALL, ok=204, kwargs="token"),
    Case("get", "instrument-list", ALL),
    Case("get", "instrument-detail", ALL, kwargs="instrument"),
    Case("get", "order-list", ALL),
    Case("get", "order-export", ALL),
    Case("post", "order-list", TRADE, ok=201, body=ORDER_BODY, idempotent=True),
    Case("post", "bracket-list", TRADE, ok=201, body=BRACKET_BODY, idempotent=True),
    Case("get", "basket-list", ALL),
    Case("post", "basket-list", TRADE, ok=201, body={"account": "DU0000001", "lines": [ORDER_BODY]}),
    Case("post", "basket-preview", TRADE, body={"account": "DU0000001", "lines": [ORDER_BODY]}),
    Case("get", "basket-detail", ALL, kwargs="basket"),
    Case("post", "basket-cancel", TRADE, kwargs="basket", body={"reason": "test"}),
    Case("get", "order-detail", ALL, kwargs="order"),
    Case("patch", "order-detail", TRADE, kwargs="order", body={"quantity": "20"}),
    Case("post", "order-cancel", TRADE, kwargs="order"),
    Case("get", "fill-list", ALL),
    Case("get", "fill-export", ALL),
    Case("get", "position-list", ALL),
    Case("post", "position-flatten", TRADE, kwargs="position", body={"reason": "test"}),
    Case("post", "account-flatten", TRADE, kwargs="account", body={"reason": "test"}),
    Case("post", "desk-flatten", RISK, body={"reason": "test"}),
    Case("get", "position-export", ALL),
    Case("get", "pnl-history", ALL),
    Case("get", "risk-limit-list", ALL),
    Case("get", "risk-limit-detail", ALL, kwargs="account"),
    Case("patch", "risk-limit-detail", RISK, kwargs="account", body={"max_order_quantity": "500"}),
    Case("get", "scheduled-order-list", ALL),
    Case("post", "scheduled-order-list", TRADE, ok=201, body=SCHEDULE_BODY),
    Case("get", "scheduled-order-detail", ALL, kwargs="schedule"),
    Case("patch", "scheduled-order-detail", TRADE, kwargs="schedule", body={"quantity": "7"}),
    Case("delete", "scheduled-order-detail", ADMIN, ok=204, kwargs="schedule"),
    Case("post", "scheduled-order-enable", TRADE, kwargs="schedule"),
    Case("post", "scheduled-order-disable", TRADE, kwargs="schedule"),
    Case("get", "scheduled-order-next-firings", ALL, kwargs="schedule"),
    Case("get", "strategy-list", ALL),
    Case("get", "strategy-detail", ALL, kwargs="strategy"),
    Case("get", "strategy-node-types", ALL),
    Case("get", "strategy-version-list", ALL, kwargs="strategy"),
    Case("post", "strategy-version-list", TRADE, ok=201, kwargs="strategy", body=template_graph("ema_crossover")),
    Case("get", "strategy-version-detail", ALL, kwargs="version"),
    Case("post", "strategy-version-approve", RISK, kwargs="version"),
    Case("get", "backtest-list", ALL),
    Case("post", "backtest-list", TRADE, ok=201, body=BACKTEST_BODY),
    Case("get", "backtest-detail", ALL, kwargs="backtest"),
    Case("post", "backtest-cancel", TRADE, kwargs="backtest"),
    Case("get", "trading-session-list", ALL),
    Case("post", "trading-session-list", ADMIN, ok=201, body=SESSION_BODY),
    Case("get", "trading-session-detail", ALL, kwargs="session"),
    Case("post", "trading-session-start", TRADE, kwargs="session"),
    Case("post", "trading-session-pause", TRADE, kwargs="running_session", body={"reason": "test"}),
    Case("post", "trading-session-resume", TRADE, kwargs="paused_session"),
    Case("post", "trading-session-stop", TRADE, kwargs="session", body={"reason": "test", "flatten": True}),
    Case("get", "trading-session-equity", ALL, kwargs="session"),
    Case("get", "trading-session-decisions", ALL, kwargs="session"),
    Case("get", "trading-session-fills", ALL, kwargs="session"),
    Case("get", "datafeed-config", ALL),
    Case("get", "datafeed-time", ALL),
    Case("get", "datafeed-symbols", ALL, body={"symbol": "AAPL"}),
    Case("get", "datafeed-search", ALL, body={"query": "AA"}),
    Case("get", "datafeed-history", ALL, body=RANGE),
    Case("get", "datafeed-marks", ALL, body=RANGE),
    Case("get", "datafeed-quotes", ALL, body={"symbols": "AAPL"}),
    # A watchlist is each user's own: every desk role may keep one.
    Case("get", "watchlist", ALL),
    Case("post", "watchlist", ALL, ok=201, body={"symbol": "AAPL"}),
    Case("put", "watchlist", ALL, body={"symbols": []}),
    Case("delete", "watchlist-symbol", ALL, ok=204, kwargs="watched"),
    Case("get", "health", ALL),
    Case("get", "schema", ALL),
    Case("get", "asyncapi", ALL),
    Case("get", "docs", ALL),
]


def _api_names(resolver=None, namespace="") -> set[str]:
    names: set[str] = set()
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            names |= _api_names(entry, inner)
        elif isinstance(entry, URLPattern) and entry.name and namespace.startswith("api-v1:"):
            names.add(entry.name)
    return names


def test_every_api_endpoint_has_a_row_in_the_permission_table():
    assert _api_names() == {case.name for case in CASES}


@pytest.fixture
def world(account, instrument):
    """One object of each kind on the account the role users belong to."""
    strategy = StrategyFactory(name="mean-revert")
    version = strategy_version_save(actor=None, strategy=strategy, graph=template_graph("ema_crossover"), via="t")
    return {
        "account": account,
        "instrument": instrument,
        "order": OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED),
        "alert": AlertFactory(account=account),
        "basket": _basket_with_a_working_order(account, instrument),
        "position": PositionFactory(account=account, instrument=instrument, quantity=Decimal("100")),
        "schedule": ScheduledOrder.objects.create(
            name="close",
            account=account,
            instrument=instrument,
            side="SELL",
            quantity=Decimal("5"),
            order_type="MKT",
            time_of_day=time(15, 55),
        ),
        "strategy": strategy,
        # Saved by the desk itself, so every Risk manager may approve it.
        "version": version,
        "backtest": backtest_request(
            actor=None,
            version=version,
            symbols=["AAPL"],
            resolution="1",
            start=datetime(2026, 3, 1, tzinfo=UTC),
            end=datetime(2026, 4, 1, tzinfo=UTC),
            starting_cash=Decimal("100000"),
            via="t",
        ),
        "session": TradingSessionFactory(strategy=strategy, account=account),
        "running_session": TradingSessionFactory(strategy=strategy, account=account, status="running"),
        "paused_session": TradingSessionFactory(strategy=strategy, account=account, status="paused"),
    }


def _basket_with_a_working_order(account, instrument) -> Basket:
    basket = Basket.objects.create(account=account)
    OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED, basket=basket)
    return basket


def _user_for(role: Role, account):
    if role == Role.ADMIN:
        return UserFactory(username="admin", roles=[Role.ADMIN], is_superuser=True)
    return UserFactory(username=f"u-{role.value.replace(' ', '-').lower()}", roles=[role], accounts=[account])


def _url(case: Case, world: dict, client, user) -> str:
    if not case.kwargs:
        return reverse(f"api-v1:{case.name}")
    if case.kwargs == "token":
        created = client.post(reverse("api-v1:token-list"), {}, format="json")
        assert created.status_code == 201, created.content
        return reverse(f"api-v1:{case.name}", kwargs={"token_key": created.json()["token_key"]})
    if case.kwargs == "watched":
        if user.has_perm("orders.view_order"):
            watchlist_add(user=user, symbol="AAPL", via="test")
        return reverse(f"api-v1:{case.name}", kwargs={"symbol": "AAPL"})
    obj = world[case.kwargs]
    if case.kwargs == "account":
        return reverse(f"api-v1:{case.name}", kwargs={"code": obj.code})
    if case.kwargs == "order":
        return reverse(f"api-v1:{case.name}", kwargs={"client_order_id": obj.client_order_id})
    if case.kwargs == "version":
        return reverse(f"api-v1:{case.name}", kwargs={"pk": obj.strategy_id, "number": obj.number})
    return reverse(f"api-v1:{case.name}", kwargs={"pk": obj.pk})


def _call(client, case: Case, url: str, world: dict):
    headers = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())} if case.idempotent else {}
    body = {key: value(world) if callable(value) else value for key, value in case.body.items()}
    return getattr(client, case.method)(url, body, format="json", **headers)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER, Role.RISK_MANAGER, Role.ADMIN], ids=lambda r: r.value)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method}-{c.name}")
def test_each_role_is_allowed_exactly_the_endpoints_its_role_permits(case, role, world, api_client):
    user = _user_for(role, world["account"])
    api_client.force_authenticate(user)
    url = _url(case, world, api_client, user) if case.kwargs != "token" or role in case.allowed else None
    if url is None:
        url = reverse(f"api-v1:{case.name}", kwargs={"token_key": "nosuchtoken0000"})
    response = _call(api_client, case, url, world)
    if role in case.allowed:
        assert response.status_code == case.ok, response.content
    else:
        assert response.status_code == 403, response.content
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "permission_denied"


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method}-{c.name}")
def test_no_endpoint_answers_without_authentication(case, world, api_client):
    url = (
        reverse(f"api-v1:{case.name}", kwargs=_anonymous_kwargs(case, world))
        if case.kwargs
        else reverse(f"api-v1:{case.name}")
    )
    response = _call(api_client, case, url, world)
    if case.name == "docs":  # a page for people: they are sent to sign in (tests/test_api_docs.py)
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
        return
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == "Token"


def _anonymous_kwargs(case: Case, world: dict) -> dict:
    if case.kwargs == "token":
        return {"token_key": "nosuchtoken0000"}
    if case.kwargs == "watched":
        return {"symbol": "AAPL"}
    obj = world[case.kwargs]
    if case.kwargs == "account":
        return {"code": obj.code}
    if case.kwargs == "order":
        return {"client_order_id": obj.client_order_id}
    if case.kwargs == "version":
        return {"pk": obj.strategy_id, "number": obj.number}
    return {"pk": obj.pk}


def test_a_user_without_a_desk_role_is_refused_even_the_reads(user, api_client):
    api_client.force_authenticate(user)
    response = api_client.get(reverse("api-v1:order-list"))
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
