"""``manage.py seed_demo``: the demo desk of the quick start, created once and left alone after.

Idempotent: every row is looked up by its natural key and created only when missing, so a
second run changes nothing (and prints no password) unless ``--reset-passwords`` is given.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import AccountMembership, BrokerAccount, Role, User
from accounts.selectors import kill_switch_get
from orders import services as order_services
from orders.models import Instrument, RiskLimit
from strategies import engine
from strategies import services as strategy_services
from strategies.models import Strategy


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role | None  # None: a superuser
    accounts: tuple[str, ...]


@dataclass(frozen=True)
class DemoStock:
    symbol: str
    con_id: int  # IB's contract id for the US listing (SMART routed)
    primary_exchange: str
    description: str
    last_price: str


ACCOUNTS = {"DU0000001": "Demo paper account 1", "DU0000002": "Demo paper account 2"}

# The engine's templates (strategies/engine/templates/<file>.json), each a strategy with it as version 1.
TEMPLATE_STRATEGIES = (
    ("EMA crossover", "ema_crossover", "Buys 100 as EMA 12 crosses above EMA 26 (2% stop); closes on the cross back."),
    ("RSI mean reversion", "rsi_mean_reversion", "Buys 10% of equity when flat and RSI 14 < 30; closes above 70."),
    ("Bollinger breakout", "bollinger_breakout", "Buys a break above the upper band; closes below the middle."),
)
TEMPLATES_DIR = Path(engine.__file__).parent / "templates"
# The demo's forward test: the EMA crossover on AAPL's one-minute bars, paper cash 100,000.
DEMO_SESSION_TEMPLATE, DEMO_SESSION_SYMBOL = "ema_crossover", "AAPL"

USERS = (
    DemoUser("admin", None, ()),
    DemoUser("trader", Role.TRADER, ("DU0000001", "DU0000002")),
    DemoUser("risk", Role.RISK_MANAGER, ("DU0000001", "DU0000002")),
    DemoUser("viewer", Role.VIEWER, ("DU0000001",)),
)

STOCKS = (
    DemoStock("AAPL", 265598, "NASDAQ", "Apple Inc", "190.00"),
    DemoStock("MSFT", 272093, "NASDAQ", "Microsoft Corp", "420.00"),
    DemoStock("AMZN", 3691937, "NASDAQ", "Amazon.com Inc", "180.00"),
    DemoStock("GOOGL", 208813719, "NASDAQ", "Alphabet Inc Class A", "170.00"),
    DemoStock("META", 107113386, "NASDAQ", "Meta Platforms Inc", "560.00"),
    DemoStock("NVDA", 4815747, "NASDAQ", "NVIDIA Corp", "130.00"),
    DemoStock("TSLA", 76792991, "NASDAQ", "Tesla Inc", "250.00"),
    DemoStock("JPM", 1520593, "NYSE", "JPMorgan Chase & Co", "220.00"),
    DemoStock("V", 49462172, "NYSE", "Visa Inc Class A", "290.00"),
    DemoStock("JNJ", 8719, "NYSE", "Johnson & Johnson", "155.00"),
    DemoStock("XOM", 13977, "NYSE", "Exxon Mobil Corp", "115.00"),
    DemoStock("SPY", 756733, "ARCA", "SPDR S&P 500 ETF Trust", "500.00"),
)

DEMO_LIMITS = {
    "max_order_quantity": Decimal("1000"),
    "max_order_notional": Decimal("250000"),
    "max_position": Decimal("5000"),
    "max_daily_loss": Decimal("10000"),
    "price_collar_pct": Decimal("5.00"),
    "orders_per_minute": 60,
}
VIA = "seed_demo"

STRATEGY_NAME = "SPY mean reversion (demo)"
STRATEGY_PARAMETERS = {"symbol": "SPY", "lookback_minutes": 20, "entry_z": 2.0, "exit_z": 0.5, "quantity": 10}


class Command(BaseCommand):
    help = "Create the demo desk (users, paper accounts, a dozen US stocks, risk limits, strategies); idempotent."

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="Give the demo users new random passwords and print them.",
        )

    def handle(self, *args, reset_passwords: bool = False, **options):
        missing = [role.value for role in Role if not Group.objects.filter(name=role.value).exists()]
        if missing:
            raise CommandError(f"The role groups {missing} do not exist: run `manage.py migrate` first.")
        with transaction.atomic():
            accounts = self._accounts()
            passwords = self._users(accounts, reset_passwords=reset_passwords)
            self._instruments()
            self._risk_limits(accounts.values())
            self._strategy(accounts)
            self._template_strategies()
            kill_switch_get()
        self._report(accounts, passwords)

    def _accounts(self) -> dict[str, BrokerAccount]:
        accounts = {}
        for code, name in ACCOUNTS.items():
            account, created = BrokerAccount.objects.get_or_create(
                code=code, defaults={"name": name, "kind": BrokerAccount.Kind.PAPER, "base_currency": "USD"}
            )
            accounts[code] = account
            if created:
                self.stdout.write(f"Created paper account {code}.")
        return accounts

    def _users(self, accounts: dict[str, BrokerAccount], *, reset_passwords: bool) -> dict[str, str]:
        """Create the demo users; return the passwords set in this run (new users, or all on reset)."""
        passwords = {}
        for demo in USERS:
            user, created = User.objects.get_or_create(
                username=demo.username,
                defaults={"is_staff": True, "is_superuser": demo.role is None, "email": f"{demo.username}@example.com"},
            )
            if created or reset_passwords:
                password = secrets.token_urlsafe(12)
                user.set_password(password)
                user.save(update_fields=["password"])
                passwords[demo.username] = password
            if demo.role is not None:
                user.groups.add(Group.objects.get(name=demo.role.value))
            for code in demo.accounts:
                AccountMembership.objects.get_or_create(user=user, account=accounts[code])
        return passwords

    def _instruments(self) -> None:
        now = timezone.now()
        for stock in STOCKS:
            instrument, created = Instrument.objects.get_or_create(
                symbol=stock.symbol,
                sec_type="STK",
                exchange="SMART",
                currency="USD",
                defaults={
                    "con_id": stock.con_id,
                    "primary_exchange": stock.primary_exchange,
                    "description": stock.description,
                    "min_tick": Decimal("0.01"),
                    "multiplier": 1,
                },
            )
            if instrument.last_price is None:
                # A reference price lets the collar and notional checks work before market data flows.
                order_services.instrument_record_price(instrument=instrument, price=Decimal(stock.last_price), at=now)
            if created:
                self.stdout.write(f"Created instrument {stock.symbol} (conId {stock.con_id}).")

    def _risk_limits(self, accounts) -> None:
        for account in accounts:
            if RiskLimit.objects.filter(account=account).exists():
                continue
            # Through the service: the limits are audited and published for the worker (the relay
            # SETs them at {prefix}:risk:limits:{account}).
            order_services.risk_limit_update(risk_limit=RiskLimit(account=account), actor=None, via=VIA, **DEMO_LIMITS)
            self.stdout.write(f"Published the demo risk limits of {account.code}.")

    def _strategy(self, accounts: dict[str, BrokerAccount]) -> None:
        strategy, created = Strategy.objects.get_or_create(
            name=STRATEGY_NAME,
            defaults={
                "description": "Fades moves of SPY beyond two standard deviations of its 20-minute mean.",
                "parameters": STRATEGY_PARAMETERS,
            },
        )
        if created:
            strategy.accounts.add(accounts["DU0000001"])
            self.stdout.write(f"Created strategy {strategy.name}.")

    def _template_strategies(self) -> None:
        # Through the services, by the desk itself: audited, and version 1 compiled like any save.
        for name, template, description in TEMPLATE_STRATEGIES:
            strategy = Strategy.objects.filter(name=name).first()
            if strategy is None:
                strategy = strategy_services.strategy_create(actor=None, name=name, description=description, via=VIA)
                self.stdout.write(f"Created strategy {name}.")
            if not strategy.versions.exists():
                graph = json.loads((TEMPLATES_DIR / f"{template}.json").read_text())
                strategy_services.strategy_version_save(actor=None, strategy=strategy, graph=graph, via=VIA)
                self.stdout.write(f"Saved the {template} template as version 1 of {name}.")
            if template == DEMO_SESSION_TEMPLATE and not strategy.sessions.exists():
                # A forward test ready to run: pending until someone presses Start (admin or live page).
                strategy_services.trading_session_create(
                    strategy=strategy,
                    account=BrokerAccount.objects.get(code="DU0000001"),
                    actor=None,
                    version=strategy.versions.order_by("-number").first(),
                    instrument=DEMO_SESSION_SYMBOL,
                    mode="forward",
                    starting_equity="100000",
                    via=VIA,
                )
                self.stdout.write(f"Created a pending forward test of {name} on {DEMO_SESSION_SYMBOL} (DU0000001).")

    def _report(self, accounts: dict[str, BrokerAccount], passwords: dict[str, str]) -> None:
        if not passwords:
            self.stdout.write(
                "Demo data is in place; existing passwords were kept (use --reset-passwords for new ones)."
            )
            return
        self.stdout.write(self.style.SUCCESS("Demo users (sign in at http://127.0.0.1:8000/admin/):"))
        roles = {demo.username: (demo.role.value if demo.role else "superuser") for demo in USERS}
        for username, password in passwords.items():
            self.stdout.write(f"  {username:<8} password: {password}   ({roles[username]})")
