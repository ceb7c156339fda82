"""Per-user request throttles counted in Redis, so every web process shares one count.

A fixed window per user and scope (``{prefix}:throttle:{scope}:{user}.{joined}:{window}``), one
INCR and one EXPIRE in a pipeline per request. It is anti-automation, not a risk control: the domain
enforces each account's orders per minute. When Redis cannot be reached the request passes
(and a warning is logged), since refusing every order because a counter is down would be worse.
"""

from __future__ import annotations

import logging
import math
import threading
import time

import redis
from django.conf import settings
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from tradeconsole.exceptions import ApplicationError

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_client: redis.Redis | None = None
_client_lock = threading.Lock()


def _redis() -> redis.Redis:
    global _client
    with _client_lock:
        if _client is None:
            _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
        return _client


def parse_rate(rate: str) -> tuple[int, int]:
    """Return (requests, seconds) of a DRF rate such as ``600/min``.

    :raises ValueError: not ``<number>/<s|m|h|d…>``.
    """
    count, _, period = rate.partition("/")
    if not count.isdigit() or not period or period[0] not in _PERIODS:
        raise ValueError(f"bad throttle rate {rate!r}")
    return int(count), _PERIODS[period[0]]


class RedisUserRateThrottle(BaseThrottle):
    """Allow ``DEFAULT_THROTTLE_RATES[scope]`` requests per user and window (``default_rate`` if unset)."""

    scope = ""
    default_rate = "60/min"

    def __init__(self) -> None:
        self.retry_after: float | None = None

    def allow_request(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return True  # authentication refuses these requests anyway
        limit, period = parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(self.scope) or self.default_rate)
        now = time.time()
        window = int(now // period)
        # The user's join time makes the key unique even where ids repeat (a recreated database).
        joined = int(user.date_joined.timestamp() * 1_000_000) if user.date_joined else 0
        key = f"{settings.STREAM_PREFIX}:throttle:{self.scope}:{user.pk}.{joined}:{window}"
        try:
            pipe = _redis().pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, period + 1)
            count, _ = pipe.execute()
        except redis.RedisError as exc:
            logger.warning("Throttle %s not applied: Redis unavailable (%s)", self.scope, exc.__class__.__name__)
            return True
        if count > limit:
            self.retry_after = (window + 1) * period - now
            return False
        return True

    def wait(self) -> float | None:
        return self.retry_after


class OrderEntryThrottle(RedisUserRateThrottle):
    """Order entry per user: ``TRADECONSOLE_API_ORDER_RATE`` (default 600/min)."""

    scope = "orders"
    default_rate = "600/min"


class BasketPreviewThrottle(RedisUserRateThrottle):
    """Basket previews per user, the API's and the Baskets page's in one count:
    ``TRADECONSOLE_API_BASKET_PREVIEW_RATE`` (default 30/min). A preview checks up to 500 lines under
    the account's lock, so repeating it would stall that account's order entry."""

    scope = "basket_previews"
    default_rate = "30/min"


class PageThrottled(ApplicationError):
    """A page's request refused by a throttle: the API's ``throttled`` code, ``retry_after`` in seconds."""

    code = "throttled"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def page_throttle(throttle: RedisUserRateThrottle, request, what: str) -> PageThrottled | None:
    """Count ``request`` (a page's) in ``throttle``; the refusal to show when it is over the rate, else None."""
    if throttle.allow_request(request, None):
        return None
    seconds = max(1, math.ceil(throttle.wait() or 0))
    return PageThrottled(f"Too many {what}: try again in {seconds} s.", retry_after=seconds)


class TokenCreateThrottle(RedisUserRateThrottle):
    """Token creation per user."""

    scope = "tokens"
    default_rate = "10/min"
