"""Market-data fixtures: a Redis client on the test Redis, under a prefix of the test's own."""

from __future__ import annotations

import uuid

import pytest
import redis
from django.conf import settings


@pytest.fixture
def market_redis():
    """(client, prefix): a decoded-text client and a fresh prefix; every key under it goes at the end."""
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    prefix = f"{settings.STREAM_PREFIX}-md-{uuid.uuid4().hex[:8]}"
    yield client, prefix
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
