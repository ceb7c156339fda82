"""Whether Redis takes the credentials of ``REDIS_URL``: checked once at start, so a wrong or missing
password stops the worker with a clear message instead of a retry loop that looks like a Redis outage.

No Django here; ``redacted`` is also how a Redis URL may appear in a log line.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis

from execution_worker.config import ConfigError


class RedisAccessRefused(ConfigError):
    """Redis answered and refused this client: no password given, a wrong one, or a user without a permission."""


def redacted(url: str) -> str:
    """Return ``url`` with its password replaced by ``***`` (the user name is kept)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def redis_access_check(url: str, *, timeout: float = 5.0) -> None:
    """Authenticate to Redis at ``url`` and ``PING`` it once; return when it answers or is not up.

    Redis that is down or unreachable is not an error here: the worker waits for it.

    :raises RedisAccessRefused: Redis refused the credentials (``NOAUTH``, ``WRONGPASS``) or the
        user may not run ``PING`` (``NOPERM``).
    """
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    except redis.AuthenticationError as error:
        given = "no password" if urlsplit(url).password is None else "its user name and password"
        raise RedisAccessRefused(
            f"Redis at {redacted(url)} refused REDIS_URL's credentials ({given}): {str(error).rstrip('.')}. "
            "Put the password (and ACL user) in REDIS_URL: redis://USER:PASSWORD@HOST:PORT/DB."
        ) from None
    except redis.exceptions.NoPermissionError as error:
        raise RedisAccessRefused(f"Redis at {redacted(url)} refused REDIS_URL's user: {error}") from None
    except (redis.ConnectionError, redis.TimeoutError):
        return
    finally:
        client.close()
