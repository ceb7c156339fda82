"""The worker's settings: environment variables first, command-line flags override them."""

from __future__ import annotations

import argparse
import os
import socket
from dataclasses import dataclass, field


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable."""


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "")
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {text!r}")


def _env_float(name: str, default: float) -> float:
    text = os.environ.get(name, "")
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {text!r}")


def _env_switch(name: str, default: bool) -> bool:
    text = os.environ.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be on or off, not {text!r}")


@dataclass
class WorkerConfig:
    """Everything the worker needs; times in seconds. Production defaults; tests shorten the timers."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    tws_host: str = "127.0.0.1"
    tws_port: int = 7497
    tws_client_id: int = 1
    prefix: str = "tc"
    consumer: str = ""
    # Connection supervision.
    connect_timeout: float = 5.0
    reconcile_timeout: float = 10.0
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 10.0
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    backoff_jitter: float = 3.0
    in_flight_timeout: float = 5.0
    # Pacing: one bucket for every message to TWS.
    pacing_rate: float = 45.0
    pacing_burst: float = 2.0
    # Command stream.
    read_count: int = 16
    block_ms: int = 20
    claim_idle_ms: int = 30_000
    claim_interval: float = 5.0
    max_deliveries: int = 5
    # Risk: refuse orders for accounts without published limits.
    require_limits: bool = True
    limits_interval: float = 1.0
    heartbeat_event_interval: float = 1.0
    md_symbols: list[str] = field(default_factory=list)
    md_maxlen: int = 1000
    # TWS gives an account 100 market-data lines unless more are bought.
    md_max_lines: int = 100
    # Events are trimmed approximately; far beyond what the bridge lags by, well under Redis's memory.
    events_maxlen: int = 500_000
    # Prometheus series (execution_worker.metrics), served on this loopback port (0: none).
    metrics: bool = True
    metrics_port: int = 0

    def __post_init__(self) -> None:
        if not self.consumer:
            self.consumer = f"worker-{self.tws_client_id}"

    @classmethod
    def from_env(cls, argv: list[str] | None = None) -> WorkerConfig:
        """Read REDIS_URL, TWS_HOST, TWS_PORT, TWS_CLIENT_ID, TRADECONSOLE_STREAM_PREFIX and TC_WORKER_*.

        :raises ConfigError: a value of the wrong kind.
        """
        parser = argparse.ArgumentParser(prog="python -m execution_worker", description=__doc__)
        parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", cls.redis_url))
        parser.add_argument("--tws-host", default=os.environ.get("TWS_HOST", cls.tws_host))
        parser.add_argument("--tws-port", type=int, default=_env_int("TWS_PORT", cls.tws_port))
        parser.add_argument("--tws-client-id", type=int, default=_env_int("TWS_CLIENT_ID", cls.tws_client_id))
        parser.add_argument("--prefix", default=os.environ.get("TRADECONSOLE_STREAM_PREFIX", cls.prefix))
        parser.add_argument("--consumer", default=os.environ.get("TC_WORKER_CONSUMER", ""))
        parser.add_argument(
            "--md-symbols",
            default=os.environ.get("TC_WORKER_MD_SYMBOLS", ""),
            help="comma-separated symbols to stream market data for",
        )
        parser.add_argument(
            "--fast-timers",
            action="store_true",
            default=os.environ.get("TC_WORKER_FAST_TIMERS", "") == "1",
            help="short timers for tests: heartbeat 0.5 s, backoff 0.1-1 s, claim idle 2 s",
        )
        parser.add_argument(
            "--no-require-limits",
            action="store_true",
            default=os.environ.get("TC_WORKER_REQUIRE_LIMITS", "1") == "0",
            help="let accounts without published limits trade (not for production)",
        )
        args = parser.parse_args(argv)
        config = cls(
            redis_url=args.redis_url,
            tws_host=args.tws_host,
            tws_port=args.tws_port,
            tws_client_id=args.tws_client_id,
            prefix=args.prefix,
            consumer=args.consumer,
            md_symbols=[s.strip().upper() for s in args.md_symbols.split(",") if s.strip()],
            require_limits=not args.no_require_limits,
            pacing_rate=_env_float("TC_WORKER_PACING_RATE", cls.pacing_rate),
            md_max_lines=_env_int("TC_WORKER_MD_MAX_LINES", cls.md_max_lines),
            metrics=_env_switch("TRADECONSOLE_METRICS", cls.metrics),
            metrics_port=_env_int("TC_WORKER_METRICS_PORT", 9101),
        )
        if args.fast_timers:
            config.apply_fast_timers()
        return config

    def apply_fast_timers(self) -> None:
        """Shorten every timer so fault tests finish in seconds (same logic, smaller numbers)."""
        self.connect_timeout = 2.0
        self.reconcile_timeout = 5.0
        self.heartbeat_interval = 0.5
        self.heartbeat_timeout = 1.5
        self.backoff_initial = 0.1
        self.backoff_max = 1.0
        self.backoff_jitter = 0.1
        self.in_flight_timeout = 2.0
        self.claim_idle_ms = 2000
        self.claim_interval = 0.5


def default_worker_name(config: WorkerConfig) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{config.consumer}"
