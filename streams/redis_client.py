"""The one place the Django side opens Redis connections (streams, keys; not the channel layer)."""

from __future__ import annotations

import threading

import redis
from django.conf import settings

_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def get_redis() -> redis.Redis:
    """Return a process-wide client for ``settings.REDIS_URL`` (thread-safe, connection-pooled).

    Responses are decoded to ``str``; every value on our streams is text.
    """
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        with _lock:
            client = _clients.get(url)
            if client is None:
                client = redis.Redis.from_url(
                    url,
                    decode_responses=True,
                    socket_connect_timeout=2,
                    socket_keepalive=True,
                    health_check_interval=30,
                )
                _clients[url] = client
    return client
