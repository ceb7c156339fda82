"""The alert admin's position-mismatch action: a Risk manager's to take, refused to anyone else."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory

from accounts.alert_admin import AlertAdmin
from accounts.models import Alert

pytestmark = pytest.mark.django_db


class _RecordingAlertAdmin(AlertAdmin):
    """The alert admin, recording its messages instead of sending them."""

    def __init__(self):
        super().__init__(Alert, admin.site)
        self.messages = []

    def message_user(self, request, message, level=None, *args, **kwargs):
        self.messages.append(message)


def test_the_mismatch_acknowledge_action_refuses_a_trader_and_accepts_a_risk_manager(account, trader, risk_manager):
    Alert.objects.create(key="position.mismatch:DU0000001:AAPL", kind="position.mismatch", message="m", account=account)
    model_admin = _RecordingAlertAdmin()
    request = RequestFactory().post("/")

    request.user = trader
    model_admin.acknowledge_position_mismatch(request, Alert.objects.all())
    assert Alert.objects.get().status == Alert.Status.OPEN
    assert "Risk manager" in model_admin.messages[-1]

    request.user = risk_manager
    model_admin.acknowledge_position_mismatch(request, Alert.objects.all())
    assert Alert.objects.get().status == Alert.Status.ACKNOWLEDGED
