"""``manage.py seed_demo``: the demo desk, created once, with passwords printed only when set."""

from __future__ import annotations

import re
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import AccountMembership, AuditLog, BrokerAccount, OutboxMessage, Role, User
from orders.management.commands.seed_demo import STRATEGY_NAME
from orders.models import Instrument, RiskLimit
from strategies.models import Strategy, TradingSession

pytestmark = pytest.mark.django_db

PASSWORD_LINE = re.compile(r"^\s+(\w+)\s+password: (\S+)", re.MULTILINE)


def seed(*args: str) -> dict[str, str]:
    """Run the command; return the passwords it printed, by username."""
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return dict(PASSWORD_LINE.findall(out.getvalue()))


def test_seed_demo_creates_the_demo_desk():
    passwords = seed()
    assert set(passwords) == {"admin", "trader", "risk", "viewer"}
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(passwords["admin"])
    trader = User.objects.get(username="trader")
    assert trader.is_staff and not trader.is_superuser and trader.check_password(passwords["trader"])
    assert list(trader.groups.values_list("name", flat=True)) == [Role.TRADER]
    assert list(User.objects.get(username="viewer").groups.values_list("name", flat=True)) == [Role.VIEWER]
    assert set(BrokerAccount.objects.values_list("code", "kind")) == {("DU0000001", "paper"), ("DU0000002", "paper")}
    assert AccountMembership.objects.filter(user=trader).count() == 2

    stocks = Instrument.objects.all()
    assert len(stocks) == 12
    assert {stock.symbol for stock in stocks} >= {"AAPL", "MSFT", "SPY", "XOM"}
    aapl = Instrument.objects.get(symbol="AAPL")
    assert (aapl.con_id, str(aapl.min_tick), aapl.primary_exchange) == (265598, "0.010000", "NASDAQ")
    assert all(stock.last_price and stock.last_price > 0 for stock in stocks)

    assert RiskLimit.objects.count() == 2
    published = OutboxMessage.objects.filter(type="risk.limits", stream="risk")
    assert {message.data["account"] for message in published} == {"DU0000001", "DU0000002"}
    assert AuditLog.objects.filter(action="risk_limit.update", via="seed_demo").count() == 2
    strategy = Strategy.objects.get(name=STRATEGY_NAME)
    assert isinstance(strategy.parameters, dict)
    demo = TradingSession.objects.get()
    assert (demo.status, demo.mode, demo.instrument.symbol, demo.version.number) == ("pending", "forward", "AAPL", 1)
    assert (demo.strategy.name, demo.starting_equity) == ("EMA crossover", 100000)


def test_seed_demo_twice_changes_nothing_and_keeps_the_passwords():
    first = seed()
    counts = [model.objects.count() for model in (User, BrokerAccount, Instrument, RiskLimit, TradingSession)]
    outbox = OutboxMessage.objects.count()
    assert seed() == {}
    assert [model.objects.count() for model in (User, BrokerAccount, Instrument, RiskLimit, TradingSession)] == counts
    assert OutboxMessage.objects.count() == outbox
    assert User.objects.get(username="trader").check_password(first["trader"])


def test_reset_passwords_prints_new_ones_that_work():
    first = seed()
    second = seed("--reset-passwords")
    assert set(second) == set(first)
    trader = User.objects.get(username="trader")
    assert second["trader"] != first["trader"]
    assert trader.check_password(second["trader"]) and not trader.check_password(first["trader"])


def test_the_seeded_trader_can_sign_in_to_the_admin(client):
    passwords = seed()
    # Through the login page: the lockout check (django-axes) refuses a sign-in without a request.
    response = client.post("/admin/login/?next=/admin/", {"username": "trader", "password": passwords["trader"]})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_the_procfiles_simulator_trades_the_seeded_stocks_at_their_prices():
    # The collar and notional checks use the seeded prices until market data flows, so the
    # simulator must start from the same ones.
    from pathlib import Path

    from orders.management.commands.seed_demo import STOCKS

    procfile = (Path(__file__).resolve().parents[2] / "Procfile").read_text()
    line = next(line for line in procfile.splitlines() if line.startswith("tws:"))
    listed = dict(item.split("=") for item in line.split("--instruments ")[1].split()[0].split(","))
    assert {symbol: Decimal(price) for symbol, price in listed.items()} == {
        stock.symbol: Decimal(stock.last_price) for stock in STOCKS
    }
    assert "--accounts DU0000001,DU0000002" in line
