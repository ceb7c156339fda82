"""The trading-session admin: the add form's modes, versions, costs and limits; the Stop action's
reason and flatten step; the runner's fields shown read-only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditLog
from strategies.models import TradingSession
from strategies.services import strategy_version_approve, strategy_version_save
from strategies.tests.factories import StrategyFactory, TradingSessionFactory, template_graph

pytestmark = pytest.mark.django_db

SESSIONS_URL = reverse("admin:strategies_tradingsession_changelist")
ADD_URL = reverse("admin:strategies_tradingsession_add")


def add_form(version, account, instrument, **fields) -> dict:
    return {
        "strategy": version.strategy_id,
        "version": version.pk,
        "account": account.pk,
        "instrument": instrument.pk,
        "mode": "forward",
        "resolution": "5",
        "fee_model": "tiered",
        "slippage_model": "bps",
        "slippage_amount": "3",
        "max_position": "200",
        "max_daily_loss": "1500",
        "starting_equity": "75000",
        **fields,
    }


def test_the_add_form_offers_the_versions_labelled_by_strategy(admin_client, ema_version):
    form = admin_client.get(ADD_URL).context["adminform"].form
    assert [label for _, label in form.fields["version"].choices if label != "---------"] == [
        f"{ema_version.strategy.name} v1"
    ]
    assert {"mode", "instrument", "resolution", "fee_model", "slippage_model", "max_position", "max_daily_loss"} <= set(
        form.fields
    )


def test_a_session_added_in_the_admin_goes_through_the_service_with_every_field(
    admin_client, account, instrument, ema_version
):
    response = admin_client.post(ADD_URL, add_form(ema_version, account, instrument))
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    session = TradingSession.objects.get()
    assert (session.mode, session.version, session.instrument, session.resolution, session.status) == (
        "forward",
        ema_version,
        instrument,
        "5",
        "pending",
    )
    assert (session.fee_model, session.slippage_model, session.slippage_amount) == ("tiered", "bps", Decimal("3"))
    assert (session.max_position, session.max_daily_loss, session.starting_equity) == (
        200,
        Decimal("1500"),
        Decimal("75000"),
    )
    assert AuditLog.objects.get(action="trading_session.create").via == "admin"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"mode": "broker"}, "trading_session.version_not_approved"),
        ({"starting_equity": ""}, "trading_session.invalid"),
    ],
)
def test_a_session_the_service_refuses_is_not_added_and_the_refusal_is_shown(
    admin_client, account, instrument, ema_version, fields, code
):
    response = admin_client.post(ADD_URL, add_form(ema_version, account, instrument, **fields), follow=True)
    assert code in response.content.decode()
    assert not TradingSession.objects.exists()


def test_a_version_of_another_strategy_is_refused(admin_client, account, instrument, ema_version):
    other = StrategyFactory(name="Other")
    response = admin_client.post(ADD_URL, add_form(ema_version, account, instrument, strategy=other.pk), follow=True)
    assert "trading_session.invalid" in response.content.decode()
    assert not TradingSession.objects.exists()


def test_a_broker_session_of_an_approved_version_is_added(admin_client, risk_manager, account, instrument):
    strategy = StrategyFactory(name="Approved")
    version = strategy_version_save(actor=None, strategy=strategy, graph=template_graph("ema_crossover"), via="t")
    strategy_version_approve(actor=risk_manager, version=version, via="t")
    response = admin_client.post(ADD_URL, add_form(version, account, instrument, mode="broker", starting_equity=""))
    assert response.status_code == 302
    assert TradingSession.objects.get().mode == "broker"


def test_stop_asks_for_a_reason_and_whether_to_flatten_then_stops(client, trader, account):
    session = TradingSessionFactory(account=account, status="running")
    client.force_login(trader)
    asked = client.post(SESSIONS_URL, {"action": "stop_sessions", "_selected_action": [session.pk]})
    assert asked.status_code == 200
    assert asked.template_name == "admin/action_with_reason.html"
    assert set(asked.context["form"].fields) == {"reason", "flatten"}
    session.refresh_from_db()
    assert session.status == "running"

    # Without a reason, the same step again.
    again = client.post(SESSIONS_URL, {"action": "stop_sessions", "_selected_action": [session.pk], "apply": "1"})
    assert again.status_code == 200 and "reason" in again.context["form"].errors

    client.post(
        SESSIONS_URL,
        {
            "action": "stop_sessions",
            "_selected_action": [session.pk],
            "apply": "1",
            "reason": "Bad fills",
            "flatten": "on",
        },
    )
    session.refresh_from_db()
    assert (session.status, session.status_reason, session.flatten_on_stop) == ("stopped", "Bad fills", True)
    audit = AuditLog.objects.get(action="trading_session.stop")
    assert (audit.actor, audit.via, audit.after["status_reason"]) == (trader, "admin", "Bad fills")


def test_the_session_page_shows_the_runners_fields_read_only(client, trader, account):
    session = TradingSessionFactory(
        account=account, status="running", lease_owner="runner-7@host", last_bar_time=1_767_000_000
    )
    client.force_login(trader)
    response = client.get(reverse("admin:strategies_tradingsession_change", args=[session.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "runner-7@host" in page and "1767000000" in page
    assert 'name="lease_owner"' not in page and 'name="state"' not in page
