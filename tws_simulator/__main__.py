"""Command line: run the paper TWS until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

import logclock
from tws_simulator.config import DEFAULT_INSTRUMENTS, SimulatorConfig
from tws_simulator.simulator import Simulator


def _instruments(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        symbol, _, price = item.partition("=")
        out[symbol.upper()] = float(price) if price else DEFAULT_INSTRUMENTS.get(symbol.upper(), 100.0)
    if not out:
        raise argparse.ArgumentTypeError("at least one instrument")
    return out


def build_parser() -> argparse.ArgumentParser:
    d = SimulatorConfig()
    ap = argparse.ArgumentParser(prog="python -m tws_simulator", description="A paper TWS (server version 157).")
    ap.add_argument("--host", default=d.host)
    ap.add_argument("--port", type=int, default=d.port)
    ap.add_argument("--accounts", default=",".join(d.accounts), help="comma-separated, e.g. DU0000001,DU0000002")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument(
        "--instruments", type=_instruments, default=None, help="SYMBOL=price,... (default: a US stock list)"
    )
    ap.add_argument("--cash", type=float, default=d.starting_cash, help="starting cash per account")
    ap.add_argument(
        "--market-interval", type=float, default=d.market_interval, help="seconds per random-walk step; 0 freezes"
    )
    ap.add_argument("--volatility-ticks", type=int, default=d.volatility_ticks)
    ap.add_argument("--no-presubmitted", action="store_true", help="skip the PreSubmitted step")
    ap.add_argument("--submit-delay", type=float, default=d.submit_delay)
    ap.add_argument("--fill-delay", type=float, default=d.fill_delay)
    ap.add_argument("--partial-fills", type=int, default=d.partial_fills, help="executions per fill")
    ap.add_argument("--partial-interval", type=float, default=d.partial_interval)
    ap.add_argument("--accept-etrade-attrs", action="store_true", help="do not reject eTradeOnly/firmQuoteOnly")
    ap.add_argument("--no-margin-check", action="store_true", help="accept orders whatever their margin")
    ap.add_argument("--pacing-rate", type=float, default=d.pacing_rate, help="messages/s per client; 0 disables")
    ap.add_argument("--pacing-mode", choices=("reject", "pace"), default=d.pacing_mode)
    ap.add_argument("--no-market-data-subscription", action="store_true", help="354 / delayed data only")
    ap.add_argument("--account-summary-interval", type=float, default=d.account_summary_interval)
    ap.add_argument("--open-orders-on-connect", choices=("after", "before", "off"), default=d.open_orders_on_connect)
    ap.add_argument("--state-file", default=None, help="JSON file keeping ids, orders, fills and positions")
    ap.add_argument("--control-port", type=int, default=None, help="JSON-lines control port on 127.0.0.1")
    ap.add_argument("--log-level", default="INFO")
    return ap


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    cfg = SimulatorConfig(
        host=args.host,
        port=args.port,
        accounts=[a.strip() for a in args.accounts.split(",") if a.strip()],
        seed=args.seed,
        starting_cash=args.cash,
        market_interval=args.market_interval,
        volatility_ticks=args.volatility_ticks,
        presubmitted=not args.no_presubmitted,
        submit_delay=args.submit_delay,
        fill_delay=args.fill_delay,
        partial_fills=args.partial_fills,
        partial_interval=args.partial_interval,
        reject_etrade_attrs=not args.accept_etrade_attrs,
        margin_check=not args.no_margin_check,
        pacing_rate=args.pacing_rate,
        pacing_mode=args.pacing_mode,
        market_data_subscribed=not args.no_market_data_subscription,
        account_summary_interval=args.account_summary_interval,
        open_orders_on_connect=args.open_orders_on_connect,
        state_file=args.state_file,
        control_port=args.control_port,
    )
    if args.instruments:
        cfg.instruments = args.instruments
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # One clock with every other process: UTC with the zone written (logclock).
    logclock.configure(args.log_level.upper())
    sim = Simulator(config_from_args(args))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sim.start()
    extra = f", control port {sim.control_port}" if sim.control_port is not None else ""
    # One parseable line: scripts that start it on port 0 read the port from here.
    print(f"tws_simulator listening on {sim.config.host}:{sim.port}{extra}", flush=True)
    stop.wait()
    sim.stop()
    logging.getLogger("tws_simulator").info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
