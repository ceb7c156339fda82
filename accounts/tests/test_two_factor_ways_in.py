"""The authenticator code on a way in that is not the login page: a script's token by HTTP Basic
(the live pages' WebSocket: streams/tests/test_two_factor_socket.py)."""

from __future__ import annotations

import base64

import pytest
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.tests.totp import code_of, enrolled

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_throttle_counts")]

TOKENS = reverse("api-v1:token-list")


def token_by_password(user, **body):
    basic = "Basic " + base64.b64encode(f"{user.username}:password".encode()).decode()
    return APIClient().post(TOKENS, body, format="json", HTTP_AUTHORIZATION=basic)


def test_an_enrolled_user_gets_a_token_by_password_only_with_the_current_code(settings, trader, totp_clock):
    settings.TWO_FACTOR_ENFORCED = False
    device = enrolled(trader)

    missing = token_by_password(trader)
    wrong = token_by_password(trader, otp_token="000000" if code_of(device) != "000000" else "111111")
    at_once = token_by_password(trader, otp_token=code_of(device))
    totp_clock.shift(2)  # django-otp's back-off after a wrong code: one second, doubling
    right = token_by_password(trader, otp_token=code_of(device))

    assert (missing.status_code, missing.json()["code"], missing.json()["field"]) == (
        401,
        "two_factor.token_required",
        "otp_token",
    )
    assert (wrong.status_code, wrong.json()["code"]) == (401, "two_factor.invalid_token")
    assert (at_once.status_code, at_once.json()["code"]) == (401, "two_factor.throttled")
    assert right.status_code == 201, right.content
    assert AuthToken.objects.filter(user=trader).count() == 1


def test_the_code_may_come_as_a_header(settings, trader, totp_clock):
    settings.TWO_FACTOR_ENFORCED = False
    device = enrolled(trader)
    basic = "Basic " + base64.b64encode(b"trader:password").decode()

    response = APIClient().post(TOKENS, {}, format="json", HTTP_AUTHORIZATION=basic, HTTP_X_OTP_CODE=code_of(device))

    assert response.status_code == 201, response.content


def test_where_enforced_a_risk_manager_without_an_authenticator_gets_no_token_by_password(settings, risk_manager):
    settings.TWO_FACTOR_ENFORCED = True

    response = token_by_password(risk_manager)

    assert (response.status_code, response.json()["code"]) == (401, "two_factor.enrol_first")
    assert not AuthToken.objects.exists()


def test_a_user_who_owes_no_code_gets_a_token_by_password_as_before(settings, trader):
    settings.TWO_FACTOR_ENFORCED = True

    assert token_by_password(trader).status_code == 201


def test_an_enrolled_user_lists_tokens_by_password_only_with_the_current_code(settings, trader, totp_clock):
    # The list names every token of the user (its key prefix, expiry, last use): a password alone
    # does not read it either.
    settings.TWO_FACTOR_ENFORCED = False
    device = enrolled(trader)
    basic = "Basic " + base64.b64encode(b"trader:password").decode()

    missing = APIClient().get(TOKENS, HTTP_AUTHORIZATION=basic)
    right = APIClient().get(TOKENS, HTTP_AUTHORIZATION=basic, HTTP_X_OTP_CODE=code_of(device))

    assert (missing.status_code, missing.json()["code"]) == (401, "two_factor.token_required")
    assert right.status_code == 200, right.content
