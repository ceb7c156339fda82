"""The enrolment page of a staff user's authenticator: its key as an otpauth URI and QR code, confirmed by a code."""

from __future__ import annotations

import io

from django import forms
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice, default_key
from django_otp.qr import write_qrcode_image

from accounts.exceptions import TotpCodeInvalid
from accounts.services import totp_enrol
from accounts.two_factor import totp_device, two_factor_required

# The key being enrolled stays in the session until a code confirms it: nothing is stored before.
SESSION_KEY = "two_factor_enrol_key"


class ConfirmForm(forms.Form):
    otp_token = forms.CharField(
        label="Code shown by the app",
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/admin/"
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return "/admin/"


@staff_member_required
def enrol(request: HttpRequest) -> HttpResponse:
    """Show a new key to add to an authenticator app; on a right first code, enrol it and verify this session."""
    key = request.session.get(SESSION_KEY)
    if not key:
        key = request.session[SESSION_KEY] = default_key()
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = totp_enrol(user=request.user, key=key, token=form.cleaned_data["otp_token"])
        except TotpCodeInvalid as refusal:
            form.add_error("otp_token", refusal.message)
        else:
            del request.session[SESSION_KEY]
            otp_login(request, device)
            return HttpResponseRedirect(_next(request))
    unsaved = TOTPDevice(user=request.user, key=key)
    uri = unsaved.config_url
    image = io.BytesIO()
    write_qrcode_image(uri, image)
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in with an authenticator",
        "form": form,
        "otpauth_uri": uri,
        "secret": uri.split("secret=", 1)[1].split("&", 1)[0],
        "qr_svg": image.getvalue().decode(),
        "enrolled": totp_device(request.user) is not None,
        "required": two_factor_required(request.user),
        "next": _next(request),
    }
    return TemplateResponse(request, "admin/accounts/two_factor_enrol.html", context)
