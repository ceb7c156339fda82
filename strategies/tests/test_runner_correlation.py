"""A broker session's decision starts an order's path: its outbox rows carry a correlation id of their own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from accounts.models import OutboxMessage
from accounts.tests.factories import UserFactory
from logclock import correlation
from marketdata.tests.stored_bars import store_history_bars
from strategies.models import SessionDecision, TradingSession
from strategies.tests.runner_helpers import WARM, at, drain, feed_live, reference, runner, running_session

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_decision_places_its_order_under_a_fresh_correlation_id(redis_client, ema_version, account, aapl, walk):
    ema_version.approved_at, ema_version.approved_by = datetime(2026, 3, 1, tzinfo=UTC), UserFactory(username="risk")
    ema_version.save(update_fields=["approved_at", "approved_by"])
    aapl.last_price = walk[WARM].close
    aapl.save(update_fields=["last_price"])
    store_history_bars(aapl, walk[:WARM])
    decisions, _, _ = reference(ema_version, walk, WARM)
    first = next(i for i, b in enumerate(walk) if b.time == decisions[0][0])
    with time_machine.travel(at(walk[WARM - 1]), tick=True) as clock:
        session = running_session(ema_version, account, aapl, mode=TradingSession.Mode.BROKER)
        made = runner(redis_client)
        drain(made)
        feed_live(redis_client, made, aapl, walk[WARM : first + 1], clock)
    order = SessionDecision.objects.get(session=session).order
    row = OutboxMessage.objects.get(type="order.place", data__client_order_id=str(order.client_order_id))
    assert correlation.well_formed(row.correlation_id)
    # Bound for the decision only: the runner's next lines are not the order's.
    assert correlation.current() == ""
