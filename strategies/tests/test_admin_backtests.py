"""The backtests admin: the list with status and metrics, the detail with its metrics and chart data, Cancel."""

from __future__ import annotations

import json
from decimal import Decimal

from django.urls import reverse

from accounts.models import AuditLog
from strategies.models import Backtest
from strategies.services.backtests import backtest_request
from strategies.tasks import run_backtest as run_backtest_task
from strategies.tests.conftest import END, START

LIST_URL = reverse("admin:strategies_backtest_changelist")


def requested(actor, ema_version):
    return backtest_request(
        actor=actor, version=ema_version, symbols=["AAPL"], resolution="1", start=START, end=END,
        starting_cash=Decimal("100000"), via="test",
    )  # fmt: skip


def test_the_list_shows_status_and_headline_metrics(client, trader, ema_version, stored_bars):
    done, queued = requested(trader, ema_version), requested(trader, ema_version)
    run_backtest_task(done.pk)
    done.refresh_from_db()
    client.force_login(trader)
    page = client.get(LIST_URL).content.decode()
    expected = f"{done.metrics['total_return'] * 100:.2f} %"
    assert expected in page and f"{done.metrics['trade_count']:,}" in page
    assert f">{queued.pk}<" in page or f"/{queued.pk}/" in page


def test_the_detail_shows_the_metrics_and_carries_the_charts_data(client, trader, ema_version, stored_bars):
    backtest = requested(trader, ema_version)
    run_backtest_task(backtest.pk)
    backtest.refresh_from_db()
    client.force_login(trader)
    response = client.get(reverse("admin:strategies_backtest_change", args=[backtest.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Sharpe (annualised)" in page and "vendor/uplot/uPlot.iife.min.js" in page
    assert "lightweight-charts.standalone.production.js" in page
    charts = response.context["backtest_charts"]
    assert charts["equity"]["time"] == backtest.results["equity_curve"]["time"]
    assert charts["prices"]["candles"] and len(charts["prices"]["time"]) == len(stored_bars)
    assert [t["entry_time"] for t in charts["trades"]] == [
        t["entry_time"] for t in backtest.results["trades"] + backtest.results["open_trades"]
    ]
    assert json.loads(page.split('id="backtest-chart-data" type="application/json">')[1].split("</script>")[0])


def test_cancel_action_goes_through_the_service(client, trader, ema_version, stored_bars):
    backtest = requested(trader, ema_version)
    client.force_login(trader)
    response = client.post(LIST_URL, {"action": "cancel_selected", "_selected_action": [backtest.pk]})
    assert response.status_code == 302
    assert Backtest.objects.get(pk=backtest.pk).status == "cancelled"
    assert AuditLog.objects.filter(action="backtest.cancel", object_id=str(backtest.pk)).count() == 1


def test_a_viewer_is_not_offered_the_cancel_action(client, viewer, trader, ema_version, stored_bars):
    backtest = requested(trader, ema_version)
    client.force_login(viewer)
    response = client.post(LIST_URL, {"action": "cancel_selected", "_selected_action": [backtest.pk]})
    assert Backtest.objects.get(pk=backtest.pk).status == "queued"
    assert response.status_code in (200, 302)


ADD_URL = reverse("admin:strategies_backtest_add")


def request_form(ema_version, **overrides) -> dict:
    data = {
        "version": ema_version.pk, "symbols": "aapl", "resolution": "1",
        "start_0": "2026-03-01", "start_1": "00:00:00", "end_0": "2026-04-01", "end_1": "00:00:00",
        "starting_cash": "50000", "fee_model": "fixed", "slippage_model": "bps", "slippage_amount": "2",
    }  # fmt: skip
    data.update(overrides)
    return data


def test_a_trader_requests_a_backtest_from_the_admin_form(
    client, trader, ema_version, stored_bars, eager, django_capture_on_commit_callbacks
):
    client.force_login(trader)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(ADD_URL, request_form(ema_version))
    assert response.status_code == 302, response.content.decode()[:2000]
    backtest = Backtest.objects.get()
    assert (backtest.symbols, backtest.fee_model, backtest.slippage_model) == (["AAPL"], "fixed", "bps")
    assert (backtest.status, backtest.requested_by) == ("done", trader)
    assert AuditLog.objects.filter(action="backtest.request", object_id=str(backtest.pk)).count() == 1


def test_an_admin_form_refusal_is_a_message_and_stores_nothing(client, trader, ema_version, stored_bars):
    client.force_login(trader)
    response = client.post(ADD_URL, request_form(ema_version, symbols="NOPE"), follow=True)
    assert "NOPE" in response.content.decode()
    assert Backtest.objects.count() == 0


def test_a_viewer_has_no_request_form(client, viewer):
    client.force_login(viewer)
    assert client.get(ADD_URL).status_code == 403
