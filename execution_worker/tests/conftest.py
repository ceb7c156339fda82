"""Fixtures for the worker tests: a real Redis client on the worker's own db and a unique key prefix."""

from __future__ import annotations

import os
import uuid

import pytest
import redis

# The worker tests keep to their own Redis db unless told otherwise, so they never touch others' keys.
REDIS_URL = os.environ.get("TC_WORKER_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client):
    """A key prefix used by this test only; its keys are deleted afterwards."""
    name = f"tcwt{uuid.uuid4().hex[:10]}"
    yield name
    keys = list(redis_client.scan_iter(match=f"{name}:*", count=1000))
    if keys:
        redis_client.delete(*keys)
