"""The worker's Prometheus series, on a loopback port of its own (``TC_WORKER_METRICS_PORT``).

Two histograms are observed on the order path (its latency and the pacing wait, fed by the same
``stats.Window`` samples the heartbeat summarises); everything else is read from the worker when
Prometheus scrapes (in-flight orders, pacing tokens, gateway state, connection attempts, orders sent
and refused, halted accounts), so it costs the order path nothing.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from execution_worker.connect_breaker import STATE_VALUES

log = logging.getLogger("execution_worker")

GATEWAY_STATES = ("disconnected", "connecting", "reconciling", "ready")
# The order path takes a few milliseconds; a pacing wait up to a second or so under a burst.
PATH_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, float("inf"))
WAIT_BUCKETS = (0.0, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, float("inf"))


class WorkerMetrics:
    """The series of one worker, in a registry of its own (a test may build many workers)."""

    def __init__(self, worker) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.order_path = Histogram(
            "tradeconsole_worker_order_path_seconds",
            "From the command's producer timestamp to placeOrder, less the pacing wait.",
            buckets=PATH_BUCKETS,
            registry=self.registry,
        )
        self.pacing_wait = Histogram(
            "tradeconsole_worker_pacing_wait_seconds",
            "How long an order waited for a pacing token before placeOrder.",
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(WorkerState(worker))

    def order_path_ms(self, value_ms: float) -> None:
        self.order_path.observe(value_ms / 1000.0)

    def pacing_wait_ms(self, value_ms: float) -> None:
        self.pacing_wait.observe(value_ms / 1000.0)

    def serve(self, port: int):
        """Serve the series on 127.0.0.1:``port``; None (logged) when the port is taken (never stops the worker)."""
        try:
            server, _thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        except OSError as error:
            log.warning("metrics not served on 127.0.0.1:%s (%s)", port, error)
            return None
        log.info("metrics on http://127.0.0.1:%s/metrics", port)
        return server


class WorkerState(Collector):
    """What the worker holds now, read at each scrape."""

    NAMES = (
        ("tradeconsole_worker_in_flight_orders", GaugeMetricFamily),
        ("tradeconsole_worker_pacing_tokens", GaugeMetricFamily),
        ("tradeconsole_worker_gateway_state", GaugeMetricFamily),
        ("tradeconsole_worker_connection_attempts", CounterMetricFamily),
        ("tradeconsole_worker_orders_sent", CounterMetricFamily),
        ("tradeconsole_worker_orders_rejected", CounterMetricFamily),
        ("tradeconsole_worker_pacing_violations", CounterMetricFamily),
        ("tradeconsole_worker_halted", GaugeMetricFamily),
        ("tradeconsole_worker_started_seconds", GaugeMetricFamily),
        ("tradeconsole_circuit_breaker_state", GaugeMetricFamily),
    )

    def __init__(self, worker) -> None:
        self.worker = worker

    def describe(self):
        """The names only: the registry checks them when the worker is still being built."""
        for name, family in self.NAMES:
            yield family(name, "")

    def collect(self):
        worker = self.worker
        yield GaugeMetricFamily(
            "tradeconsole_worker_in_flight_orders",
            "Orders sent to TWS and not yet answered.",
            value=len(worker._in_flight),
        )
        yield GaugeMetricFamily(
            "tradeconsole_worker_pacing_tokens",
            "Messages TWS may be sent now without waiting.",
            value=worker.pacing.tokens,
        )
        gateway = GaugeMetricFamily(
            "tradeconsole_worker_gateway_state",
            "1 for the state the TWS session is in, 0 for the others.",
            labels=["state"],
        )
        for state in GATEWAY_STATES:
            gateway.add_metric([state], 1.0 if worker.state == state else 0.0)
        yield gateway
        yield CounterMetricFamily(
            "tradeconsole_worker_connection_attempts",
            "TWS sessions the worker has opened or tried to (reconnects are all but the first).",
            value=worker.generation,
        )
        yield CounterMetricFamily(
            "tradeconsole_worker_orders_sent", "Orders given to placeOrder.", value=worker.orders_sent
        )
        yield CounterMetricFamily(
            "tradeconsole_worker_orders_rejected", "Orders refused (risk gate or TWS).", value=worker.orders_rejected
        )
        yield CounterMetricFamily(
            "tradeconsole_worker_pacing_violations",
            "TWS's pacing errors (100): messages it found too fast.",
            value=worker.pacing_violations,
        )
        yield GaugeMetricFamily(
            "tradeconsole_worker_halted", "Halts in force (accounts, or the whole desk).", value=len(worker.gate.halts)
        )
        yield GaugeMetricFamily(
            "tradeconsole_worker_started_seconds",
            "When the worker started (Unix time).",
            value=worker.started_ns / 1e9 if worker.started_ns else time.time(),
        )
        breaker = GaugeMetricFamily(
            "tradeconsole_circuit_breaker_state",
            "State of each circuit breaker of this process: 0 closed, 1 half-open, 2 open.",
            labels=["breaker"],
        )
        breaker.add_metric([worker.connect_breaker.name], STATE_VALUES.get(worker.connect_breaker.current_state, 0))
        yield breaker
