"""Backtests through the API and the Celery task, over bars stored in PostgreSQL: request, run, progress, cancel,
refusals and permissions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from accounts.models import AuditLog
from accounts.tests.factories import BrokerAccountFactory
from strategies.backtest import SlippageModel, run_backtest
from strategies.engine import compile_graph
from strategies.engine.tests.helpers import template
from strategies.models import Backtest
from strategies.services import strategy_version_save
from strategies.services.backtest_run import backtest_execute
from strategies.services.backtests import backtest_cancel, backtest_request
from strategies.tasks import run_backtest as run_backtest_task
from strategies.tests.conftest import END, START
from strategies.tests.factories import StrategyFactory

URL = "/api/v1/backtests/"


def body(ema_version, **overrides):
    data = {
        "version": ema_version.pk,
        "symbols": ["AAPL"],
        "resolution": "1",
        "start": START.isoformat(),
        "end": END.isoformat(),
        "starting_cash": "100000",
        "fee_model": "tiered",
        "slippage_model": "ticks",
        "slippage_amount": "1",
    }
    data.update(overrides)
    return data


def test_a_trader_queues_a_backtest_and_the_task_runs_it_over_the_stored_bars(
    api_client, trader, ema_version, stored_bars, eager, django_capture_on_commit_callbacks
):
    api_client.force_authenticate(trader)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(URL, body(ema_version), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "queued"
    backtest = Backtest.objects.get(pk=response.json()["id"])
    assert (backtest.status, backtest.progress, backtest.requested_by) == ("done", 100, trader)
    # The same bars through the backtester directly give the same trades and figures.
    expected = run_backtest(
        compile_graph(ema_version.graph),
        {"AAPL": stored_bars},
        starting_cash=100_000,
        fee_model="tiered",
        slippage=SlippageModel("ticks", 1),
    )
    got = api_client.get(f"{URL}{backtest.pk}/").json()
    assert got["results"]["metrics"]["trade_count"] == len(expected.trades) > 0
    assert got["results"]["metrics"]["final_equity"] == pytest.approx(expected.metrics["final_equity"])
    assert [t["entry_time"] for t in got["results"]["trades"]] == [t.entry_time for t in expected.trades]
    assert got["results"]["equity_curve"]["time"][0] == stored_bars[0].time
    assert got["metrics"]["sharpe"] == pytest.approx(expected.metrics["sharpe"])
    audited = AuditLog.objects.filter(object_type="strategies.backtest", object_id=str(backtest.pk))
    actions = list(audited.values_list("action", flat=True))
    assert sorted(actions) == ["backtest.done", "backtest.request"]


def test_progress_is_saved_between_chunks_and_a_cancel_stops_the_run(trader, ema_version, stored_bars, settings):
    settings.BACKTEST_MIN_CHUNK = 100
    with transaction.atomic():
        backtest = backtest_request(
            actor=trader, version=ema_version, symbols=["AAPL"], resolution="1", start=START, end=END,
            starting_cash=Decimal("10000"), via="test",
        )  # fmt: skip
    seen = []

    def cancel_after_the_fifth_chunk(done: int) -> None:
        seen.append(Backtest.objects.get(pk=backtest.pk).progress)
        if done == 500:
            backtest_cancel(actor=trader, backtest=backtest, via="test")

    assert backtest_execute(backtest_id=backtest.pk, after_chunk=cancel_after_the_fifth_chunk) == "cancelled"
    backtest.refresh_from_db()
    # 100-bar chunks of 1,500 bars: progress 6, 13, 20, 26 % saved before the cancel; nothing after it.
    assert seen == [0, 6, 13, 20, 26]
    assert (backtest.status, backtest.progress, backtest.results) == ("cancelled", 26, None)


def test_a_backtest_cancelled_while_queued_never_runs(api_client, trader, ema_version, stored_bars):
    api_client.force_authenticate(trader)
    created = api_client.post(URL, body(ema_version), format="json").json()
    response = api_client.post(f"{URL}{created['id']}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert run_backtest_task(created["id"]) == "cancelled"
    assert Backtest.objects.get(pk=created["id"]).results is None
    again = api_client.post(f"{URL}{created['id']}/cancel/")
    assert (again.status_code, again.json()["code"]) == (409, "backtest.not_cancellable")


def test_a_second_delivery_of_the_task_does_nothing(trader, ema_version, stored_bars):
    backtest = backtest_request(
        actor=trader, version=ema_version, symbols=["AAPL"], resolution="1", start=START, end=END,
        starting_cash=Decimal("10000"), via="test",
    )  # fmt: skip
    assert run_backtest_task(backtest.pk) == "done"
    finished = Backtest.objects.get(pk=backtest.pk).finished_at
    assert run_backtest_task(backtest.pk) == "done"
    assert Backtest.objects.get(pk=backtest.pk).finished_at == finished


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"symbols": ["NOPE"]}, "symbols"),
        ({"start": END.isoformat(), "end": START.isoformat()}, "end"),
        ({"starting_cash": "0"}, "starting_cash"),
    ],
)
def test_bad_requests_are_refused_with_a_code_and_store_nothing(
    api_client, trader, ema_version, stored_bars, overrides, field
):
    api_client.force_authenticate(trader)
    response = api_client.post(URL, body(ema_version, **overrides), format="json")
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("backtest.invalid", field)
    assert (Backtest.objects.count(), AuditLog.objects.filter(action="backtest.request").count()) == (0, 0)


def test_malformed_fields_are_refused_by_the_serializer(api_client, trader, ema_version):
    api_client.force_authenticate(trader)
    response = api_client.post(URL, body(ema_version, fee_model="cheap", resolution="7"), format="json")
    assert response.status_code == 400
    assert Backtest.objects.count() == 0


def test_a_viewer_reads_backtests_but_may_not_request_or_cancel(api_client, trader, viewer, ema_version, stored_bars):
    backtest = backtest_request(
        actor=trader, version=ema_version, symbols=["AAPL"], resolution="1", start=START, end=END,
        starting_cash=Decimal("10000"), via="test",
    )  # fmt: skip
    api_client.force_authenticate(viewer)
    assert api_client.post(URL, body(ema_version), format="json").status_code == 403
    assert api_client.post(f"{URL}{backtest.pk}/cancel/").status_code == 403
    listed = api_client.get(URL).json()["results"]
    assert [b["id"] for b in listed] == [backtest.pk] and "results" not in listed[0]
    assert api_client.get(f"{URL}{backtest.pk}/").json()["status"] == "queued"


def test_anonymous_callers_are_refused(api_client, ema_version):
    assert api_client.get(URL).status_code in (401, 403)
    assert api_client.post(URL, body(ema_version), format="json").status_code in (401, 403)


def test_backtests_of_a_strategy_on_another_account_are_hidden(api_client, trader, stored_bars):
    elsewhere = StrategyFactory()
    elsewhere.accounts.add(BrokerAccountFactory(code="DU0000099"))
    hidden = strategy_version_save(actor=None, strategy=elsewhere, graph=template("ema_crossover"), via="test")
    backtest = backtest_request(
        actor=None, version=hidden, symbols=["AAPL"], resolution="1", start=START, end=END,
        starting_cash=Decimal("10000"), via="test",
    )  # fmt: skip
    api_client.force_authenticate(trader)
    assert api_client.get(f"{URL}{backtest.pk}/").status_code == 404
    assert api_client.get(URL).json()["results"] == []
    assert api_client.post(URL, body(hidden), format="json").status_code == 404


def test_the_backtest_api_is_in_the_openapi_schema(api_client, trader):
    api_client.force_authenticate(trader)
    schema = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    assert {"/api/v1/backtests/", "/api/v1/backtests/{id}/", "/api/v1/backtests/{id}/cancel/"} <= set(schema["paths"])
    assert "post" in schema["paths"]["/api/v1/backtests/"]


def test_a_graph_the_compiler_now_refuses_fails_the_backtest_with_its_code(trader, ema_version, stored_bars):
    backtest = backtest_request(
        actor=trader, version=ema_version, symbols=["AAPL"], resolution="1", start=START, end=END,
        starting_cash=Decimal("10000"), via="test",
    )  # fmt: skip
    # As if the catalogue had changed under a stored version: its graph now has no action.
    type(ema_version).objects.filter(pk=ema_version.pk).update(graph={"nodes": [], "edges": []})
    assert run_backtest_task(backtest.pk) == "failed"
    backtest.refresh_from_db()
    assert (backtest.status, backtest.error_code, backtest.results) == ("failed", "graph.refused", None)
    assert backtest.finished_at is not None
