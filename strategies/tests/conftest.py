"""Fixtures of the strategies tests (factories are in ``factories.py``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission

from accounts.models import Role
from accounts.tests.factories import UserFactory
from marketdata.tests.stored_bars import store_history_bars
from orders.tests.factories import InstrumentFactory
from strategies.engine.tests.helpers import template, walk_bars
from strategies.services import strategy_version_save
from strategies.tests.factories import StrategyFactory
from tradeconsole.celery import app as celery_app

# The backtests' stored bars: 1,500 one-minute bars from 2026-03-02, inside [START, END).
BARS = 1500
START, END = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture
def session_opener(account):
    """A Trader who may also open sessions (the strategies.add_tradingsession permission)."""
    person = UserFactory(username="opener", roles=[Role.TRADER], accounts=[account])
    person.user_permissions.add(Permission.objects.get(codename="add_tradingsession"))
    return person


@pytest.fixture
def eager():
    """Celery runs a task in the caller, as the worker would, once the request's transaction commits."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def stored_bars(db):
    """1,500 one-minute bars of AAPL (a random walk over XNYS sessions from 2026-03-02) in marketdata.Bar."""
    bars = walk_bars(BARS, seed=19)
    store_history_bars(InstrumentFactory(symbol="AAPL"), bars)
    return bars


@pytest.fixture
def ema_version(db):
    """Version 1 of a new strategy: the EMA crossover template, saved by the desk."""
    return strategy_version_save(actor=None, strategy=StrategyFactory(), graph=template("ema_crossover"), via="test")


# The runner tests' instrument and bars (strategies.tests.runner_helpers: WARM, LIVE).
@pytest.fixture
def aapl(db):
    return InstrumentFactory(symbol="AAPL")


@pytest.fixture
def walk():
    from strategies.tests.runner_helpers import LIVE, WARM

    return walk_bars(WARM + LIVE, seed=23)
