"""Notices (the live pages' toasts): a fill, a reject with its reason, a halt and the kill switch reach
every live page of the users entitled to them, once, over the live socket, and never anyone else's."""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from accounts.services import account_halt, account_resume, kill_switch_engage, kill_switch_release
from accounts.tests.factories import UserFactory
from orders.services import fill_record, order_mark_rejected
from streams import live, notices
from streams.tests.harness import commit
from tradeconsole.asgi import application

pytestmark = pytest.mark.django_db

HEADERS = [(b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1")]


@pytest.fixture(autouse=True)
def _setup_committed(sender):
    """What the fixtures announced goes out first, so each test receives only its own notices."""
    commit()


@pytest.fixture
def outsider(other_account):
    """A trader of the other account only."""
    return UserFactory(username="outsider", roles=[Role.TRADER], accounts=[other_account])


def _cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return b"cookie", f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def _open(user, page: str = "market", query: str = "") -> WebsocketCommunicator:
    """A live socket of ``user``'s ``page``, ready (its hello answered)."""
    cookie = await sync_to_async(_cookie)(user)
    communicator = WebsocketCommunicator(application, f"/ws/live/?page={page}{query}", headers=[*HEADERS, cookie])
    assert (await communicator.connect(timeout=3))[0]
    epoch = await sync_to_async(live.epoch)()
    await communicator.send_json_to({"type": "hello", "epoch": epoch, "cursor": {}})
    assert (await communicator.receive_json_from(timeout=3))["t"] == "ready"
    return communicator


async def _notices(communicator) -> list[dict]:
    """The notice rows of the next frame (one is expected)."""
    frame = await communicator.receive_json_from(timeout=3)
    assert frame["t"] == "rows", frame
    return [row for row in frame["rows"] if row["kind"] == notices.NOTICE]


def _committed(action):
    def run():
        action()
        commit()

    return sync_to_async(run)


def _fill(order, exec_id: str = "0001.01"):
    return fill_record(
        exec_id=exec_id,
        account=order.account,
        instrument=order.instrument,
        side="BUY",
        quantity=Decimal("10"),
        price=Decimal("100.25"),
        executed_at=timezone.now(),
        order=order,
    )


def test_a_fill_sends_one_notice_to_the_accounts_member_and_none_to_a_user_without_the_account(
    redis_client, submit, trader, outsider
):
    order = submit()
    commit()

    async def scenario():
        mine, theirs = await _open(trader), await _open(outsider)
        await _committed(lambda: _fill(order))()
        shown = await _notices(mine)
        assert len(shown) == 1
        toast = shown[0]
        assert toast["id"].startswith("notice-") and toast["data"] is None
        assert 'data-event="fill"' in toast["html"] and 'data-sticky="0"' in toast["html"]
        assert "BUY 10 AAPL @ 100.25 · DU0000001" in toast["html"] and "toast-ok" in toast["html"]
        # Once: nothing more to the member, nothing at all to the other account's trader.
        assert await mine.receive_nothing(timeout=0.3)
        assert await theirs.receive_nothing(timeout=0.1)
        await mine.disconnect()
        await theirs.disconnect()

    async_to_sync(scenario)()


def test_a_fill_delivered_again_by_the_bridge_sends_no_second_notice(redis_client, submit, trader):
    order = submit()
    _fill(order)
    commit()

    async def scenario():
        page = await _open(trader, "editor")
        await _committed(lambda: _fill(order))()
        assert await page.receive_nothing(timeout=0.3)
        await page.disconnect()

    async_to_sync(scenario)()


def test_a_rejected_order_notice_carries_its_reason_and_code_and_stays(redis_client, submit, trader):
    order = submit()
    commit()
    reason = "price 150 is more than 5.00% away from the last price 100"

    async def scenario():
        page = await _open(trader, "system")
        await _committed(
            lambda: order_mark_rejected(client_order_id=order.client_order_id, code="risk.price_collar", reason=reason)
        )()
        (toast,) = await _notices(page)
        assert 'data-event="reject"' in toast["html"] and 'data-sticky="1"' in toast["html"]
        assert " role=" not in toast["html"] and "Order rejected" in toast["html"]
        assert f"BUY 10 AAPL LMT 100 · DU0000001: {reason} (risk.price_collar)" in toast["html"]
        await page.disconnect()

    async_to_sync(scenario)()


def test_a_page_narrowed_to_one_account_still_gets_the_notices_of_the_users_other_accounts(
    redis_client, account, other_account, instrument, risk_manager
):
    both = UserFactory(username="both", roles=[Role.TRADER], accounts=[account, other_account])

    async def scenario():
        page = await _open(both, "blotter", f"&account={account.pk}")
        await _committed(lambda: account_halt(account=other_account, actor=None, reason="margin call", via="api"))()
        (toast,) = await _notices(page)
        assert 'data-event="halt"' in toast["html"] and "DU0000002: margin call" in toast["html"]
        await page.disconnect()

    async_to_sync(scenario)()


def test_an_account_halted_and_resumed_tells_its_members_with_the_reason(redis_client, account, trader, risk_manager):
    async def scenario():
        page = await _open(trader, "positions")
        halt = _committed(
            lambda: account_halt(
                account=account, actor=risk_manager, reason="Fat finger", cancel_working=True, via="api"
            )
        )
        await halt()
        frame = await page.receive_json_from(timeout=3)
        while not any(row["kind"] == notices.NOTICE for row in frame["rows"]):
            frame = await page.receive_json_from(timeout=3)
        (toast,) = [row for row in frame["rows"] if row["kind"] == notices.NOTICE]
        assert "Account halted" in toast["html"] and "toast-bad" in toast["html"]
        assert "DU0000001: Fat finger · working orders cancelled · by risk" in toast["html"]
        await _committed(lambda: account_resume(account=account, actor=risk_manager, via="api"))()
        frame = await page.receive_json_from(timeout=3)
        while not any(row["kind"] == notices.NOTICE for row in frame["rows"]):
            frame = await page.receive_json_from(timeout=3)
        assert any("Account resumed" in row["html"] for row in frame["rows"] if row["kind"] == notices.NOTICE)
        await page.disconnect()

    async_to_sync(scenario)()


def test_the_kill_switch_tells_every_user_with_its_reason_and_mode_and_its_release(
    redis_client, risk_manager, outsider, user
):
    async def scenario():
        theirs, nobodys = await _open(outsider, "editor"), await _open(user, "editor")
        await _committed(
            lambda: kill_switch_engage(actor=risk_manager, reason="flash crash", cancel_working=True, via="api")
        )()
        for page in (theirs, nobodys):
            (toast,) = await _notices(page)
            assert 'data-event="kill"' in toast["html"] and 'data-sticky="1"' in toast["html"]
            assert "Kill switch engaged" in toast["html"]
            assert "flash crash · working orders cancelled · by risk" in toast["html"]
        await _committed(lambda: kill_switch_release(actor=risk_manager, reason="all clear", via="api"))()
        (toast,) = await _notices(theirs)
        assert 'data-event="release"' in toast["html"] and "Orders allowed again: all clear" in toast["html"]
        await theirs.disconnect()
        await nobodys.disconnect()

    async_to_sync(scenario)()


def test_a_socket_whose_snapshot_was_read_after_a_notice_is_not_sent_it_again(redis_client, risk_manager, trader):
    cookie = _cookie(trader)

    async def scenario():
        first = await _open(trader, "editor")
        # A reconnecting page: its socket is open (receiving) while it reloads its snapshot.
        again = WebsocketCommunicator(application, "/ws/live/?page=editor", headers=[*HEADERS, cookie])
        assert (await again.connect(timeout=3))[0]
        await _committed(lambda: kill_switch_engage(actor=risk_manager, reason="halt all", via="api"))()
        assert len(await _notices(first)) == 1
        # The snapshot's cursor, read after the notice went out, is what the page says hello with.
        cursor = await sync_to_async(live.cursor)([live.notice_group(trader.pk)])
        assert cursor[live.notice_group(trader.pk)] >= 1
        epoch = await sync_to_async(live.epoch)()
        await again.send_json_to({"type": "hello", "epoch": epoch, "cursor": cursor})
        assert (await again.receive_json_from(timeout=3))["t"] == "ready"
        assert await again.receive_nothing(timeout=0.3)
        await first.disconnect()
        await again.disconnect()

    async_to_sync(scenario)()


def test_a_kill_switch_engaged_with_a_desk_flatten_says_cancel_and_flatten(
    redis_client, account, instrument, risk_manager
):
    from orders.models import Instrument
    from orders.services import kill_switch_cancel_and_flatten
    from orders.tests.factories import PositionFactory

    PositionFactory(account=account, instrument=Instrument.objects.get(symbol="AAPL"), quantity=Decimal("5"))
    kill_switch_cancel_and_flatten(actor=risk_manager, reason="flash crash", via="api")
    audited = {entry.pk for entry in _audit_rows()}

    (toast,) = notices.notice_rows(audited)
    assert toast["ctx"]["event"] == "kill" and "flash crash · cancel and flatten" in toast["ctx"]["text"]


def test_account_notices_go_to_members_and_superusers_and_never_to_inactive_users(
    account, trader, outsider, admin_user
):
    gone = UserFactory(username="gone", roles=[Role.TRADER], accounts=[account], is_active=False)
    account_halt(account=account, actor=None, reason="margin call", via="api")

    groups = notices.notice_groups(notices.notice_rows(entry.pk for entry in _audit_rows()))

    assert set(groups) == {live.notice_group(trader.pk), live.notice_group(admin_user.pk)}
    assert live.notice_group(gone.pk) not in groups and live.notice_group(outsider.pk) not in groups


def test_a_modify_the_broker_refused_is_told_with_its_reason_and_stays(redis_client, submit, trader):
    from orders.services import order_mark_command_rejected

    order = submit()
    commit()

    async def scenario():
        page = await _open(trader, "desk")
        await _committed(
            lambda: order_mark_command_rejected(
                client_order_id=order.client_order_id,
                action="modify",
                code="risk.max_quantity",
                reason="quantity 500 is above the account's limit of 100",
            )
        )()
        (toast,) = await _notices(page)
        assert 'data-event="refused"' in toast["html"] and 'data-sticky="1"' in toast["html"]
        assert "Modify refused" in toast["html"]
        assert "BUY 10 AAPL LMT · DU0000001: quantity 500 is above the account&#x27;s limit of 100" in toast["html"]
        assert "(risk.max_quantity)" in toast["html"]
        await page.disconnect()

    async_to_sync(scenario)()


def test_other_audited_changes_make_no_notice(submit):
    submit()

    assert notices.notice_rows(entry.pk for entry in _audit_rows()) == []


def _audit_rows():
    from accounts.models import AuditLog

    return AuditLog.objects.all()
