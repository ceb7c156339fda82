"""Fixtures every test may use: people in each role, two accounts, an instrument, an API client."""

from __future__ import annotations

from decimal import Decimal

import pytest
import time_machine
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tests.factories import BrokerAccountFactory, UserFactory
from orders.tests.factories import InstrumentFactory, RiskLimitFactory


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Give every transactional test a serialized rollback.

    A transactional test empties every table when it ends. Without a serialized rollback the
    flush re-creates content types and permissions under new ids, and the next test that does
    restore the serialized database then collides with them; the roles' groups (data
    migration) are lost as well. Restoring the snapshot for every transactional test keeps
    each one starting from the migrated database, whatever ran before it.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        fixtures = getattr(item, "fixturenames", ())
        transactional = (marker is not None and marker.kwargs.get("transaction")) or any(
            name in fixtures for name in ("transactional_db", "live_server")
        )
        if not transactional or (marker is not None and marker.kwargs.get("serialized_rollback")):
            continue
        kwargs = {**(marker.kwargs if marker is not None else {}), "transaction": True, "serialized_rollback": True}
        item.add_marker(pytest.mark.django_db(*(marker.args if marker is not None else ()), **kwargs), append=False)


@pytest.fixture(autouse=True)
def _published_before_the_flush(request):
    """In a transactional test, let the publishing thread finish before the tables are emptied.

    Commits there are published from a thread of this process (``streams.publish``). Left running,
    it reads the tables while the flush truncates them: the flush can fail on a deadlock, and the
    next test then starts with this one's rows. Setting up the database helper here, first, makes
    its flush run after this fixture's end.
    """
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        yield
        return
    request.getfixturevalue("_django_db_helper")
    yield
    from streams import publish

    assert publish.settle(timeout=10), "the publishing thread was still busy 10 s after the test"


@pytest.fixture(autouse=True)
def _clock_of_the_marker(request):
    """``@pytest.mark.clock(when)`` (or a module's ``pytestmark``): run with the clock at ``when``.

    For tests whose data carries dates (bars, sessions, reconciliation windows): whatever in the
    code reads today's date then reads that day, so the test means the same on any day. The clock
    ticks from there, so deadlines and timeouts still pass.
    """
    marker = request.node.get_closest_marker("clock")
    if marker is None:
        yield
        return
    with time_machine.travel(marker.args[0], tick=True):
        yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Hash test passwords with MD5: the real hasher costs ~0.3 s per user and proves nothing here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _closed_breakers():
    """Every test starts with no circuit breaker (tradeconsole.breakers): one that simulated an outage
    would otherwise leave the process's breaker open for the tests after it."""
    from tradeconsole import breakers

    breakers.reset_all()
    yield
    breakers.reset_all()


@pytest.fixture
def account(db):
    """A paper account with default risk limits; the role fixtures are its members."""
    account = BrokerAccountFactory(code="DU0000001", name="Paper one")
    RiskLimitFactory(account=account)
    return account


@pytest.fixture
def other_account(db):
    """A second account none of the role fixtures belongs to."""
    account = BrokerAccountFactory(code="DU0000002", name="Paper two")
    RiskLimitFactory(account=account)
    return account


@pytest.fixture
def instrument(db):
    """AAPL on SMART, tick 0.01, last traded at 100.00."""
    return InstrumentFactory(symbol="AAPL", con_id=265598, last_price=Decimal("100.00"))


@pytest.fixture
def user(db):
    """A signed-up person with no role and no account."""
    return UserFactory(username="someone")


@pytest.fixture
def viewer(account):
    return UserFactory(username="viewer", roles=[Role.VIEWER], accounts=[account])


@pytest.fixture
def trader(account):
    return UserFactory(username="trader", roles=[Role.TRADER], accounts=[account])


@pytest.fixture
def risk_manager(account):
    return UserFactory(username="risk", roles=[Role.RISK_MANAGER], accounts=[account])


@pytest.fixture
def admin_user(db):
    """A superuser in the Admin group (pytest-django's ``admin_client`` signs in as this user)."""
    return UserFactory(username="admin", roles=[Role.ADMIN], is_superuser=True, is_staff=True)


@pytest.fixture
def api_client():
    """An unauthenticated DRF client; call ``force_authenticate`` or log in as needed."""
    return APIClient()


@pytest.fixture
def fresh_throttle_counts(settings):
    """Forget the API throttles' counts of earlier runs (user ids repeat after the test database is recreated)."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(f"{settings.STREAM_PREFIX}:throttle:*"))
    if keys:
        client.delete(*keys)
    yield
    client.close()


@pytest.fixture
def redis_client():
    """The Django side's real Redis (``get_redis`` on ``REDIS_URL``), this deployment's keys
    (``{STREAM_PREFIX}:*``) wiped before and after the test."""
    from django.conf import settings

    from streams.redis_client import get_redis

    client = get_redis()

    def wipe() -> None:
        keys = list(client.scan_iter(match=f"{settings.STREAM_PREFIX}:*", count=1000))
        if keys:
            client.delete(*keys)

    wipe()
    yield client
    wipe()


@pytest.fixture
def totp_clock():
    """A still clock a few seconds into a 30-second TOTP step (``accounts.tests.totp.START``): the
    authenticator codes a test computes are the server's."""
    import time_machine

    from accounts.tests.totp import START

    with time_machine.travel(START, tick=False) as traveller:
        yield traveller
