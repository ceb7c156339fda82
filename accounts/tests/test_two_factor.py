"""Staff sign-in with a TOTP code: who must give one by role and mode, the login form, enrolment, the middleware."""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditLog, Role
from accounts.tests.factories import UserFactory
from accounts.tests.totp import code_of, enrolled
from accounts.two_factor import totp_device, two_factor_required
from accounts.two_factor_views import SESSION_KEY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_throttle_counts")]

LOGIN = "/admin/login/?next=/admin/"
ENROL = "/admin/two-factor/"


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def login(username: str, token: str = "") -> tuple:
    client = Client()
    return client.post(LOGIN, {"username": username, "password": "password", "otp_token": token}), client


@pytest.mark.parametrize(
    ("roles", "superuser", "enforced", "required"),
    [
        ([Role.RISK_MANAGER], False, True, True),
        ([Role.ADMIN], False, True, True),
        ([], True, True, True),
        ([Role.TRADER], False, True, False),
        ([Role.VIEWER], False, True, False),
        ([Role.RISK_MANAGER], False, False, False),
        ([Role.ADMIN], True, False, False),
    ],
)
def test_the_rule_requires_a_code_of_risk_managers_and_admins_only_where_enforced(
    settings, roles, superuser, enforced, required
):
    settings.TWO_FACTOR_ENFORCED = enforced
    user = UserFactory(roles=roles, is_superuser=superuser)
    assert two_factor_required(user) is required


def test_the_roles_are_a_setting(settings):
    settings.TWO_FACTOR_ENFORCED = True
    settings.TWO_FACTOR_ROLES = [Role.TRADER]
    assert two_factor_required(UserFactory(roles=[Role.TRADER])) is True
    assert two_factor_required(UserFactory(roles=[Role.RISK_MANAGER])) is False


def test_without_an_authenticator_and_not_enforced_the_password_alone_signs_in(settings, risk_manager):
    settings.TWO_FACTOR_ENFORCED = False
    response, client = login("risk")
    assert response.status_code == 302 and signed_in(client)
    assert client.get("/admin/").status_code == 200


def test_an_enrolled_user_must_give_the_current_code_even_where_not_enforced(settings, trader, totp_clock):
    settings.TWO_FACTOR_ENFORCED = False
    device = enrolled(trader)

    response, client = login("trader")
    assert response.status_code == 200 and not signed_in(client)
    assert "Enter the code of your authenticator app." in response.content.decode()

    response, client = login("trader", "000000" if code_of(device) != "000000" else "111111")
    assert response.status_code == 200 and not signed_in(client)
    assert "That code is not right" in response.content.decode()
    # django-otp holds the device a second after a wrong code, the right one included.
    response, client = login("trader", code_of(device))
    assert not signed_in(client) and "Too many wrong codes" in response.content.decode()
    totp_clock.shift(2)

    response, client = login("trader", code_of(device))
    assert response.status_code == 302 and signed_in(client)
    assert client.get("/admin/").status_code == 200
    # The code is spent: the same code cannot sign in twice.
    response, again = login("trader", code_of(device))
    assert not signed_in(again)


def test_where_enforced_a_risk_manager_without_an_authenticator_is_sent_to_enrol(settings, risk_manager, trader):
    settings.TWO_FACTOR_ENFORCED = True
    _response, client = login("risk")
    assert signed_in(client)
    page = client.get("/admin/orders/order/")
    assert page.status_code == 302 and page["Location"].startswith(ENROL)
    assert client.get("/live/orders/")["Location"].startswith(ENROL)
    # A trader is not held.
    _response, trader_client = login("trader")
    assert trader_client.get("/admin/").status_code == 200


def test_enrolling_confirms_the_key_by_its_first_code_and_verifies_the_session(settings, risk_manager, totp_clock):
    settings.TWO_FACTOR_ENFORCED = True
    _response, client = login("risk")
    page = client.get(ENROL)
    assert page.status_code == 200
    assert "otpauth://totp/tradeconsole%3Arisk?secret=" in page.content.decode()
    assert "<svg" in page.content.decode()
    key = client.session[SESSION_KEY]
    candidate = TOTPDevice(user=risk_manager, key=key)

    wrong = client.post(ENROL, {"otp_token": "12345x", "next": "/admin/"})
    assert wrong.status_code == 200 and totp_device(risk_manager) is None

    done = client.post(ENROL, {"otp_token": code_of(candidate), "next": "/admin/orders/order/"})
    assert done.status_code == 302 and done["Location"] == "/admin/orders/order/"
    device = totp_device(risk_manager)
    assert device is not None and device.key == key
    assert client.get("/admin/orders/order/").status_code == 200
    audit = AuditLog.objects.get(action="totp.enrol")
    assert audit.actor == risk_manager and audit.object_id == str(device.pk)

    # Signing in again takes the code; the one that confirmed the key is spent.
    _response, fresh = login("risk", code_of(device))
    assert not signed_in(fresh)
    totp_clock.shift(2)
    _response, fresh = login("risk", code_of(device, steps_ahead=1))
    assert signed_in(fresh)


def test_enrolling_again_replaces_the_authenticator(settings, trader, totp_clock):
    settings.TWO_FACTOR_ENFORCED = False
    old = enrolled(trader)
    _response, client = login("trader", code_of(old))
    client.get(ENROL)
    candidate = TOTPDevice(user=trader, key=client.session[SESSION_KEY])
    client.post(ENROL, {"otp_token": code_of(candidate)})
    assert list(TOTPDevice.objects.filter(user=trader).values_list("key", flat=True)) == [candidate.key]


def test_a_session_not_verified_of_an_enrolled_user_is_signed_out(settings, trader):
    settings.TWO_FACTOR_ENFORCED = False
    client = Client()
    client.force_login(trader)
    enrolled(trader)
    response = client.get("/admin/orders/order/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert not signed_in(client)


def test_the_health_endpoints_are_not_held(settings, risk_manager):
    settings.TWO_FACTOR_ENFORCED = True
    client = Client()
    client.force_login(risk_manager)
    assert client.get("/health/live").status_code == 200


def test_a_code_of_the_next_step_is_accepted_and_one_of_three_steps_ago_refused(settings, trader, totp_clock):
    settings.TWO_FACTOR_ENFORCED = False
    device = enrolled(trader)
    stale = code_of(device, steps_ahead=-3)
    assert stale != code_of(device)
    _response, client = login("trader", stale)
    assert not signed_in(client)
    totp_clock.shift(2)
    _response, client = login("trader", code_of(device, steps_ahead=1))
    assert signed_in(client)
