"""The marketdata process's broker loop: its own TWS session, history backfill and contract lookups.

One thread owns everything here (``MarketBroker.run``); ibapi's reader thread only queues
callbacks (``connection``). Each ``step`` connects when due, applies TWS's callbacks, serves the
lookups stream and sends the next history request that pacing allows. Gaps are looked for on
every new session and after TWS's link to IB comes back (1101/1102), all missing bars; every
``rescan_interval``, those not in a range TWS already answered on this session.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time

import redis
from django.db import DatabaseError, close_old_connections, connection

from marketdata.broker.connection import Session, open_session
from marketdata.broker.history import HistoryDesk
from marketdata.broker.lookup_desk import LookupDesk
from marketdata.broker.settings import BrokerSettings

log = logging.getLogger("marketdata.broker")

NOT_CONNECTED = (502, 504)
CLIENT_ID_IN_USE = 326
LINK_LOST = 1100
LINK_BACK = (1101, 1102)
MAX_EVENTS_PER_STEP = 10_000


class MarketBroker:
    """Run by the marketdata process in a thread of its own: ``run(stop)`` until ``stop`` is set."""

    def __init__(self, config: BrokerSettings, client: redis.Redis) -> None:
        self.config = config
        self.events: queue.Queue = queue.Queue()
        self.history = HistoryDesk(
            lookback_days=config.backfill_days,
            request_timeout=config.request_timeout,
            retry_delay=config.retry_delay,
        )
        self.lookups = LookupDesk(client, config.prefix)
        self.session: Session | None = None
        self.generation = 0
        self.ready = threading.Event()
        self.link_up = True
        self.scans = 0
        self._scan_due = False
        self._last_scan = 0.0
        self._next_attempt = 0.0
        self._backoff = config.backoff_initial
        self._connect_deadline = 0.0

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set; a failing step is logged and the loop goes on."""
        log.info("marketdata broker: TWS %s:%d as client %d", self.config.host, self.config.port, self.config.client_id)
        try:
            while not stop.is_set():
                try:
                    self.step()
                except Exception:
                    log.exception("marketdata broker step failed; going on")
                    stop.wait(1.0)
        finally:
            self._lose("stopping", retry=False)
            # This thread's database connection goes with it (a test database can then be dropped).
            connection.close()

    def figures(self) -> dict:
        """What the process heartbeat reports of this loop."""
        history = self.history.figures
        return {
            "connected": self.ready.is_set(),
            "scans": self.scans,
            "history_queued": len(self.history.queue),
            "history_sent": history.sent,
            "history_stored": history.stored,
            "history_timeouts": history.timeouts,
            "history_violations": history.violations,
            "lookups_answered": self.lookups.answered,
        }

    def step(self) -> None:
        """One turn: the session, TWS's callbacks, the lookups, the history."""
        self._session_step()
        self._apply_events()
        session = self.session if self.ready.is_set() and self.link_up else None
        try:
            self.lookups.read(session)
        except redis.RedisError as error:
            log.warning("lookups stream unreadable: %s", error)
            time.sleep(0.5)
        self.lookups.forget_expired()
        if session is None:
            return
        if self._scan_due or time.monotonic() - self._last_scan > self.config.rescan_interval:
            self._scan()
        try:
            self.history.step(session)
        except OSError as error:
            self._lose(f"send failed: {error}")

    def _session_step(self) -> None:
        now = time.monotonic()
        if self.session is None:
            if now >= self._next_attempt:
                self._connect()
            return
        if not self.session.alive:
            self._lose("socket closed")
        elif not self.ready.is_set() and now > self._connect_deadline:
            self._lose("no nextValidId after connecting")

    def _connect(self) -> None:
        self.generation += 1
        config = self.config
        try:
            self.session = open_session(
                self.events, self.generation, config.host, config.port, config.client_id, config.connect_timeout
            )
        except ConnectionError as error:
            self._retry_later(str(error))
            return
        self._connect_deadline = time.monotonic() + config.connect_timeout
        self.link_up = True

    def _retry_later(self, reason: str) -> None:
        delay = self._backoff + random.uniform(0, self._backoff / 4)
        self._backoff = min(self.config.backoff_max, self._backoff * 2)
        self._next_attempt = time.monotonic() + delay
        log.warning("marketdata broker: %s; reconnecting in %.1f s", reason, delay)

    def _lose(self, reason: str, *, retry: bool = True) -> None:
        session, self.session = self.session, None
        self.ready.clear()
        if session is not None:
            session.close()
            if retry:
                self._retry_later(reason)
        self.history.on_disconnect()
        self.lookups.on_disconnect()

    def _scan(self) -> None:
        self._scan_due = False
        self._last_scan = time.monotonic()
        close_old_connections()
        try:
            self.history.plan()
        except DatabaseError:
            log.exception("gap scan failed; retried at the next scan")
            self._scan_due = True
            self._last_scan = time.monotonic() - self.config.rescan_interval + self.config.retry_delay
            return
        self.scans += 1

    def _apply_events(self) -> None:
        for _ in range(MAX_EVENTS_PER_STEP):
            try:
                generation, name, args = self.events.get_nowait()
            except queue.Empty:
                return
            if generation != self.generation:
                continue  # a callback of a session already closed
            getattr(self, f"_on_{name}")(*args)

    def _on_nextValidId(self, order_id: int) -> None:
        if not self.ready.is_set():
            log.info("marketdata broker: session %d ready", self.generation)
            self._backoff = self.config.backoff_initial
            self.history.forget_answered()
            self._scan_due = True
            self.ready.set()

    def _on_connectionClosed(self) -> None:
        self._lose("TWS closed the connection")

    def _on_error(self, req_id: int, code: int, text: str, *_rest) -> None:
        if self.history.on_error(req_id, code, text) or self.lookups.on_error(req_id, code, text):
            return
        if code in NOT_CONNECTED or code == CLIENT_ID_IN_USE:
            self._lose(f"TWS error {code}: {text}")
        elif code == LINK_LOST:
            log.warning("TWS lost its link to IB (1100): history and lookups wait")
            self.link_up = False
        elif code in LINK_BACK:
            log.info("TWS link to IB back (%d): looking for gaps again", code)
            self.link_up = True
            self.history.forget_answered()
            self._scan_due = True
        else:
            log.info("TWS notice %s %s: %s", req_id, code, text)

    def _on_historicalData(self, req_id: int, bar) -> None:
        self.history.on_bar(req_id, bar)

    def _on_historicalDataEnd(self, req_id: int, _start: str, _end: str) -> None:
        self.history.on_end(req_id)

    def _on_contractDetails(self, req_id: int, details) -> None:
        self.lookups.on_contract_details(req_id, details)

    def _on_contractDetailsEnd(self, req_id: int) -> None:
        self.lookups.on_contract_details_end(req_id)

    def _on_symbolSamples(self, req_id: int, descriptions) -> None:
        self.lookups.on_symbol_samples(req_id, descriptions)
