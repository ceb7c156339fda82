"""The kill switch is absolute (#15 finding 2): from the moment an engage returns, no placeOrder of its
scope reaches the broker, whatever the worker had read, held or queued, running, reconnecting or down.

Orders are entered with ``order_submit`` and published by the relay; the worker is a real process
against the simulator over a socket; placeOrders are counted, with their arrival times, at the
simulator. The refusals are applied by the event bridge, so the orders show REJECTED.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import redis
from django.conf import settings
from django.db import transaction

from accounts.halt_barrier import DESK, halt_barrier_resync
from accounts.models import KillSwitch, OutboxMessage
from accounts.services import account_halt, account_resume, kill_switch_engage, kill_switch_release
from execution_worker import messages as m
from execution_worker.tests.harness import Bus, WorkerProcess, wait_until
from orders.models import Order, OrderStatus
from orders.services import order_submit
from streams import relay
from tws_simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.django_db

ONE, TWO = "DU0000001", "DU0000002"


@pytest.fixture
def sim():
    simulator = Simulator(SimulatorConfig(host="127.0.0.1", port=0, accounts=[ONE, TWO], seed=1, market_interval=0))
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def bus(redis_client):
    """The streams as the worker sees them (``redis_client`` wipes this deployment's keys around the test)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    bus = Bus(client, settings.STREAM_PREFIX)
    for code in (ONE, TWO):
        bus.set_limits(code, max_order_quantity=100_000)
    yield bus
    client.close()


@pytest.fixture
def start_worker(sim, bus, monkeypatch):
    started: list[WorkerProcess] = []

    def start(*, pacing_rate: float = 45.0, wait_ready: bool = True) -> WorkerProcess:
        monkeypatch.setenv("TC_WORKER_PACING_RATE", str(pacing_rate))
        ready_before = bus.count_ready()
        worker = WorkerProcess(redis_url=settings.REDIS_URL, prefix=settings.STREAM_PREFIX, port=sim.port, client_id=7)
        started.append(worker)
        if wait_ready:
            try:
                wait_until(lambda: bus.count_ready() > ready_before, 15, what="worker ready")
            except AssertionError:
                raise AssertionError(worker.output())
        return worker

    yield start
    for worker in started:
        worker.close()


def enter(account, instrument, count: int, first_quantity: int = 1) -> list[Order]:
    """``count`` limit orders of distinct quantities, entered and published to the command stream."""
    orders = [
        order_submit(
            actor=None,
            account=account,
            instrument=instrument,
            side="BUY",
            quantity=Decimal(first_quantity + i),
            order_type="LMT",
            limit_price=Decimal("100.00"),
            source="api",
            via="test",
        )
        for i in range(count)
    ]
    relay.publish_pending()
    return orders


def placed(sim, orders: list[Order]) -> dict[str, int]:
    """client_order_id -> arrival time (ns) at the simulator of the placeOrders of ``orders``."""
    refs = {str(o.client_order_id) for o in orders}
    return {p["order_ref"]: p["arrived_ns"] for p in sim.ledger.snapshot()["place_orders"] if p["order_ref"] in refs}


def refused(bus: Bus, orders: list[Order]) -> dict[str, str]:
    refs = {str(o.client_order_id) for o in orders}
    return {e.client_order_id: e.code for e in bus.events("order.rejected") if e.client_order_id in refs}


def settled(sim, bus: Bus, orders: list[Order], timeout: float = 20.0) -> tuple[dict, dict]:
    """Wait until each of ``orders`` was either placed at the simulator or refused; return both maps."""

    def done():
        at_broker, refusals = placed(sim, orders), refused(bus, orders)
        return (at_broker, refusals) if len(set(at_broker) | set(refusals)) == len(orders) else None

    return wait_until(done, timeout, what="every order placed or refused")


def drain(bridge) -> None:
    for _ in range(100):
        if bridge.step() == 0:
            return


def assert_shown_rejected(bridge, orders: list[Order], refusals: dict) -> None:
    drain(bridge)
    for order in orders:
        if str(order.client_order_id) in refusals:
            order.refresh_from_db()
            assert (order.status, order.reject_code) == (OrderStatus.REJECTED, "risk.halted")


def test_an_engage_while_the_worker_is_down_lets_nothing_out_when_it_starts(
    sim, bus, start_worker, account, instrument, risk_manager, bridge
):
    orders = enter(account, instrument, 20)
    kill_switch_engage(actor=risk_manager, reason="Runaway", via="test")
    relay.publish_pending()
    start_worker()
    _, refusals = settled(sim, bus, orders)
    assert sim.ledger.snapshot()["place_orders"] == []
    assert set(refusals.values()) == {"risk.halted"} and len(refusals) == 20
    assert_shown_rejected(bridge, orders, refusals)


def test_an_engage_during_a_tws_connectivity_loss_lets_none_of_the_held_orders_out_after_1102(
    sim, bus, start_worker, account, instrument, risk_manager, bridge
):
    start_worker(pacing_rate=10)
    orders = enter(account, instrument, 20)
    sim.control.connectivity_lost(restore=None)
    wait_until(
        lambda: any(e.state == "disconnected" and "1100" in e.detail for e in bus.events("gateway.status")),
        5,
        what="1100 seen by the worker",
    )
    ready_before = bus.count_ready()
    kill_switch_engage(actor=risk_manager, reason="Connectivity", via="test")
    returned_ns = time.time_ns()
    relay.publish_pending()
    time.sleep(0.3)
    sim.control.connectivity_restored("maintained")
    wait_until(lambda: bus.count_ready() > ready_before, 10, what="reconciled after 1102")
    at_broker, refusals = settled(sim, bus, orders)
    late = {ref: at for ref, at in at_broker.items() if at >= returned_ns}
    assert late == {}, f"{len(late)} placeOrder(s) after the engage returned"
    assert refusals, "the worker held no order back: the scenario did not happen"
    assert set(refusals.values()) == {"risk.halted"}
    assert_shown_rejected(bridge, orders, refusals)


def test_an_engage_mid_burst_stops_every_order_queued_behind_the_current_read(
    sim, bus, start_worker, account, instrument, risk_manager, bridge
):
    # Ten placeOrders a second: the burst of 40 (two and a half reads of 16) takes four seconds.
    start_worker(pacing_rate=10)
    orders = enter(account, instrument, 40)
    wait_until(lambda: len(placed(sim, orders)) >= 3, 5, what="the burst under way")
    kill_switch_engage(actor=risk_manager, reason="Runaway", cancel_working=False, via="test")
    returned_ns = time.time_ns()
    relay.publish_pending()
    at_broker, refusals = settled(sim, bus, orders)
    late = {ref: at for ref, at in at_broker.items() if at >= returned_ns}
    assert late == {}, f"{len(late)} placeOrder(s) after the engage returned"
    assert len(refusals) >= 10 and set(refusals.values()) == {"risk.halted"}
    assert_shown_rejected(bridge, orders, refusals)


def test_an_account_halt_stops_that_account_only_and_a_release_lets_new_orders_through(
    sim,
    bus,
    start_worker,
    account,
    other_account,
    instrument,
    risk_manager,
    django_capture_on_commit_callbacks,
):
    start_worker(pacing_rate=10)
    halted = enter(other_account, instrument, 20)
    account_halt(account=other_account, actor=None, reason="Margin call", via="test")
    returned_ns = time.time_ns()
    trading = enter(account, instrument, 3, first_quantity=100)
    at_broker, refusals = settled(sim, bus, halted + trading)
    assert not [
        at for ref, at in at_broker.items() if at >= returned_ns and ref in {str(o.client_order_id) for o in halted}
    ]
    assert set(placed(sim, trading)) == {str(o.client_order_id) for o in trading}
    assert refusals and set(refusals) <= {str(o.client_order_id) for o in halted}
    with django_capture_on_commit_callbacks(execute=True):
        account_resume(account=other_account, actor=None, via="test")
    relay.publish_pending()
    after = enter(other_account, instrument, 2, first_quantity=200)
    at_broker, refusals = settled(sim, bus, after)
    assert set(at_broker) == {str(o.client_order_id) for o in after} and not refusals


def test_a_released_kill_switch_lets_new_orders_through(
    sim, bus, start_worker, account, instrument, risk_manager, django_capture_on_commit_callbacks
):
    start_worker()
    kill_switch_engage(actor=risk_manager, reason="Pause", cancel_working=False, via="test")
    relay.publish_pending()
    with django_capture_on_commit_callbacks(execute=True):
        kill_switch_release(actor=risk_manager, via="test")
    assert DESK not in barrier(bus)
    relay.publish_pending()
    after = enter(account, instrument, 2, first_quantity=50)
    at_broker, _ = settled(sim, bus, after)
    assert set(at_broker) == {str(o.client_order_id) for o in after}


# --- the barrier itself ---------------------------------------------------------------------------


def barrier(bus: Bus) -> dict[str, bytes]:
    return {k.decode(): v for k, v in bus.client.hgetall(bus.names.halts).items()}


def test_engage_and_halt_write_the_barrier_before_they_return_and_resume_lifts_it_after_commit(
    bus, account, risk_manager, django_capture_on_commit_callbacks
):
    kill_switch_engage(actor=risk_manager, reason="Runaway", via="test")
    account_halt(account=account, actor=risk_manager, reason="Margin", via="test")
    assert set(barrier(bus)) == {DESK, account.code}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        account_resume(account=account, actor=risk_manager, via="test")
    assert set(barrier(bus)) == {DESK, account.code}, "lifted only once the resume commits"
    for callback in callbacks:
        callback()
    assert set(barrier(bus)) == {DESK}


def test_a_late_lift_of_a_release_never_removes_the_halt_of_a_later_engage(
    bus, risk_manager, django_capture_on_commit_callbacks
):
    kill_switch_engage(actor=risk_manager, reason="First", via="test")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        kill_switch_release(actor=risk_manager, via="test")
    kill_switch_engage(actor=risk_manager, reason="Second", via="test")
    for callback in callbacks:
        callback()
    assert b"Second" in barrier(bus)[DESK]


def test_resync_restores_a_barrier_redis_lost_and_clears_one_a_rolled_back_engage_left(bus, account, risk_manager):
    kill_switch_engage(actor=risk_manager, reason="Runaway", via="test")
    bus.client.delete(bus.names.halts)
    assert halt_barrier_resync() == 1
    assert b"Runaway" in barrier(bus)[DESK]
    assert halt_barrier_resync() == 0
    with pytest.raises(RuntimeError), transaction.atomic():
        account_halt(account=account, actor=risk_manager, reason="Oops", via="test")
        raise RuntimeError("the caller's transaction fails after the halt")
    assert account.code in barrier(bus), "fail-safe: written before the commit"
    assert halt_barrier_resync() == 1
    assert set(barrier(bus)) == {DESK}


def test_the_relay_loop_resyncs_the_barrier_every_few_seconds(bus, risk_manager):
    kill_switch_engage(actor=risk_manager, reason="Runaway", via="test")
    bus.client.delete(bus.names.halts)
    loop = relay.RelayLoop(poll_seconds=0.01, resync_seconds=1.0)
    loop.step()
    assert DESK in barrier(bus)
    bus.client.delete(bus.names.halts)
    loop.step()
    assert DESK not in barrier(bus), "not before resync_seconds"
    time.sleep(1.0)
    loop.step()
    assert DESK in barrier(bus)


def test_an_engage_with_redis_down_still_commits(settings, risk_manager):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    started = time.monotonic()
    kill_switch_engage(actor=risk_manager, reason="Redis is down", via="test")
    assert time.monotonic() - started < 5
    assert KillSwitch.objects.get(pk=1).engaged
    assert OutboxMessage.objects.filter(type="trading.halt").exists()


def test_an_order_command_from_a_strategy_is_refused_too(sim, bus, start_worker, risk_manager):
    """A strategy's own XADD of order.place meets the same claim."""
    start_worker()
    kill_switch_engage(actor=risk_manager, reason="Runaway", via="test")
    order = m.OrderPlace(
        client_order_id="00000000-0000-4000-8000-000000000001",
        account=ONE,
        symbol="AAPL",
        side="BUY",
        quantity=Decimal(3),
        order_type="MKT",
        source="strategy",
    )
    bus.send(order)
    assert bus.wait_event("order.rejected", client_order_id=order.client_order_id).code == "risk.halted"
    assert sim.ledger.snapshot()["place_orders"] == []
