"""Sign-in lockouts (django-axes): the admin login and HTTP Basic on the token endpoint, by user name
and by client address, with 429 and Retry-After, audit rows, and an admin clearing a lockout."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.lockouts import LockoutSubjectInvalid, login_lockout_clear
from accounts.models import AuditLog

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_throttle_counts")]

LOGIN = "/admin/login/?next=/admin/"
TOKENS = reverse("api-v1:token-list")
LIMIT = 5
COOL_OFF = timedelta(minutes=15)
START = datetime(2031, 3, 4, 14, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def lockout_settings(settings):
    """The desk's defaults, stated here so the tests do not hang on the environment."""
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = COOL_OFF
    settings.PROXY_COUNT = 0


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def admin_login(username: str, password: str, address: str = "127.0.0.1", **headers):
    client = Client(REMOTE_ADDR=address, **headers)
    return client.post(LOGIN, {"username": username, "password": password}), client


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def token_request(username: str, password: str, address: str = "127.0.0.1", **headers):
    client = APIClient(REMOTE_ADDR=address, **headers)
    return client.post(TOKENS, {}, format="json", HTTP_AUTHORIZATION=basic(username, password))


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_the_admin_login_locks_a_user_name_out_after_five_failures_even_for_the_right_password(trader, clock):
    for _ in range(LIMIT - 1):
        response, _client = admin_login("trader", "wrong")
        assert response.status_code == 200  # the form again, with its error
    response, _client = admin_login("trader", "wrong")
    assert response.status_code == 429
    assert int(response["Retry-After"]) == COOL_OFF.total_seconds()

    clock.shift(timedelta(minutes=5))
    response, client = admin_login("trader", "password")

    assert response.status_code == 429
    assert int(response["Retry-After"]) == (COOL_OFF - timedelta(minutes=5)).total_seconds()
    assert b"Sign-in is locked" in response.content
    assert not signed_in(client)


def test_the_lockout_ends_a_cool_off_after_the_last_failure_and_refusals_do_not_extend_it(trader, clock):
    for _ in range(LIMIT):
        admin_login("trader", "wrong")
    clock.shift(COOL_OFF - timedelta(seconds=10))
    response, _client = admin_login("trader", "wrong")  # refused while locked: not counted
    assert response.status_code == 429 and response["Retry-After"] == "10"

    clock.shift(timedelta(seconds=11))
    response, client = admin_login("trader", "password")

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert signed_in(client)


def test_an_address_guessing_many_names_is_locked_out_for_every_name(trader, clock):
    for number in range(LIMIT):
        admin_login(f"nobody{number}", "guess", address="203.0.113.7")

    from_there, _client = admin_login("trader", "password", address="203.0.113.7")
    from_elsewhere, client = admin_login("trader", "password", address="198.51.100.1")

    assert from_there.status_code == 429
    assert from_elsewhere.status_code == 302 and signed_in(client)


def test_a_name_guessed_from_many_addresses_is_locked_out_from_every_address(trader, clock):
    for number in range(LIMIT):
        admin_login("trader", "guess", address=f"203.0.113.{number + 1}")

    response, client = admin_login("trader", "password", address="198.51.100.1")

    assert response.status_code == 429 and not signed_in(client)


def test_x_forwarded_for_is_not_trusted_without_a_proxy(trader, clock):
    for number in range(LIMIT):
        admin_login(f"nobody{number}", "guess", HTTP_X_FORWARDED_FOR=f"192.0.2.{number + 1}")

    response, _client = admin_login("trader", "password", HTTP_X_FORWARDED_FOR="192.0.2.99")

    assert response.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


def test_behind_one_proxy_the_address_it_appended_is_the_client(trader, clock, settings):
    settings.PROXY_COUNT = 1
    for number in range(LIMIT):
        # What the client sent itself comes first; the proxy appends the address it was reached from.
        admin_login(f"nobody{number}", "guess", HTTP_X_FORWARDED_FOR=f"10.9.9.{number}, 203.0.113.7")

    locked, _client = admin_login("trader", "password", HTTP_X_FORWARDED_FOR="203.0.113.7")
    other, client = admin_login("trader", "password", HTTP_X_FORWARDED_FOR="203.0.113.7, 198.51.100.1")

    assert locked.status_code == 429
    assert other.status_code == 302 and signed_in(client)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}


def test_failed_basic_authentications_on_the_token_endpoint_lock_out_with_a_problem(trader, clock):
    for _ in range(LIMIT - 1):
        assert token_request("trader", "wrong").status_code == 401
    assert token_request("trader", "wrong").status_code == 429

    clock.shift(timedelta(minutes=1))
    response = token_request("trader", "password")

    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == str(int((COOL_OFF - timedelta(minutes=1)).total_seconds()))
    body = response.json()
    assert body["code"] == "auth.locked_out" and body["status"] == 429
    assert not AuthToken.objects.exists()

    clock.shift(COOL_OFF)
    assert token_request("trader", "password").status_code == 201


def test_a_body_that_does_not_parse_still_counts_the_failure(trader, clock):
    client = APIClient()
    for _ in range(LIMIT):
        response = client.post(
            TOKENS, b"{broken", content_type="application/json", HTTP_AUTHORIZATION=basic("trader", "wrong")
        )
        assert response.status_code in (401, 429)

    assert token_request("trader", "password").status_code == 429


def test_the_admin_login_and_the_token_endpoint_share_the_count(trader, clock):
    for _ in range(3):
        admin_login("trader", "wrong")
    for _ in range(LIMIT - 3):
        token_request("trader", "wrong")

    assert token_request("trader", "password").status_code == 429
    assert admin_login("trader", "password")[0].status_code == 429


def test_a_lockout_writes_one_audit_row_saying_until_when(trader, clock):
    for _ in range(LIMIT):
        token_request("trader", "wrong")
    for _ in range(3):
        token_request("trader", "password")  # refused: no new lockout

    (row,) = AuditLog.objects.filter(action="login.locked_out")
    assert (row.object_type, row.object_id, row.via, row.actor) == ("accounts.user", str(trader.pk), "api", None)
    assert row.after["username"] == "trader" and row.after["ip_address"] == "127.0.0.1"
    assert row.after["failures"] == LIMIT
    assert row.after["locked_until"] == (START + COOL_OFF).isoformat()


def test_a_lockout_of_an_unknown_name_is_audited_against_the_attempt(db, clock):
    for _ in range(LIMIT):
        admin_login("ghost", "guess")

    (row,) = AuditLog.objects.filter(action="login.locked_out")
    assert row.object_type == "axes.accessattempt" and row.via == "admin"
    assert row.after["username"] == "ghost"


def test_an_admin_clears_a_user_names_lockout_and_it_is_audited(trader, admin_user, clock):
    for number in range(LIMIT):
        admin_login("trader", "guess", address=f"203.0.113.{number + 1}")
    assert admin_login("trader", "password")[0].status_code == 429
    ops = Client()
    ops.force_login(admin_user)

    changelist = ops.get(reverse("admin:axes_accessattempt_changelist"))
    response = ops.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "clear_user_names", "_selected_action": [AccessAttempt.objects.first().pk]},
    )

    assert changelist.status_code == 200 and b"trader" in changelist.content
    assert response.status_code == 302
    assert admin_login("trader", "password")[0].status_code == 302
    (row,) = AuditLog.objects.filter(action="login.lockout_cleared")
    assert (row.actor, row.object_id, row.via) == (admin_user, str(trader.pk), "admin")
    assert row.before == {"username": "trader", "ip_address": None, "failures": LIMIT}


def test_clearing_a_name_leaves_the_address_that_guessed_it_locked(trader, clock):
    for _ in range(LIMIT):
        admin_login("trader", "guess", address="203.0.113.7")

    login_lockout_clear(username="trader", actor=None, via="admin")

    assert admin_login("trader", "password", address="198.51.100.1")[0].status_code == 302
    assert admin_login("trader", "password", address="203.0.113.7")[0].status_code == 429
    assert admin_login("trader", "wrong", address="198.51.100.1")[0].status_code == 200  # the name counts from 0
    login_lockout_clear(ip_address="203.0.113.7", actor=None, via="admin")
    assert admin_login("trader", "password", address="203.0.113.7")[0].status_code == 302


def test_clearing_needs_exactly_one_subject(db):
    with pytest.raises(LockoutSubjectInvalid):
        login_lockout_clear(actor=None, via="admin")
    with pytest.raises(LockoutSubjectInvalid):
        login_lockout_clear(username="trader", ip_address="127.0.0.1", actor=None, via="admin")


def test_only_superusers_see_the_lockouts(trader, risk_manager):
    client = Client()
    client.force_login(risk_manager)

    assert client.get(reverse("admin:axes_accessattempt_changelist")).status_code == 403


def test_a_right_password_before_the_limit_still_signs_in(trader, clock):
    for _ in range(LIMIT - 1):
        admin_login("trader", "wrong")

    response, client = admin_login("trader", "password")

    assert response.status_code == 302 and signed_in(client)
