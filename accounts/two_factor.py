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
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Role

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
        token = (cleaned.get("otp_token") or "").strip()
        if not token:
            raise forms.ValidationError(self.error_messages["token_required"], code="token_required")
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            raise forms.ValidationError(self.error_messages["throttled"], code="throttled")
        if not device.verify_token(token):
            raise forms.ValidationError(self.error_messages["invalid_token"], code="invalid_token")
        user.otp_device = device
        return cleaned


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
