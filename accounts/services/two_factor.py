"""Enrolling a staff user's authenticator (TOTP, django-otp)."""

from __future__ import annotations

from django.db import transaction
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.exceptions import TotpCodeInvalid
from accounts.models import User
from accounts.services.audit import audit_record


@transaction.atomic
def totp_enrol(*, user: User, key: str, token: str) -> TOTPDevice:
    """Confirm the authenticator holding ``key`` (hex) by its current ``token`` and make it the user's only one.

    The user's earlier authenticators are removed in the same transaction, so a lost phone is
    replaced by enrolling again; the enrolment is audited.

    :raises TotpCodeInvalid: ``token`` is not the key's code now (or a step either side).
    """
    device = TOTPDevice(user=user, name="authenticator", key=key, confirmed=True)
    check = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    try:
        code = int(token.strip())
    except ValueError:
        raise TotpCodeInvalid() from None
    if not check.verify(code, tolerance=device.tolerance):
        raise TotpCodeInvalid()
    # The confirming code is spent: it cannot also sign in.
    device.last_t = check.t()
    replaced = TOTPDevice.objects.filter(user=user).delete()[0]
    device.save()
    audit_record(actor=user, action="totp.enrol", obj=device, after={"replaced": replaced}, via="admin")
    return device
