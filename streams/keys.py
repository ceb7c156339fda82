"""Names of every Redis key and stream the Django side uses, all under ``settings.STREAM_PREFIX``."""

from __future__ import annotations

from django.conf import settings


def prefix() -> str:
    return settings.STREAM_PREFIX


def commands_stream() -> str:
    return f"{prefix()}:commands"


def events_stream() -> str:
    return f"{prefix()}:events"


def dlq_stream() -> str:
    return f"{prefix()}:dlq"


def market_data_stream(symbol: str) -> str:
    return f"{prefix()}:md:{symbol}"


def market_data_pattern() -> str:
    return f"{prefix()}:md:*"


def risk_limits_key(account_code: str) -> str:
    return f"{prefix()}:risk:limits:{account_code}"


def relay_wake_key() -> str:
    """A list the relay blocks on (BLPOP): a commit pushes to it so the relay publishes at once."""
    return f"{prefix()}:relay:wake"


def live_seq_key(group: str) -> str:
    """The last sequence number fanned out to one Channels group."""
    return f"{prefix()}:live:seq:{group}"


def live_epoch_key() -> str:
    """A token that changes when the sequence counters were lost (Redis restarted empty)."""
    return f"{prefix()}:live:epoch"


def bridge_failures_key() -> str:
    """A hash: stream entry id → how many times applying it failed."""
    return f"{prefix()}:bridge:failures"
