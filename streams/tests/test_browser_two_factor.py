"""Staff sign-in with a TOTP code in Debian's Chromium: a Risk manager enrols an authenticator where the
rule is enforced, then signs in with password and code (codes computed here as an authenticator app does)."""

from __future__ import annotations

import base64
import time

import pytest
from django_otp.oath import totp
from playwright.sync_api import expect

from accounts.models import Role
from streams.tests.harness import browser_user, in_db
from streams.tests.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(desk, tmp_path, monkeypatch):
    # The web process enforces the production rule: Risk managers and admins sign in with a code.
    monkeypatch.setenv("TRADECONSOLE_TWO_FACTOR_ENFORCED", "true")
    in_db(lambda: browser_user("risk", [Role.RISK_MANAGER], [desk["account"]]))
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as running:
        yield running


def code(secret: str, *, steps_ahead: int = 0) -> str:
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return f"{totp(key, step=30, t0=-steps_ahead * 30, digits=6):06d}"


def sign_in(page, url: str, username: str, token: str = "") -> None:
    page.goto(f"{url}/admin/login/?next=/admin/orders/order/")
    page.fill("#id_username", username)
    page.fill("#id_password", "password")
    if token:
        page.fill("#id_otp_token", token)
    page.click("input[type=submit]")


def test_a_risk_manager_enrols_an_authenticator_then_signs_in_with_password_and_code(stack, browser):
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, stack.url, "risk")
    # The password alone signs in, but every page leads to enrolment until a code confirms a key.
    page.wait_for_url(f"{stack.url}/admin/two-factor/**", timeout=10_000)
    page.goto(f"{stack.url}/live/orders/")
    page.wait_for_url(f"{stack.url}/admin/two-factor/**", timeout=10_000)
    expect(page.locator(".qr svg")).to_be_visible()
    secret = page.inner_text("#totp-secret").strip()
    assert page.inner_text("#otpauth-uri").startswith("otpauth://totp/tradeconsole%3Arisk?secret=" + secret)
    # Away from a step's last seconds, so the codes computed here are the server's.
    if time.time() % 30 > 25:
        time.sleep(31 - time.time() % 30)
    page.fill("#id_otp_token", code(secret))
    page.click("#enrol-form input[type=submit]")
    # On to the page it was kept from.
    page.wait_for_url(f"{stack.url}/live/orders/", timeout=10_000)
    context.close()

    # A new browser: the password alone is refused now, and password plus the next code signs in.
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, stack.url, "risk")
    expect(page.locator(".errornote")).to_contain_text("Enter the code of your authenticator app.")
    assert "/admin/login/" in page.url
    sign_in(page, stack.url, "risk", code(secret, steps_ahead=1))
    page.wait_for_url(f"{stack.url}/admin/orders/order/", timeout=10_000)
    page.goto(f"{stack.url}/live/orders/")
    expect(page).to_have_url(f"{stack.url}/live/orders/")
    context.close()
