"""Staff sign-in with a TOTP code (django-otp): who must give one, the admin login form, and the middleware.

A user who enrolled an authenticator (a confirmed ``TOTPDevice``) always signs in with password
and code. Where ``settings.TWO_FACTOR_ENFORCED`` (production by default), the roles of
``settings.TWO_FACTOR_ROLES`` (Risk manager and Admin; superusers count as Admin) must sign in
with a code: one who has not enrolled yet signs in with the password and is sent to the
enrolment page (``accounts.two_factor_views``) until an authenticator is confirmed.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Role
from tradeconsole.exceptions import ApplicationError

# Paths an unverified user who must give a code may still reach: signing in and out, enrolling,
# the static files of those pages, and the machines' endpoints (which need no user).
OPEN_PATHS = ("/admin/login/", "/admin/logout/", "/admin/two-factor/", "/static/", "/health/", "/metrics")


def totp_device(user) -> TOTPDevice | None:
    """Return the user's confirmed authenticator, or None when the user has not enrolled one."""
    if not user.is_authenticated:
        return None
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("-pk").first()


def two_factor_required(user) -> bool:
    """Say whether the desk's rule makes ``user`` sign in with a code even before enrolling.

    Only where enforced, and only for the roles named in ``settings.TWO_FACTOR_ROLES``
    (a superuser holds the Admin role).
    """
    if not settings.TWO_FACTOR_ENFORCED or not user.is_authenticated:
        return False
    roles = set(settings.TWO_FACTOR_ROLES)
    if user.is_superuser and Role.ADMIN in roles:
        return True
    return user.groups.filter(name__in=roles).exists()


class DeskLoginForm(AdminAuthenticationForm):
    """The admin login: user name, password and, for a user with an authenticator, its current code.

    A wrong or missing code refuses the sign-in; django-otp throttles a device's failed codes,
    and its ``user_logged_in`` receiver marks the session verified with the device set here.
    """

    otp_token = forms.CharField(
        label="Authenticator code",
        required=False,
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text="The 6-digit code of your authenticator app, if you enrolled one.",
    )
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "token_required": "Enter the code of your authenticator app.",
        "invalid_token": "That code is not right (or was used already); wait for the next one and try again.",
        "throttled": "Too many wrong codes: wait a little before the next try.",
    }

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        device = totp_device(user) if user is not None else None
        if device is None:
            return cleaned
        refused = code_refusal(device, cleaned.get("otp_token"))
        if refused:
            raise forms.ValidationError(self.error_messages[refused], code=refused)
        user.otp_device = device
        return cleaned


def code_refusal(device: TOTPDevice, token: str | None) -> str | None:
    """Check ``token`` against ``device``; None when it is the current code, else why not:
    ``token_required``, ``throttled`` (django-otp's back-off after wrong codes) or ``invalid_token``.

    The one check of a code for every way in: the login form, the API's HTTP Basic token creation.
    """
    token = (token or "").strip()
    if not token:
        return "token_required"
    allowed, _ = device.verify_is_allowed()
    if not allowed:
        return "throttled"
    if not device.verify_token(token):
        return "invalid_token"
    return None


class TwoFactorCodeRefused(ApplicationError):
    """A script's sign-in by password alone, refused: the user must give an authenticator code."""

    http_status = 401
    messages = {
        "token_required": "This user signs in with an authenticator code: send it as otp_token (or X-OTP-Code).",
        "invalid_token": DeskLoginForm.error_messages["invalid_token"],
        "throttled": DeskLoginForm.error_messages["throttled"],
        "enrol_first": "This user must enrol an authenticator (in the admin) before signing in by password.",
    }

    def __init__(self, reason: str) -> None:
        self.code = f"two_factor.{reason}"
        super().__init__(self.messages[reason], field="otp_token")


def password_sign_in_check(user, token: str | None) -> None:
    """Hold a sign-in by user name and password (the API's HTTP Basic) to the login page's rule.

    :raises TwoFactorCodeRefused: the user has an authenticator and ``token`` is not its current
        code (``two_factor.token_required``, ``.invalid_token``, ``.throttled``), or the desk's rule
        requires one of the user and none is enrolled (``two_factor.enrol_first``).
    """
    device = totp_device(user)
    if device is None:
        if two_factor_required(user):
            raise TwoFactorCodeRefused("enrol_first")
        return
    refused = code_refusal(device, token)
    if refused:
        raise TwoFactorCodeRefused(refused)


def session_verified(user, session) -> bool:
    """Say whether ``session`` (a signed-in ``user``'s) may be served as the HTTP pages would serve it.

    For the live pages' WebSocket, which ``TwoFactorMiddleware`` does not see: a user with an
    authenticator needs a session django-otp verified with one of the user's devices; a user the
    rule requires who has none has not enrolled yet and is not served either.
    """
    device = totp_device(user)
    if device is None:
        return not two_factor_required(user)
    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    verified = Device.from_persistent_id(persistent_id) if persistent_id else None
    return verified is not None and verified.user_id == user.pk


class TwoFactorMiddleware:
    """Keep a signed-in user who must give a code, and has not, away from every page but enrolment.

    Runs after django-otp's ``OTPMiddleware``. A user with an authenticator whose session was
    not verified (signed in before enrolling elsewhere, or by another route) is signed out and
    sent to the login page; a user the rule requires who has none is sent to enrol.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or request.path.startswith(OPEN_PATHS):
            return self.get_response(request)
        if user.is_verified():
            return self.get_response(request)
        if totp_device(user) is not None:
            logout(request)
            return HttpResponseRedirect(f"{reverse('admin:login')}?next={request.get_full_path()}")
        if two_factor_required(user):
            return HttpResponseRedirect(f"{reverse('two-factor-enrol')}?next={request.get_full_path()}")
        return self.get_response(request)
