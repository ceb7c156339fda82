"""The live pages render their snapshot for members; the controls call the services and respect roles."""

from __future__ import annotations

import re

import pytest

from orders.models import OrderStatus
from orders.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

PAGES = ["/live/", "/live/orders/", "/live/positions/", "/live/sessions/", "/live/market/", "/live/system/"]


@pytest.mark.parametrize("path", PAGES)
def test_every_live_page_renders_its_snapshot_with_a_cursor(client, trader, redis_client, path):
    client.force_login(trader)
    response = client.get(path)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="live-root"' in body and "data-cursor=" in body and "/ws/live/?page=" in body


@pytest.mark.parametrize("path", PAGES)
def test_live_pages_ask_an_anonymous_visitor_to_log_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_blotter_shows_the_users_orders_only_with_cancel_for_a_trader(
    client, trader, account, other_account, instrument, redis_client
):
    mine = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED)
    theirs = OrderFactory(account=other_account, instrument=instrument)
    client.force_login(trader)
    body = client.get("/live/orders/").content.decode()
    assert f'id="order-{mine.pk}"' in body and f'id="order-{theirs.pk}"' not in body
    assert "live-cancel" in body


def test_a_viewer_sees_no_cancel_button_and_a_cancel_post_is_refused(client, viewer, account, instrument, redis_client):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED)
    client.force_login(viewer)
    assert "live-cancel" not in client.get("/live/orders/").content.decode()
    response = client.post(f"/live/orders/{order.pk}/cancel")
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED


def test_a_trader_cancels_from_the_blotter_and_gets_the_new_row(client, trader, account, instrument, redis_client):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED)
    client.force_login(trader)
    response = client.post(f"/live/orders/{order.pk}/cancel")
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCEL_REQUESTED
    assert 'data-status="CANCEL_REQUESTED"' in response.content.decode()


def test_a_refused_cancel_answers_a_problem_the_page_shows_with_its_code(
    client, trader, account, instrument, redis_client
):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.FILLED)
    client.force_login(trader)

    page = client.get("/live/orders/").content.decode()
    response = client.post(f"/live/orders/{order.pk}/cancel")

    assert 'id="live-messages"' in page  # where live.js says why a control was refused
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["status"]) == ("order.not_cancellable", 409) and problem["detail"]


def test_cancelling_another_accounts_order_answers_not_found(client, trader, other_account, instrument, redis_client):
    order = OrderFactory(account=other_account, instrument=instrument, status=OrderStatus.SUBMITTED)
    client.force_login(trader)
    assert client.post(f"/live/orders/{order.pk}/cancel").status_code == 404


def test_a_risk_manager_halts_and_resumes_an_account_from_the_desk(client, risk_manager, account, redis_client):
    client.force_login(risk_manager)
    assert "Halt" in client.get("/live/").content.decode()
    # htmx sends the answer to the Halt button's prompt in the HX-Prompt header.
    assert client.post(f"/live/accounts/{account.pk}/halt", HTTP_HX_PROMPT="Position mismatch").status_code == 200
    account.refresh_from_db()
    assert not account.trading_enabled and account.halted_reason == "Position mismatch"
    assert client.post(f"/live/accounts/{account.pk}/resume").status_code == 200
    account.refresh_from_db()
    assert account.trading_enabled


def test_a_trader_may_not_halt_an_account(client, trader, account, redis_client):
    client.force_login(trader)
    assert client.post(f"/live/accounts/{account.pk}/halt").status_code == 403
    account.refresh_from_db()
    assert account.trading_enabled


def test_the_desk_asks_for_a_reason_before_halting_and_refuses_a_halt_without_one(
    client, risk_manager, account, redis_client
):
    client.force_login(risk_manager)

    page = client.get("/live/").content.decode()
    response = client.post(f"/live/accounts/{account.pk}/halt", HTTP_HX_PROMPT="  ")

    assert f'hx-prompt="Why halt trading on {account.code}?' in page
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("account.halt_reason_required", "reason")
    account.refresh_from_db()
    assert account.trading_enabled


def test_the_desk_shows_the_kill_switch_engaged_with_its_reason_and_released(
    client, trader, risk_manager, redis_client
):
    from accounts.services import kill_switch_engage, kill_switch_release

    client.force_login(trader)
    assert 'id="kill-switch" class="kill-switch released"' in client.get("/live/").content.decode()

    kill_switch_engage(actor=risk_manager, reason="Fat finger on DU0000001", via="admin")
    page = client.get("/live/").content.decode()

    assert 'id="kill-switch" class="kill-switch engaged"' in page
    assert "no new orders on any account" in page and "Fat finger on DU0000001" in page

    kill_switch_release(actor=risk_manager, via="admin")
    assert 'id="kill-switch" class="kill-switch released"' in client.get("/live/").content.decode()


def test_every_account_on_the_desk_says_halted_while_the_kill_switch_is_engaged(
    client, trader, risk_manager, account, redis_client
):
    from accounts.services import account_halt, kill_switch_engage, kill_switch_release

    def badge() -> str:
        # The badge and the reasons beside it, as read (issue 22: reasons shown, not hovered).
        page = client.get("/live/").content.decode()
        row = page.split(f'<tr id="account-{account.pk}"', 1)[1].split("</tr>", 1)[0]
        cell = row.split('<span class="badge ', 1)[1].split("<button", 1)[0]
        return " ".join(re.sub(r"<[^>]+>", " ", cell).split())

    client.force_login(trader)
    assert badge() == 'ok">trading'

    kill_switch_engage(actor=risk_manager, reason="Fat finger", via="admin")
    assert badge() == 'bad">halted kill switch: Fat finger'

    account_halt(account=account, actor=risk_manager, reason="Position mismatch", via="admin")
    assert badge() == 'bad">halted Position mismatch kill switch: Fat finger'

    kill_switch_release(actor=risk_manager, via="admin")
    assert badge() == 'bad">halted Position mismatch'  # halted on its own, still
