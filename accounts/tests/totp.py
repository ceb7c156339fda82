"""An authenticator in tests: a confirmed TOTP device and its code (on the root conftest's ``totp_clock``)."""

from __future__ import annotations

from datetime import UTC, datetime

from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

# The instant the root conftest's ``totp_clock`` holds still (time_machine.travel, tick=False).
START = datetime(2031, 3, 4, 14, 0, 5, tzinfo=UTC)


def enrolled(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def code_of(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The device's code now (or ``steps_ahead`` steps later), computed as an authenticator app does."""
    return (
        f"{totp(device.bin_key, step=device.step, t0=device.t0 - steps_ahead * device.step, digits=device.digits):06d}"
    )
