"""Fixtures of the orders tests (plain helpers are in ``helpers.py``, factories in ``factories.py``)."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from accounts.models import ProcessHeartbeat
from orders import monitoring


@pytest.fixture
def as_trader(api_client, trader, instrument):
    """The API client signed in as the trader, with AAPL listed."""
    api_client.force_authenticate(trader)
    return api_client


@pytest.fixture
def fresh_monitor_state(monkeypatch):
    """A monitor process with no cached books, this deployment's Redis keys wiped, and quiet system alerts."""
    monkeypatch.setattr(monitoring.pnl, "state", monitoring.pnl.PnLState())
    r = redis.Redis.from_url(settings.REDIS_URL)
    for key in r.scan_iter(f"{settings.STREAM_PREFIX}:*"):
        r.delete(key)
    now = timezone.now()
    for name in ("execution", "bridge"):
        ProcessHeartbeat.objects.update_or_create(name=name, defaults={"last_seen_at": now, "state": "ready"})
    yield
    r.close()
