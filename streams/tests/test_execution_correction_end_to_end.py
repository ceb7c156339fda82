"""An execution correction from TWS, end to end: simulator, worker, bridge, book (issue 15, finding 5).

The simulator's ``correct_execution`` sends the last execution again under the next execId
revision (``….01.02``), as IB does. The book showed the order filled twice, the position twice
the broker's, and the monitor halted the account.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings

from execution_worker import messages as m
from execution_worker.messages.executions import corrects
from execution_worker.tests.harness import Bus, WorkerProcess, wait_until
from orders.models import Fill, OrderEvent, OrderStatus, Position
from streams import relay
from tws_simulator import Simulator, SimulatorConfig

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

CLIENT_ID = 7


@pytest.fixture
def sim():
    simulator = Simulator(SimulatorConfig(host="127.0.0.1", port=0, accounts=["DU0000001"], seed=1, market_interval=0))
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def worker(sim, redis_client, account):
    """The worker as a real process on the test's streams; limits as wide as the worker tests' (no collar:
    the simulator streams no prices here)."""
    bus = Bus(redis_client, settings.STREAM_PREFIX)
    bus.set_limits(account=account.code, max_order_quantity=100_000)
    process = WorkerProcess(
        redis_url=settings.REDIS_URL, prefix=settings.STREAM_PREFIX, port=sim.port, client_id=CLIENT_ID
    )
    try:
        wait_until(lambda: bus.count_ready() > 0, 30, what="the worker to be ready")
    except AssertionError:
        process.close()
        raise
    yield bus
    process.close()


def _step_until(bridge, predicate, what: str):
    def stepped():
        bridge.step()
        return predicate()

    return wait_until(stepped, 30, interval=0.05, what=what)


def test_a_correction_from_tws_replaces_the_fill_in_the_book(sim, worker, bridge, submit, account):
    order = submit(quantity=Decimal("16"), order_type="LMT", limit_price=Decimal("99.00"))
    relay.publish_pending()
    placed = wait_until(
        lambda: [p for p in sim.ledger.snapshot()["place_orders"] if p["order_ref"] == str(order.client_order_id)],
        20,
        what="placeOrder at TWS",
    )
    sim.control.fill_order(CLIENT_ID, placed[0]["order_id"])
    first = _step_until(bridge, lambda: Fill.objects.filter(order=order).first(), "the fill in the book")

    correction = sim.control.correct_execution()
    assert correction["correction_of"] == first.exec_id and corrects(correction["exec_id"], first.exec_id)
    reported = worker.wait_event("order.filled", exec_id=correction["exec_id"])
    assert reported.corrects == first.exec_id
    _step_until(
        bridge,
        lambda: Fill.objects.filter(exec_id=correction["exec_id"], commission__isnull=False).exists(),
        "the correction and its commission in the book",
    )

    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == (OrderStatus.FILLED, Decimal("16"))
    assert [f.exec_id for f in Fill.objects.filter(order=order)] == [correction["exec_id"]]
    assert OrderEvent.objects.filter(order=order, kind="fill.corrected").count() == 1
    # The book agrees with the broker's own position report.
    worker.send(m.BrokerRefresh(what=("positions",)))
    position = _step_until(
        bridge,
        lambda: Position.objects.filter(account=account, broker_quantity__isnull=False).first(),
        "the broker's position report",
    )
    assert position.quantity == position.broker_quantity == Decimal("16")
