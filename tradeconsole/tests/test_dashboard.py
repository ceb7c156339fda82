"""The Grafana dashboard (ops/grafana/desk.json): valid JSON whose panels query only series the desk serves."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from execution_worker.config import WorkerConfig
from execution_worker.tests.harness import REDIS_URL
from execution_worker.worker import Worker
from marketdata.bar_loop import LoopCounts
from marketdata.builder import BuilderCounts
from strategies.runner import RunnerFigures
from streams.bridge import EventBridge
from streams.celery_signals import series
from streams.metrics import DeskFigures, StreamFigures

DASHBOARD = Path(__file__).resolve().parents[2] / "ops" / "grafana" / "desk.json"
SERIES = re.compile(r"\b((?:tradeconsole|django)_[a-z_]+)")
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def _names(registry) -> set[str]:
    return {family.name for family in registry.collect()}


@pytest.fixture
def served(client, redis_client) -> set[str]:
    """Every family name the processes serve (counters without their _total, as the parser names them)."""
    client.get("/health/live")  # django-prometheus makes its series with its middleware
    names = _names(REGISTRY)
    duration, failures = series()
    names |= {duration._name, failures._name}
    worker = Worker(WorkerConfig(redis_url=REDIS_URL, prefix="tcdashboard"))
    try:
        names |= _names(worker.metrics.registry)
    finally:
        worker.redis.close()
        worker.command_redis.close()
    bridge = EventBridge(consumer="dashboard")
    try:
        names |= {name for collector in (StreamFigures(bridge=bridge), DeskFigures()) for name in _described(collector)}
    finally:
        bridge.client.close()
    names |= {
        f"tradeconsole_marketdata_{f.name}" for f in dataclasses.fields(LoopCounts) + dataclasses.fields(BuilderCounts)
    }
    names |= {f"tradeconsole_runner_{f.name}" for f in dataclasses.fields(RunnerFigures)}
    return names


def _described(collector) -> set[str]:
    """A collector's families, read without a stream or row (names only)."""
    return {family.name for family in collector.collect()}


@pytest.mark.django_db
def test_the_dashboard_is_grafana_json_and_queries_only_served_series(served):
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "tradeconsole-desk" and dashboard["title"]
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len(panels) >= 12
    for panel in panels:
        assert panel["title"] and panel["targets"], panel
        for target in panel["targets"]:
            for name in SERIES.findall(target["expr"]):
                base = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s) and name[: -len(s)] in served), name)
                assert base in served, f"{panel['title']}: {name} is served by no process"
    titles = " ".join(panel["title"].lower() for panel in panels)
    for topic in ("latency", "per second", "lag", "backlog", "alerts", "processes", "gateway"):
        assert topic in titles, topic
