"""Fixtures of the streams tests: a clean key space on the real Redis, order submission, the bridge and its
sender, Chromium, and the desk of the browser tests. Plain helpers are in ``harness.py``."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import Role
from accounts.tests.factories import BrokerAccountFactory
from orders.tests.factories import InstrumentFactory, RiskLimitFactory
from streams.bridge import EventBridge
from streams.live import Fanout
from streams.tests.harness import browser_user, in_db


@pytest.fixture
def submit(trader, account, instrument):
    """Enter a limit order as the trader through ``order_submit`` and return it."""
    from orders.services import order_submit

    def enter(**changes):
        fields = {
            "actor": trader,
            "account": account,
            "instrument": instrument,
            "side": "BUY",
            "quantity": Decimal("10"),
            "order_type": "LMT",
            "limit_price": Decimal("100.00"),
            "source": "admin",
            "via": "admin",
            # Several identical orders in a row: these tests are not about the duplicate guard.
            "confirm_duplicate": True,
        }
        fields.update(changes)
        return order_submit(**fields)

    return enter


@pytest.fixture(autouse=True)
def _roles_after_flush(request):
    """Transactional tests flush the tables, data-migrated roles included: put the roles back first."""
    marker = request.node.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        request.getfixturevalue("transactional_db")
        from accounts.services import roles_sync

        roles_sync()


# Debian's Chromium, never a downloaded browser; the browser tests fail (never skip) without it.
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser(monkeypatch):
    """Debian's Chromium, headless, driven by Playwright's sync API."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM reads are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def sender(redis_client):
    """A fresh ``Fanout`` that ``streams.publish`` sends every announced row through during the test."""
    from streams import publish

    fanout = Fanout()
    publish.use(fanout)
    yield fanout
    publish.use(None)
    fanout.close()


@pytest.fixture
def bridge(sender):
    """An event bridge stepping in the test's thread; its services' announcements go out through ``sender``."""
    return EventBridge(consumer="bridge-test", block_ms=10)


@pytest.fixture
def desk(redis_client):
    """One account with AAPL, a trader and a viewer, and the account's risk limits queued for the worker."""
    return in_db(_make_desk)


def _make_desk() -> dict:
    from orders.services import risk_limits_publish

    account = BrokerAccountFactory(code="DU0000001", name="Paper one")
    RiskLimitFactory(account=account)
    InstrumentFactory(symbol="AAPL", con_id=265598, last_price=Decimal("100.00"))
    risk_limits_publish(account=account)
    trader = browser_user("trader", [Role.TRADER], [account])
    viewer = browser_user("viewer", [Role.VIEWER], [account])
    return {"account": account, "trader": trader, "viewer": viewer}
