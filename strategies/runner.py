"""The strategy runner: every running session it holds a lease on decides on each closed bar of its symbol.

One loop, in the runner process (``manage.py strategy_runner``):

1. every ``poll`` seconds, renew this runner's leases and take free ones (``session_leases_take``),
   load the sessions newly held (compile the pinned version, warm up from stored bars, resume the
   kept state, catch up on bars stored since the last recorded one), and drop the sessions that
   no longer run (paused, stopped) or were lost: a control takes effect within one poll;
2. read closed bars from ``{prefix}:bars:closed`` (blocking up to ``poll``); every session following
   the bar's symbol and resolution decides on it; a broker session's decision goes through the
   desk's order path at once (``session_order_place``); then one transaction records every
   session's bar (``session_bars_record``);
3. pause a session whose own limits were hit or whose market data went stale, and stop one
   whose strategy raised, each with an alert (``trading_session_pause_self`` / ``_stop_self``).

Exactly once: a bar is recorded only after the last recorded one and only under the lease; a
broker decision's order carries a client order id derived from (session, bar, action) and its
decision row is written with it, so a runner killed anywhere and restarted neither repeats nor
skips a decision; a bar the stream never carried is read from PostgreSQL before the next one
(``_fill_gaps``). A round that fails (Redis or PostgreSQL away, Redis restarted empty) makes the
runner start afresh: it follows the stream from its newest entry and reloads its sessions, which
catch up from PostgreSQL on the bars it could not read. A bar older than the staleness bound is
read but not acted on (outcome "stale").
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import close_old_connections

from logclock import correlation
from marketdata import bars as bar_codec
from marketdata import sessions
from marketdata.keys import MarketKeys
from strategies import selectors_runtime
from strategies.backtest.slippage import SlippageModel
from strategies.engine import BarRefused, GraphRefused, compile_graph
from strategies.models import TradingSession
from strategies.runtime.live_session import BROKER, BarResult, LiveSession
from strategies.runtime.quotes import live_quotes
from strategies.services import session_runs, trading_session_pause_self, trading_session_stop_self

logger = logging.getLogger("strategies.runner")


@dataclass
class RunnerFigures:
    """What the runner has done since it started (its heartbeat shows them)."""

    bars: int = 0
    decisions: int = 0
    batches: int = 0
    sessions: int = 0
    last_batch_ms: float = 0.0
    cpu_seconds: float = 0.0
    refused_bars: int = 0
    # A plain dict: dataclasses.asdict (the heartbeat's) cannot rebuild a defaultdict.
    errors: dict[str, int] = field(default_factory=dict)


class Runner:
    """Runs the sessions this process holds; ``run(stop)`` until ``stop`` is set, then gives the leases back."""

    def __init__(
        self,
        *,
        client,
        prefix: str,
        owner: str | None = None,
        capacity: int = 2_000,
        poll: float = 0.5,
        lease_seconds: float = 5.0,
        stale_bars: int = 2,
        quiet_bars: int = 5,
        batch: int = 2_000,
    ) -> None:
        self.client = client
        self.keys = MarketKeys(prefix)
        self.owner = owner or session_runs.runner_name()
        self.capacity, self.poll, self.lease_seconds = capacity, poll, lease_seconds
        # A bar closed more than ``stale_bars`` bars ago is not acted on; no bar for ``quiet_bars``
        # bars while the market is open pauses the session (its market data stopped).
        self.stale_bars, self.quiet_bars, self.batch = stale_bars, quiet_bars, batch
        self.live: dict[int, LiveSession] = {}
        self.following: dict[tuple[str, str], set[int]] = defaultdict(set)
        self.followed_since: dict[int, float] = {}
        self.instruments: dict[int, int] = {}
        self.cursor = "$"
        self.figures = RunnerFigures()
        self._next_refresh = 0.0
        self._resync = False

    # -- the loop -----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set; on the way out, release every lease so another runner takes over at once.

        A round that fails (PostgreSQL or Redis away, or a bug) is logged and the runner starts
        afresh from PostgreSQL at the next one (``resync``), so no bar is skipped or repeated.
        """
        self._resync = True
        try:
            while not stop.is_set():
                try:
                    self.step()
                except Exception as exc:
                    logger.exception("runner step failed; retrying")
                    name = type(exc).__name__
                    self.figures.errors[name] = self.figures.errors.get(name, 0) + 1
                    self._resync = True
                    close_old_connections()
                    self._keep_leases()
                    stop.wait(self.poll)
        finally:
            try:
                session_runs.session_leases_release(owner=self.owner)
            except Exception:
                logger.warning("could not release the leases of %s", self.owner, exc_info=True)

    def step(self) -> int:
        """One round: refresh the leases when due, then read and decide one batch of closed bars; bars read."""
        if self._resync:
            self.resync()
        now = time.monotonic()
        if now >= self._next_refresh:
            self._next_refresh = now + self.poll
            self.refresh()
        block = max(1, int(min(self.poll, self._next_refresh - time.monotonic()) * 1000))
        replies = self.client.xread({self.keys.closed_bar_events: self.cursor}, count=self.batch, block=block)
        entries = replies[0][1] if replies else []
        if not entries:
            return 0
        self.cursor = _text(entries[-1][0])
        closed = []
        for entry_id, fields in entries:
            try:
                bar = bar_codec.decode(fields.get("bar") or fields.get(b"bar"))
            except Exception:
                logger.warning("skipped closed-bar entry %s: not a bar", _text(entry_id))
                self.figures.refused_bars += 1
                continue
            if bar.closed:
                closed.append(bar)
        self.on_bars(closed)
        return len(entries)

    def resync(self) -> None:
        """Start afresh from PostgreSQL: follow the stream from its newest entry and reload every held session.

        At start, and after a failed round: the round may have read bars it never recorded (the
        sessions' memory is then ahead of their record), or Redis may have restarted empty or lost
        the entries while it was away (the cursor no longer says what was missed). The bars stored
        before the newest entry are in PostgreSQL, and each session reloaded catches up on them
        from its last recorded bar; the ones after come on the stream (a bar in both is decided
        once: a session skips bars up to its last one).

        :raises redis.RedisError: Redis is still away (the next round tries again).
        """
        newest = self.client.xrevrange(self.keys.closed_bar_events, count=1)
        self.cursor = _text(newest[0][0]) if newest else "0-0"
        for pk in list(self.live):
            self._drop(pk)
        self._next_refresh = 0.0
        self._resync = False

    def _keep_leases(self) -> None:
        # While Redis is away the sessions stay held and their controls and market-data checks go
        # on (PostgreSQL only); they are reloaded once Redis answers again.
        try:
            self.refresh()
        except Exception:
            logger.warning("could not renew the leases of %s", self.owner, exc_info=True)
            close_old_connections()

    # -- leases and controls ------------------------------------------------------------------

    def refresh(self) -> None:
        """Renew and take leases; load the sessions newly held; drop those no longer held or running."""
        held = set(
            session_runs.session_leases_take(owner=self.owner, ttl_seconds=self.lease_seconds, capacity=self.capacity)
        )
        for pk in [pk for pk in self.live if pk not in held]:
            self._drop(pk)
        new = [pk for pk in held if pk not in self.live]
        if new:
            for session in selectors_runtime.held_sessions(new):
                self._load(session)
        self.figures.sessions = len(self.live)
        self._check_market_data()

    def _load(self, session: TradingSession) -> None:
        try:
            plan = compile_graph(session.version.graph)
        except GraphRefused as exc:
            self._stop(session.pk, "graph_refused", f"The pinned version no longer compiles: {exc}")
            return
        instrument = session.instrument
        live = LiveSession(
            session_id=session.pk,
            mode=session.mode,
            plan=plan,
            symbol=instrument.symbol,
            resolution=session.resolution,
            starting_equity=float(session.starting_equity or 0),
            fee_model=session.fee_model,
            slippage=SlippageModel(session.slippage_model, float(session.slippage_amount)),
            calendar_code=sessions.calendar_code(instrument.exchange, instrument.primary_exchange),
            max_position=session.max_position,
            max_daily_loss=float(session.max_daily_loss) if session.max_daily_loss is not None else None,
        )
        stored = selectors_runtime.stored_bars(
            instrument_id=instrument.pk,
            symbol=instrument.symbol,
            resolution=session.resolution,
            last=live.window,
            after=session.last_bar_time,
        )
        # Bars decided already, or closed before the session last became running, are history;
        # the others closed while it ran with no runner holding it: its catch-up.
        since = session.running_since or session.started_at
        history_until = max(
            session.last_bar_time if session.last_bar_time is not None else -1,
            int(since.timestamp()) - live.resolution.seconds if since is not None else 2**62,
        )
        known = [b for b in stored if b.time <= history_until]
        missed = stored[len(known) :]
        try:
            live.warm_up(known, session.state or None)
        except BarRefused as exc:
            self._stop(session.pk, "warm_up_refused", str(exc))
            return
        self.live[session.pk] = live
        self.following[(live.symbol, live.resolution.code)].add(session.pk)
        self.followed_since[session.pk] = time.time()
        self.instruments[session.pk] = instrument.pk
        logger.info(
            "%s holds session %s: %s on %s, %d bars warm, %d to catch up after %s",
            self.owner, session.pk, session.mode, live.symbol, len(known), len(missed), history_until,
        )  # fmt: skip
        if missed:
            self._decide({session.pk: missed})

    def _drop(self, pk: int) -> None:
        live = self.live.pop(pk, None)
        self.followed_since.pop(pk, None)
        if live is not None:
            self.following[(live.symbol, live.resolution.code)].discard(pk)

    # -- deciding -----------------------------------------------------------------------------

    def on_bars(self, closed: list) -> None:
        """Every held session following a bar of ``closed`` decides on it, then all are recorded at once."""
        wanted: dict[int, list] = defaultdict(list)
        for bar in closed:
            for pk in self.following.get((bar.symbol, bar.resolution), ()):
                wanted[pk].append(bar)
        if wanted:
            self._decide(wanted)
        self.figures.bars += len(closed)

    def _decide(self, wanted: dict[int, list]) -> None:
        started, cpu = time.perf_counter(), time.process_time()
        now = time.time()
        quotes = live_quotes(
            self.client, self.keys, {self.live[pk].symbol for pk in wanted if self.live[pk].simulator is not None}
        )
        self._fill_gaps(wanted)
        batch, stopped = [], []
        # Sessions of one version on one symbol that have seen the very same bars compute the
        # same indicator series: computed once a bar for all of them.
        shared: dict[tuple, dict] = {}
        for pk, bars in wanted.items():
            live = self.live[pk]
            results: list[BarResult] = []
            for bar in bars:
                if live.last_bar_time is not None and bar.time <= live.last_bar_time:
                    continue  # already decided (a bar read both from PostgreSQL and from the stream)
                stale = now - (bar.time + live.resolution.seconds) > self.stale_bars * live.resolution.seconds
                key = (*live.evaluator.series_key(), bar.time)
                try:
                    result = live.on_bar(
                        bar, quote=None if stale else quotes.get(live.symbol), stale=stale, series=shared.get(key)
                    )
                    shared[key] = live.evaluator.last_series
                except BarRefused as exc:
                    logger.warning("session %s: %s", pk, exc)
                    self.figures.refused_bars += 1
                    continue
                except Exception as exc:
                    logger.exception("session %s: the strategy raised on the bar at %s", pk, bar.time)
                    stopped.append((pk, f"The strategy raised on the bar at {bar.time}: {type(exc).__name__}: {exc}"))
                    break
                if result.decision is not None:
                    self.figures.decisions += 1
                    if live.mode == BROKER and not stale:
                        self._place(live, result)
                results.append(result)
            if results:
                # A broker session's state is taken once its figures are marked (``_mark_brokers``).
                state = live.state() if live.simulator is not None else {}
                batch.append(session_runs.SessionBars(pk, results, state))
        self._mark_brokers(batch, wanted)
        recorded = session_runs.session_bars_record(owner=self.owner, batch=batch)
        for item in batch:
            if item.session_id not in recorded:
                # The lease moved on or the session stopped running meanwhile: its memory is no longer the record.
                self._drop(item.session_id)
        for pk, message in stopped:
            self._stop(pk, "evaluation_error", message)
        self._check_limits(recorded)
        self.figures.batches += 1
        self.figures.last_batch_ms = (time.perf_counter() - started) * 1000
        self.figures.cpu_seconds += time.process_time() - cpu

    def _fill_gaps(self, wanted: dict[int, list]) -> None:
        """Put before each session's first new bar the stored bars it has not seen, if any.

        A bar the stream never carried (Redis restarted, or briefly away, between the bar loop's
        store and its announcement) is in PostgreSQL: a session whose next bar is not the one after
        its last reads the ones between, once for all the sessions at the same place.
        """
        gaps: dict[tuple, list] = {}
        for pk, bars in wanted.items():
            live = self.live[pk]
            if not bars or live.last_bar_time is None or bars[0].time <= live.last_bar_time + live.resolution.seconds:
                continue
            key = (self.instruments[pk], live.symbol, live.resolution.code, live.last_bar_time, bars[0].time)
            if key not in gaps:
                gaps[key] = selectors_runtime.bars_between(
                    instrument_id=key[0], symbol=key[1], resolution=key[2], after=key[3], before=key[4]
                )
            if gaps[key]:
                wanted[pk] = gaps[key] + bars

    def _mark_brokers(self, batch: list, wanted: dict[int, list]) -> None:
        """Broker sessions' equity and figures from their fills at the broker (one read for all of them)."""
        brokers = [item for item in batch if self.live[item.session_id].simulator is None]
        if not brokers:
            return
        fills = selectors_runtime.broker_fills([item.session_id for item in brokers])
        for item in brokers:
            live = self.live[item.session_id]
            closes = {bar.time: float(bar.close) for bar in wanted[item.session_id]}
            for result in item.results:
                live.mark_broker(result, closes[result.bar_time], fills[item.session_id])
            item.state = live.state()

    def _place(self, live: LiveSession, result: BarResult) -> None:
        # Imported here: placing pulls in the whole order path, which a forward-test runner never needs.
        from strategies.services.session_orders import session_order_place

        equity = Decimal(repr(live.figures.snapshot().equity)) if live.figures else None
        # A decision starts an order's path: its own correlation id, for the outbox row and every line after.
        with correlation.correlated(""):
            row = session_order_place(session_id=live.session_id, decision=result.decision, equity=equity)
            result.outcome = None  # recorded by session_order_place, with its order
            logger.info(
                "session %s: %s at %s -> %s", live.session_id, result.decision.action, result.bar_time, row.outcome
            )

    # -- pausing itself -----------------------------------------------------------------------

    def _check_limits(self, recorded: set[int]) -> None:
        for pk in recorded:
            live = self.live.get(pk)
            if live is None or live.max_daily_loss is None or live.simulator is None:
                continue
            day_pnl = live.day_pnl()
            if day_pnl <= -live.max_daily_loss:
                self._pause(pk, "max_daily_loss", f"Today's PnL {day_pnl:.2f} reached the session's daily loss limit.")

    def _check_market_data(self) -> None:
        now = time.time()
        for pk, live in list(self.live.items()):
            message = live.quiet(now, since=self.followed_since.get(pk, now), bars=self.quiet_bars)
            if message:
                self._pause(pk, "market_data_stale", message)

    def _pause(self, pk: int, code: str, message: str) -> None:
        trading_session_pause_self(session_id=pk, code=code, message=message)
        self._drop(pk)

    def _stop(self, pk: int, code: str, message: str) -> None:
        trading_session_stop_self(session_id=pk, code=code, message=message)
        self._drop(pk)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
