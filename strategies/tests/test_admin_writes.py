"""The strategies admin writes strategies and new sessions through the audited services only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditLog, Role
from accounts.tests.factories import AccountMembershipFactory, UserFactory
from orders.tests.factories import InstrumentFactory
from strategies.models import Strategy, TradingSession
from strategies.services import strategy_version_save
from strategies.tests.factories import StrategyFactory, template_graph

pytestmark = pytest.mark.django_db

STRATEGY_ADD_URL = reverse("admin:strategies_strategy_add")
SESSION_ADD_URL = reverse("admin:strategies_tradingsession_add")


def strategy_form(accounts, parameters: str = '{"fast": 10}', **fields) -> dict:
    return {
        "name": "Breakout",
        "description": "",
        "parameters": parameters,
        "accounts": [account.pk for account in accounts],
        "enabled": "on",
        **fields,
    }


def session_form(strategy, account, **fields) -> dict:
    """The add form of a forward test of ``strategy``'s version 1 (saved here) on AAPL."""
    version = strategy_version_save(actor=None, strategy=strategy, graph=template_graph("ema_crossover"), via="t")
    values = {
        "strategy": strategy.pk,
        "version": version.pk,
        "account": account.pk,
        "instrument": InstrumentFactory(symbol="AAPL").pk,
        "mode": "forward",
        "resolution": "1",
        "fee_model": "fixed",
        "slippage_model": "none",
        "slippage_amount": "0",
        "starting_equity": "50000",
    }
    return {**values, **fields}


def test_adding_a_strategy_in_the_admin_writes_its_audit_row(admin_client, account):
    assert admin_client.post(STRATEGY_ADD_URL, strategy_form([account])).status_code == 302
    strategy = Strategy.objects.get(name="Breakout")
    audit = AuditLog.objects.get()
    assert (audit.action, audit.via, audit.object_id) == ("strategy.create", "admin", str(strategy.pk))
    assert audit.after["accounts"] == [account.code]


def test_editing_a_strategy_in_the_admin_audits_the_change(admin_client, account):
    strategy = StrategyFactory(name="Breakout", parameters={"fast": 10})
    url = reverse("admin:strategies_strategy_change", args=[strategy.pk])
    form = strategy_form([account], '{"fast": 12}', description=strategy.description)
    assert admin_client.post(url, form).status_code == 302
    strategy.refresh_from_db()
    assert (strategy.parameters, list(strategy.accounts.all())) == ({"fast": 12}, [account])
    audit = AuditLog.objects.get()
    assert (audit.action, audit.via) == ("strategy.update", "admin")
    assert audit.before == {"parameters": {"fast": 10}, "accounts": []}
    assert audit.after == {"parameters": {"fast": 12}, "accounts": [account.code]}


def test_editing_a_strategy_keeps_the_accounts_of_other_desks(client, account, other_account):
    strategist = UserFactory(username="strategist", roles=[Role.ADMIN], accounts=[account])
    strategy = StrategyFactory(name="Breakout")
    strategy.accounts.add(account, other_account)
    client.force_login(strategist)
    url = reverse("admin:strategies_strategy_change", args=[strategy.pk])
    assert client.post(url, strategy_form([], description="Only ours unticked")).status_code == 302
    assert list(strategy.accounts.all()) == [other_account]
    audit = AuditLog.objects.get()
    assert (audit.before["accounts"], audit.after["accounts"]) == (
        [account.code, other_account.code],
        [other_account.code],
    )


def test_opening_a_session_in_the_admin_writes_it_pending_with_its_audit_row(client, session_opener, account):
    strategy = StrategyFactory(name="Breakout")
    strategy.accounts.add(account)
    client.force_login(session_opener)
    response = client.post(SESSION_ADD_URL, session_form(strategy, account))
    assert response.status_code == 302
    session = TradingSession.objects.get()
    assert (session.status, session.strategy, session.account) == ("pending", strategy, account)
    audit = AuditLog.objects.get(action="trading_session.create")
    assert (audit.action, audit.via, audit.account, audit.object_id) == (
        "trading_session.create",
        "admin",
        account,
        str(session.pk),
    )


def test_a_session_the_strategy_may_not_trade_shows_the_refusal_and_opens_nothing(
    client, session_opener, account, other_account
):
    # The opener sees the strategy (it trades one of their accounts) but not on this account.
    AccountMembershipFactory(user=session_opener, account=other_account)
    strategy = StrategyFactory(name="Elsewhere")
    strategy.accounts.add(other_account)
    client.force_login(session_opener)
    response = client.post(SESSION_ADD_URL, session_form(strategy, account), follow=True)
    assert "strategy.account_not_allowed" in response.content.decode()
    assert not TradingSession.objects.exists()
    assert not AuditLog.objects.filter(action="trading_session.create").exists()


def test_the_session_form_offers_only_the_users_accounts(client, session_opener, account, other_account):
    client.force_login(session_opener)
    form = client.get(SESSION_ADD_URL).context["adminform"].form
    assert list(form.fields)[:4] == ["strategy", "version", "account", "instrument"]
    assert list(form.fields["account"].queryset) == [account]


def test_a_trader_without_the_permission_cannot_open_sessions(client, trader, account):
    client.force_login(trader)
    strategy = StrategyFactory(name="Breakout")
    response = client.post(SESSION_ADD_URL, {"strategy": strategy.pk, "account": account.pk})
    assert response.status_code == 403
    assert not TradingSession.objects.exists()
