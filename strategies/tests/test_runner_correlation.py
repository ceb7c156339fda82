"""A broker session's decision starts an order's path: its outbox rows carry a correlation id of their own."""

from __future__ import annotations

import pytest
import time_machine

from accounts.models import OutboxMessage
from logclock import correlation
from strategies.models import SessionDecision, TradingSession
from strategies.tests.runner_helpers import WARM, at, broker_ready, drain, feed_live, runner, running_session

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_decision_places_its_order_under_a_fresh_correlation_id(redis_client, ema_version, account, aapl, walk):
    _, first = broker_ready(ema_version, aapl, walk)
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
