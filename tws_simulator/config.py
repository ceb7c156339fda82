"""SimulatorConfig: every knob of the paper TWS, with the defaults a desk would expect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# symbol -> starting price. conIds are stable (derived from the symbol), so they survive restarts.
DEFAULT_INSTRUMENTS: dict[str, float] = {
    "AAPL": 190.00,
    "MSFT": 420.00,
    "AMZN": 180.00,
    "NVDA": 130.00,
    "TSLA": 250.00,
    "IBM": 200.00,
    "SPY": 500.00,
    "QQQ": 430.00,
}


@dataclass
class SimulatorConfig:
    """How the simulator listens, what it trades and how the broker behaves.

    Times are seconds. ``port=0`` binds a free port (read it back from ``Simulator.port``).
    """

    host: str = "127.0.0.1"
    port: int = 7497
    accounts: list[str] = field(default_factory=lambda: ["DU0000001"])
    seed: int = 1
    instruments: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_INSTRUMENTS))
    min_tick: float = 0.01
    starting_cash: float = 1_000_000.0
    # Market: each interval puts the quotes on their seeded price paths (0 freezes prices; set them through
    # the control API); volatility_ticks scales the paths' swings (2: about 1% a day; 0 holds prices, sizes move).
    market_interval: float = 0.25
    volatility_ticks: int = 2
    # The simulator's clock (epoch seconds): quotes, bars and history follow it. None reads time.time() at
    # each use, so a test can pin it with time-machine or pass its own.
    clock: Callable[[], float] | None = None
    # History and bars (tws_simulator/history.py): the exchange's time zone, TWS's historical pacing
    # rules (error 162), the largest answer, and how often keepUpToDate and real-time bars are served.
    time_zone: str = "US/Eastern"
    # The exchange calendar of regular hours, holidays and half days (exchange_calendars); None: weekdays.
    calendar: str | None = "XNYS"
    history_requests_per_window: int = 60
    history_window: float = 600.0
    history_identical_within: float = 15.0
    history_same_contract_count: int = 6
    history_same_contract_within: float = 2.0
    history_max_bars: int = 20_000
    bar_interval: float = 1.0
    # Order lifecycle.
    presubmitted: bool = True
    submit_delay: float = 0.0
    fill_delay: float = 0.0
    partial_fills: int = 1
    partial_interval: float = 0.02
    reject_etrade_attrs: bool = True
    # Refuse (201, Inactive) orders that would take initial margin (25% of gross) above net liquidation.
    margin_check: bool = True
    commission_per_share: float = 0.005
    commission_minimum: float = 1.0
    # Pacing: token bucket of pacing_rate messages/s; "reject" answers error 100, "pace" delays.
    pacing_rate: float = 50.0
    pacing_mode: str = "reject"
    pacing_disconnect_after: int = 0
    # Market data and account data.
    market_data_subscribed: bool = True
    snapshot_delay: float = 0.0
    account_summary_interval: float = 10.0
    account_summary_limit: int = 2
    # Connection setup: "after" nextValidId (default), "before" it, or "off".
    open_orders_on_connect: str = "after"
    max_clients: int = 32
    # Keep every write off a 4096-byte boundary (ibapi loses a burst that ends on one).
    guard_4096: bool = True
    state_file: str | None = None
    control_port: int | None = None
    control_host: str = "127.0.0.1"
