"""History backfill: find the missing bars, ask TWS for them within the pacing rules, keep the answers.

Owned by the broker loop's thread (every method runs there). ``plan`` turns gaps into queued
requests; ``step`` sends the next one when pacing allows and times out the one that never
answers; the ``on_*`` methods take TWS's answers. A request that fails or times out is queued
again for later; after ``max_attempts`` it waits for the next scan.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import DatabaseError, close_old_connections

from marketdata.broker import gaps
from marketdata.broker.connection import Session, stock
from marketdata.broker.pacing import HistoryPacing
from marketdata.models import Bar
from marketdata.resolutions import ALL as RESOLUTIONS
from marketdata.services import HistoryBar, history_bars_store
from marketdata.sessions import calendar, calendar_code
from orders.models import Instrument

log = logging.getLogger("marketdata.broker")

PACING_VIOLATION = 162
REQ_ID_BASE = 1_000_000


@dataclass
class Job:
    """A queued or sent request, with the bars received so far."""

    request: gaps.HistoryRequest
    attempts: int = 0
    not_before: float = 0.0
    sent_at: float = 0.0
    bars: list[HistoryBar] = field(default_factory=list)


@dataclass
class HistoryFigures:
    """What the backfill has done since the process started (for logs and tests)."""

    sent: int = 0
    stored: int = 0
    timeouts: int = 0
    violations: int = 0
    failures: int = 0


class HistoryDesk:
    """The backfill's queue, its request in flight, and the pacing that spaces them."""

    def __init__(
        self,
        *,
        lookback_days: int,
        request_timeout: float,
        retry_delay: float,
        max_attempts: int = 3,
        pacing: HistoryPacing | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lookback = timedelta(days=lookback_days)
        self.request_timeout = request_timeout
        self.retry_delay = retry_delay
        self.max_attempts = max_attempts
        self.pacing = pacing or HistoryPacing(clock=clock)
        self.clock = clock
        self.queue: deque[Job] = deque()
        self.in_flight: dict[int, Job] = {}
        self.figures = HistoryFigures()
        # Ranges TWS answered on this session, by (instrument id, resolution): a bar still missing
        # there had no trades (IB sends no bar for it), so periodic scans do not ask for it again.
        self.answered: dict[tuple[int, str], list[tuple[datetime, datetime]]] = {}
        self._next_req_id = REQ_ID_BASE

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing awaited."""
        return not self.queue and not self.in_flight

    def plan(self, now: datetime | None = None) -> int:
        """Queue a request for every run of missing bars of every active instrument and resolution.

        Runs already queued or in flight are not queued twice. Returns how many were queued.
        """
        now = now or datetime.now(UTC)
        # Whole days back: the lookback's first day is filled from its first session on.
        first_day = (now - self.lookback).date()
        since = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
        known = {_identity(job.request) for job in (*self.queue, *self.in_flight.values())}
        queued = 0
        instruments = Instrument.objects.filter(active=True).values_list("id", "symbol", "exchange", "primary_exchange")
        for instrument_id, symbol, exchange, primary in instruments:
            sessions = calendar(calendar_code(exchange, primary))
            for resolution in RESOLUTIONS:
                expected = gaps.expected_bars(resolution, sessions, since, now)
                if not expected:
                    continue
                present = set(
                    Bar.objects.filter(
                        instrument_id=instrument_id, resolution=resolution.code, start__gte=expected[0][0]
                    ).values_list("start", flat=True)
                )
                covered = self.answered.get((instrument_id, resolution.code), ())
                present |= {start for start, _ in expected if any(a <= start < b for a, b in covered)}
                runs = gaps.missing_runs(expected, present)
                for request in gaps.requests_for(instrument_id, symbol, resolution, runs):
                    if _identity(request) not in known:
                        self.queue.append(Job(request))
                        queued += 1
        if queued:
            log.info("history backfill: %d requests queued", queued)
        return queued

    def forget_answered(self) -> None:
        """Look at every missing bar again on the next scan (a new session, or TWS's link to IB back)."""
        self.answered.clear()

    def step(self, session: Session) -> bool:
        """Time out the request that never answered; send the next when pacing allows. True if one went."""
        now = self.clock()
        for req_id, job in list(self.in_flight.items()):
            if now - job.sent_at > self.request_timeout:
                self.figures.timeouts += 1
                log.warning("history %s unanswered after %.0f s; retried later", _describe(job), self.request_timeout)
                del self.in_flight[req_id]
                _cancel(session, req_id)
                self._again(job)
        if self.in_flight or not self.queue:
            return False
        job = self.queue[0]
        request = job.request
        if job.not_before > now or self.pacing.delay(request.identity, request.contract) > 0:
            return False
        req_id = self._next_req_id
        self._next_req_id += 1
        self.pacing.record(request.identity, request.contract)
        job.sent_at, job.bars = now, []
        job.attempts += 1
        self.in_flight[req_id] = job
        self.queue.popleft()
        self.figures.sent += 1
        session.client.reqHistoricalData(
            req_id,
            stock(request.symbol),
            request.end_text,
            request.duration,
            request.resolution.ib_bar_size,
            "TRADES",
            1,
            2,
            False,
            [],
        )
        return True

    def on_bar(self, req_id: int, bar) -> None:
        job = self.in_flight.get(req_id)
        if job is None:
            return
        parsed = parse_bar(job.request.resolution, bar, datetime.now(UTC))
        if parsed is not None:
            job.bars.append(parsed)

    def on_end(self, req_id: int) -> None:
        job = self.in_flight.get(req_id)
        if job is None:
            return
        self.pacing.answered()
        if self._store(job):
            self._mark_answered(job)
        # Awaited until kept: ``idle`` never shows a backfill whose bars are not yet in PostgreSQL.
        del self.in_flight[req_id]

    def on_error(self, req_id: int, code: int, text: str) -> bool:
        """Take an error meant for a history request; False when ``req_id`` is not one of ours."""
        job = self.in_flight.pop(req_id, None)
        if job is None:
            return False
        if code == PACING_VIOLATION and "no data" in text.lower():
            # 162 also says "HMDS query returned no data": an answer, not a violation.
            self.pacing.answered()
            self._mark_answered(job)
            return True
        if code == PACING_VIOLATION:
            self.figures.violations += 1
            wait = self.pacing.violated()
            log.warning("history pacing violation (162) on %s; every request waits %.0f s", _describe(job), wait)
            job.attempts -= 1
            self.queue.appendleft(job)
            return True
        self.figures.failures += 1
        log.warning("history %s refused: %s %s", _describe(job), code, text)
        self._again(job)
        return True

    def on_disconnect(self) -> None:
        """The session ended: what was in flight is asked again on the next one (no attempt counted)."""
        for job in self.in_flight.values():
            job.attempts -= 1
            self.queue.appendleft(job)
        self.in_flight.clear()

    def _again(self, job: Job) -> None:
        if job.attempts >= self.max_attempts:
            log.warning("history %s given up after %d attempts; the next scan finds it", _describe(job), job.attempts)
            return
        job.not_before = self.clock() + self.retry_delay
        self.queue.append(job)

    def _mark_answered(self, job: Job) -> None:
        request = job.request
        self.answered.setdefault((request.instrument_id, request.resolution.code), []).append(
            (request.start, request.end)
        )

    def _store(self, job: Job) -> bool:
        request = job.request
        try:
            stored = history_bars_store(
                instrument_id=request.instrument_id, resolution=request.resolution.code, bars=job.bars
            )
        except DatabaseError:
            log.exception("history %s could not be stored; retried later", _describe(job))
            # A broken connection is replaced before the next write rather than failing it too.
            close_old_connections()
            self._again(job)
            return False
        self.figures.stored += stored
        return True


def parse_bar(resolution, bar, now: datetime) -> HistoryBar | None:
    """The bar ibapi delivered (``BarData``, formatDate=2), keyed by its start; None if unreadable or unclosed."""
    stamp = str(bar.date).strip()
    try:
        if len(stamp) == 8 and stamp.isdigit():
            opened: datetime | date = date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))
        elif stamp.isdigit():
            opened = datetime.fromtimestamp(int(stamp), UTC)
        else:
            opened = datetime.strptime(stamp.replace(" ", "-").replace("--", "-")[:17], gaps.IB_TIME).replace(
                tzinfo=UTC
            )
        start = gaps.bar_start(resolution, opened)
        values = [Decimal(str(v)) for v in (bar.open, bar.high, bar.low, bar.close)]
        volume = max(Decimal(0), Decimal(str(bar.volume)))
    except (ValueError, InvalidOperation, OverflowError):
        log.warning("history bar %r could not be read; skipped", stamp)
        return None
    if min(values) <= 0 or values[2] > values[1]:
        log.warning("history bar %s has impossible prices %s; skipped", stamp, values)
        return None
    # The bar still forming is the live builder's, not history's.
    if _closes(resolution, start) > now:
        return None
    return HistoryBar(start, *values, volume=volume)


def _closes(resolution, start: datetime) -> datetime:
    if not resolution.daily:
        return start + resolution.length
    session = calendar().on(start.date())
    # A day the calendar does not trade (a simulator may) is closed once the day is over.
    return datetime.fromtimestamp(session.close, UTC) if session else start + timedelta(days=1)


def _identity(request: gaps.HistoryRequest) -> tuple:
    return (request.instrument_id, request.resolution.code, request.start, request.end)


def _describe(job: Job) -> str:
    r = job.request
    return f"{r.symbol} {r.resolution.code} {r.duration} to {r.end_text}"


def _cancel(session: Session, req_id: int) -> None:
    try:
        session.client.cancelHistoricalData(req_id)
    except OSError:
        log.debug("cancelHistoricalData failed", exc_info=True)
