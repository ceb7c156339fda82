"""An authenticator in tests: a confirmed TOTP device, its code now, and a still clock to compute it on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

START = datetime(2031, 3, 4, 14, 0, 5, tzinfo=UTC)


@pytest.fixture
def clock():
    """A still clock, a few seconds into a 30-second step: the codes computed here are the server's."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def enrolled(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def code_of(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The device's code now (or ``steps_ahead`` steps later), computed as an authenticator app does."""
    return (
        f"{totp(device.bin_key, step=device.step, t0=device.t0 - steps_ahead * device.step, digits=device.digits):06d}"
    )
