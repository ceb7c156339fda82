"""The worker's Prometheus series: served on its loopback port, parsed as Prometheus text, moving with orders."""

from __future__ import annotations

import requests
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from execution_worker.config import WorkerConfig
from execution_worker.tests.harness import CLIENT_ID, REDIS_URL, WorkerProcess, place, wait_until
from execution_worker.tests.private_redis import _free_port
from execution_worker.worker import Worker


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_running_worker_serves_its_series_and_an_order_moves_them(sim, bus, prefix):
    port = _free_port()
    worker = WorkerProcess(redis_url=REDIS_URL, prefix=prefix, port=sim.port, client_id=CLIENT_ID, metrics_port=port)
    try:
        wait_until(lambda: bus.count_ready() > 0, 15, what="worker ready")

        def scrape():
            try:
                return _samples(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text)
            except requests.ConnectionError:
                return None

        before = wait_until(scrape, 10, what="the metrics port")
        assert before[("tradeconsole_worker_gateway_state", (("state", "ready"),))] == 1
        assert before[("tradeconsole_worker_gateway_state", (("state", "disconnected"),))] == 0
        assert before[("tradeconsole_worker_connection_attempts_total", ())] >= 1
        assert before[("tradeconsole_worker_order_path_seconds_count", ())] == 0
        order = place(quantity="3")
        bus.send(order)
        bus.wait_event("order.accepted", client_order_id=order.client_order_id)
        after = wait_until(
            lambda: (s := scrape()) and s[("tradeconsole_worker_order_path_seconds_count", ())] == 1 and s,
            10,
            what="the order counted",
        )
        assert after[("tradeconsole_worker_orders_sent_total", ())] == 1
        assert after[("tradeconsole_worker_pacing_wait_seconds_count", ())] == 1
        assert after[("tradeconsole_worker_order_path_seconds_sum", ())] > 0
        assert ("tradeconsole_worker_in_flight_orders", ()) in after
        assert ("tradeconsole_worker_pacing_tokens", ()) in after
    finally:
        worker.close()


def test_the_state_series_read_the_worker_as_it_is_now(prefix):
    worker = Worker(WorkerConfig(redis_url=REDIS_URL, prefix=prefix))
    try:
        worker.state = "reconciling"
        worker.generation = 3
        worker._in_flight["a"] = 0.0
        worker.path_ms.add(2.5)
        worker.path_ms.add(4.0)
        worker.queue_ms.add(0.0)
        samples = _samples(generate_latest(worker.metrics.registry).decode())
        assert samples[("tradeconsole_worker_gateway_state", (("state", "reconciling"),))] == 1
        assert samples[("tradeconsole_worker_gateway_state", (("state", "ready"),))] == 0
        assert samples[("tradeconsole_worker_connection_attempts_total", ())] == 3
        assert samples[("tradeconsole_worker_in_flight_orders", ())] == 1
        assert samples[("tradeconsole_worker_order_path_seconds_count", ())] == 2
        assert abs(samples[("tradeconsole_worker_order_path_seconds_sum", ())] - 0.0065) < 1e-9
        assert samples[("tradeconsole_worker_order_path_seconds_bucket", (("le", "0.003"),))] == 1
        assert samples[("tradeconsole_worker_pacing_wait_seconds_count", ())] == 1
    finally:
        worker.redis.close()
        worker.command_redis.close()


def test_metrics_switched_off_leave_the_worker_without_series(prefix):
    worker = Worker(WorkerConfig(redis_url=REDIS_URL, prefix=prefix, metrics=False))
    try:
        assert worker.metrics is None
        worker.path_ms.add(1.0)
        assert worker.path_ms.summary()["n"] == 1
    finally:
        worker.redis.close()
        worker.command_redis.close()


def test_the_switch_and_port_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRADECONSOLE_METRICS", "off")
    monkeypatch.setenv("TC_WORKER_METRICS_PORT", "9555")
    config = WorkerConfig.from_env([])
    assert (config.metrics, config.metrics_port) == (False, 9555)
    monkeypatch.delenv("TRADECONSOLE_METRICS")
    monkeypatch.delenv("TC_WORKER_METRICS_PORT")
    assert (WorkerConfig.from_env([]).metrics, WorkerConfig.from_env([]).metrics_port) == (True, 9101)
