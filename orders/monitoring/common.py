"""What every step of the monitoring run shares: its report, Redis, open alerts, refusals, ticks."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from accounts.models import Alert
from orders.quotes import redis_client
from tradeconsole.exceptions import ApplicationError

__all__ = ["redis_client"]  # the monitor's client lives with the quotes it reads (orders.quotes)

logger = logging.getLogger(__name__)

# The OCA group of every protective order starts so; stale-order handling leaves those alone.
PROTECT_PREFIX = "protect:"


@dataclass
class MonitoringReport:
    """What one monitoring run did (``ran`` is False when another run held the lock)."""

    ran: bool = True
    accounts: int = 0
    refresh_sent: bool = False
    limits_republished: list[str] = field(default_factory=list)
    new_fills: int = 0
    full_recompute: bool = False
    pnl_points: int = 0
    mismatches: list[str] = field(default_factory=list)
    protective_orders: list[str] = field(default_factory=list)
    repriced: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    halted: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    duration_ms: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def open_alert(key: str) -> Alert | None:
    """Return the alert open (or acknowledged) under ``key``, or None."""
    return Alert.objects.exclude(status=Alert.Status.RESOLVED).filter(key=key).first()


def service_try(service, **kwargs):
    """Call ``service``; return its result, or None (logged) when it refuses with an ``ApplicationError``."""
    try:
        return service(**kwargs)
    except ApplicationError as exc:
        logger.info("monitor action %s refused: %s", service.__name__, exc.code)
        return None


def tick_round(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    """Return ``price`` on the instrument's ``tick``, rounded the way ``rounding`` says."""
    return (price / tick).quantize(Decimal("1"), rounding=rounding) * tick
