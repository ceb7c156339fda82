"""The Celery configuration the exactly-once and no-overlap promises rest on."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings

from tradeconsole import celery as celery_module
from tradeconsole.celery import BrokerSettingNotApplied, app, assert_broker_settings, beat_schedule

ROOT = Path(__file__).resolve().parents[2]


def test_each_beat_entry_expires_after_one_period_so_a_late_run_is_dropped():
    schedule = beat_schedule(scheduler_tick=2.0, monitor_interval=5)

    assert schedule["monitoring-run"] == {
        "task": "orders.tasks.monitoring_run",
        "schedule": 5,
        "options": {"expires": 5},
    }
    assert schedule["scheduled-orders-fire"]["options"] == {"expires": 2.0}


def test_the_app_uses_the_beat_schedule_from_settings():
    entry = app.conf.beat_schedule["monitoring-run"]

    assert entry["schedule"] == settings.MONITOR_INTERVAL_SECONDS


def test_a_killed_worker_requeues_its_task_and_only_the_idempotent_firing_acks_late():
    from orders.tasks import monitoring_run, scheduled_orders_fire

    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.task_acks_late is False
    assert scheduled_orders_fire.acks_late is True
    assert monitoring_run.acks_late is False
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.timezone == "UTC" and app.conf.enable_utc


def test_the_broker_applies_the_configured_visibility_timeout():
    assert_broker_settings(app)  # raises when the transport ignored it (celery #7651)

    assert celery_module.effective_visibility_timeout(app) == float(
        settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    )


def test_a_visibility_timeout_the_broker_did_not_apply_stops_the_worker(monkeypatch):
    monkeypatch.setattr(celery_module, "effective_visibility_timeout", lambda _app: 3600.0)
    monkeypatch.setitem(app.conf.broker_transport_options, "visibility_timeout", 10)

    with pytest.raises(BrokerSettingNotApplied):
        assert_broker_settings(app)


def _calls_with_delay_keywords(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            names = {keyword.arg for keyword in node.keywords}
            if names & {"eta", "countdown"}:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_code_of_the_console_schedules_a_task_with_eta_or_countdown():
    # On the Redis broker a task waiting past the visibility timeout is delivered again (T25).
    sources = [
        path
        for app_dir in ("orders", "accounts", "strategies", "streams", "tradeconsole")
        for path in (ROOT / app_dir).rglob("*.py")
        if "tests" not in path.parts and "migrations" not in path.parts
    ]

    assert sources
    assert [hit for path in sources for hit in _calls_with_delay_keywords(path)] == []


def test_a_worker_process_freezes_what_it_loaded_at_start_out_of_the_collectors_scans():
    import gc

    from celery.signals import worker_process_init

    from tradeconsole.celery import _freeze_at_process_start

    assert _freeze_at_process_start in [ref() for _, ref in worker_process_init.receivers]
    try:
        _freeze_at_process_start()
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
