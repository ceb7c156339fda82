"""The marketdata process's TWS side: its own client id, history backfill within IB's pacing, contract lookups.

Start it with ``broker_loop().run(stop)`` in a thread of the marketdata process.
"""

from __future__ import annotations

from marketdata.broker.loop import MarketBroker
from marketdata.broker.settings import BrokerSettings
from streams.redis_client import get_redis


def broker_loop() -> MarketBroker:
    """The broker loop of this deployment (settings from Django, Redis from ``streams``)."""
    return MarketBroker(BrokerSettings.from_django(), get_redis())


__all__ = ["BrokerSettings", "MarketBroker", "broker_loop"]
