"""Test harness: the simulator in-process, the worker as a real subprocess, the streams on real Redis.

Every wait is bounded. ``check_ledger`` is the end-of-scenario checker: at most one placeOrder per
client_order_id that TWS took as a new order, and every execution the simulator sent is in the events stream.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import redis
from ibapi.contract import Contract
from ibapi.execution import Execution

from execution_worker import messages as m
from execution_worker.store import OrderRecord

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "DU0000001"
# The worker tests keep to their own Redis db unless told otherwise, so they never touch others' keys.
REDIS_URL = os.environ.get("TC_WORKER_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; return it, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Bus:
    """The worker's streams as seen from outside: send commands, read events and the DLQ."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.names = m.StreamNames(prefix)

    def send(self, *messages: m.Message) -> None:
        """XADD the commands atomically (so the worker sees them in one batch)."""
        pipe = self.client.pipeline(transaction=True)
        for message in messages:
            pipe.xadd(self.names.commands, m.encode(message))
        pipe.execute()

    def send_raw(self, fields: dict) -> bytes:
        return self.client.xadd(self.names.commands, fields)

    def events(self, type_name: str | None = None) -> list[m.Message]:
        out = []
        for _, fields in self.client.xrange(self.names.events):
            message = m.decode(fields)
            if type_name is None or type_name == message.TYPE:
                out.append(message)
        return out

    def dlq(self) -> list[dict]:
        return [
            {k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}
            for _, fields in self.client.xrange(self.names.dlq)
        ]

    def wait_event(self, type_name: str, timeout: float = 10.0, **match):
        """Wait for an event of ``type_name`` whose attributes equal ``match``; return it."""

        def find():
            for event in self.events(type_name):
                if all(getattr(event, k) == v for k, v in match.items()):
                    return event
            return None

        return wait_until(find, timeout, what=f"{type_name} {match}")

    def count_ready(self) -> int:
        return sum(1 for e in self.events("gateway.status") if e.state == "ready")

    def set_limits(self, account: str = ACCOUNT, **limits) -> None:
        import json

        self.client.set(self.names.risk_limits(account), json.dumps(limits))

    def pending(self) -> int:
        try:
            return self.client.xpending(self.names.commands, m.COMMANDS_GROUP)["pending"]
        except redis.ResponseError:
            return 0


class WorkerProcess:
    """``python -m execution_worker`` as a subprocess with fast timers; optional fault point."""

    def __init__(
        self, *, redis_url: str, prefix: str, port: int, client_id: int = 7, faultpoint: str = "", metrics_port: int = 0
    ) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="tc-worker-", suffix=".log", delete=False)  # noqa: SIM115
        env = dict(os.environ)
        env.update(
            {
                "REDIS_URL": redis_url,
                "TWS_HOST": "127.0.0.1",
                "TWS_PORT": str(port),
                "TWS_CLIENT_ID": str(client_id),
                "TRADECONSOLE_STREAM_PREFIX": prefix,
                "TC_WORKER_FAST_TIMERS": "1",
                "TC_FAULTPOINT": faultpoint,
                # No metrics port unless the test asks: parallel runs would contend for the default.
                "TC_WORKER_METRICS_PORT": str(metrics_port),
                "PYTHONPATH": str(ROOT),
            }
        )
        env.pop("DJANGO_SETTINGS_MODULE", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "execution_worker"], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill9(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def wait_exit(self, timeout: float = 10.0) -> int:
        return self.process.wait(timeout)

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                self.kill9()
        finally:
            self.log.close()
            os.unlink(self.log.name)


def place(symbol: str = "AAPL", quantity: str = "10", side: str = "BUY", **overrides) -> m.OrderPlace:
    values = {
        "client_order_id": str(uuid.uuid4()),
        "account": ACCOUNT,
        "symbol": symbol,
        "side": side,
        "quantity": Decimal(quantity),
        "order_type": "MKT",
    }
    values.update(overrides)
    if values.get("limit_price") is not None and values["order_type"] == "MKT":
        values["order_type"] = "LMT"
    return m.OrderPlace(**values)


def check_ledger(sim, bus: Bus, refused_ids: frozenset[int] = frozenset()) -> None:
    """Every client_order_id was placed at TWS at most once, and every execution is in the events stream.

    Two counts, because the simulator's ledger records each placeOrder frame as it arrives but not
    whether it was taken as a new order or as a modify: (1) the simulator's own orders (every
    placeOrder it accepted as NEW, including ones it then rejected) are counted per orderRef, so a
    second placement fails even under the same orderId (e.g. a modify re-sent for an order TWS never
    had); (2) distinct orderIds per orderRef in the ledger (``refused_ids`` are ids TWS refused with
    103), which still works after a simulator restart that dropped its orders.
    """
    new_orders: dict[str, int] = {}
    for order in sim.control.state()["orders"]:
        if not order.get("external") and order.get("order_ref"):
            new_orders[order["order_ref"]] = new_orders.get(order["order_ref"], 0) + 1
    placed_twice = {ref: count for ref, count in new_orders.items() if count > 1}
    assert not placed_twice, f"orders TWS took as new more than once: {placed_twice}"
    ledger = sim.ledger.snapshot()
    ids_per_ref: dict[str, set[int]] = {}
    for entry in ledger["place_orders"]:
        if entry["order_id"] in refused_ids:
            continue
        ids_per_ref.setdefault(entry["order_ref"], set()).add(entry["order_id"])
    doubled = {ref: ids for ref, ids in ids_per_ref.items() if len(ids) > 1}
    assert not doubled, f"orders placed more than once: {doubled}"
    reported = {e.exec_id for e in bus.events("order.filled")}
    missing = [x["exec_id"] for x in ledger["executions"] if x["exec_id"] not in reported]
    assert not missing, f"executions missing from the events stream: {missing}"


# The clientId the worker processes of the tests use (a second in-process worker takes the next one).
CLIENT_ID = 7


def orders_for(sim, coid: str) -> list[dict]:
    """The placeOrders the simulator received for ``coid`` (its orderRef), in arrival order."""
    return [p for p in sim.ledger.snapshot()["place_orders"] if p["order_ref"] == coid]


# An order the callback tests' worker holds as sent (orderId 5, account DU1), and its executions.
SENT_COID = "6f1c2d3e-0000-4000-8000-000000000001"


def execution_of(exec_id: str, ref: str = SENT_COID, shares: float = 10.0) -> tuple[Contract, Execution]:
    """An ibapi (Contract, Execution) pair of ``shares`` AAPL bought for order 5 (orderRef ``ref``)."""
    contract = Contract()
    contract.symbol = "AAPL"
    execution = Execution()
    execution.execId, execution.orderId, execution.orderRef = exec_id, 5, ref
    execution.acctNumber, execution.side, execution.shares, execution.price = "DU1", "BOT", shares, 190.01
    execution.time, execution.permId, execution.cumQty, execution.avgPrice = "20261121 18:01:10", 77, shares, 190.01
    return contract, execution


# Driving an in-process worker (``worker_in_process``) one step at a time.


def make_ready(worker) -> None:
    """Connect and reconcile the in-process worker with TWS, then read its limits."""
    worker.connection_step()
    assert worker.ready.is_set()
    worker.reload_limits()


def publish_all(worker) -> None:
    """Write the events the in-process worker queued (its publisher thread is not running)."""
    while worker.publish_step(0.01):
        pass


def handle_commands(worker, rounds: int = 20) -> None:
    """Run command steps until the stream has nothing left for this consumer (bounded), then publish."""
    for _ in range(rounds):
        if not worker.command_step():
            break
    publish_all(worker)


def record_order(worker, state: str, *, accepted: bool) -> OrderRecord:
    """Put an order in the worker's book and store as sending leaves it (state ``sent``), losing the
    answer leaves it (``unknown``), or TWS reported it (an IB status word); return its record."""
    coid = str(uuid.uuid4())
    order_id = worker.book.max_order_id + 50
    record = OrderRecord(
        client_order_id=coid,
        account=ACCOUNT,
        symbol="AAPL",
        side="BUY",
        quantity="5",
        order_type="LMT",
        limit_price="150",
        order_id=order_id,
        state=state,
        accepted=accepted,
        created_ns=time.time_ns(),
    )
    assert worker.store.record_new(record)
    worker.book.records[coid] = record
    worker.book.by_order_id[order_id] = coid
    worker.book.max_order_id = order_id
    return record
