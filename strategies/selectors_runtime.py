"""What the strategy runner reads from PostgreSQL: the sessions it holds, their controls and their stored bars."""

from __future__ import annotations

from datetime import UTC, datetime

from marketdata.bars import BarRecord
from marketdata.models import Bar
from strategies import sql
from strategies.models import TradingSession


def held_sessions(session_ids: list[int]) -> list[TradingSession]:
    """The running sessions of ``session_ids`` with what the runner needs to load them (version, symbol)."""
    return list(
        TradingSession.objects.filter(pk__in=session_ids, status=TradingSession.Status.RUNNING)
        .exclude(version=None)
        .exclude(instrument=None)
        .select_related("version", "instrument", "account")
    )


def session_statuses(session_ids: list[int]) -> dict[int, str]:
    """The status of each session of ``session_ids`` now (one indexed read: the runner's control poll)."""
    return dict(TradingSession.objects.filter(pk__in=session_ids).values_list("pk", "status"))


def stored_bars(
    *, instrument_id: int, symbol: str, resolution: str, last: int, after: int | None = None
) -> list[BarRecord]:
    """The newest ``last`` stored bars of the instrument and resolution (and every bar after ``after``), in order.

    ``after`` (epoch seconds, a bar's start) widens the read so a session that missed bars while no
    runner held it reads them all, however many: they are its catch-up.
    """
    rows = Bar.objects.filter(instrument_id=instrument_id, resolution=resolution)
    newest = list(rows.order_by("-start").values_list("start", "open", "high", "low", "close", "volume")[:last])
    newest.reverse()
    if after is not None and newest and int(newest[0][0].timestamp()) > after:
        newest = list(
            rows.filter(start__gt=datetime.fromtimestamp(after, tz=UTC))
            .order_by("start")
            .values_list("start", "open", "high", "low", "close", "volume")
        )
        older = list(
            rows.filter(start__lte=datetime.fromtimestamp(after, tz=UTC))
            .order_by("-start")
            .values_list("start", "open", "high", "low", "close", "volume")[:last]
        )
        older.reverse()
        newest = older + newest
    return [
        BarRecord(symbol, resolution, int(t.timestamp()), o, h, lo, c, v, closed=True) for t, o, h, lo, c, v in newest
    ]


def broker_fills(session_ids: list[int]) -> dict[int, list[tuple[str, float, float, float]]]:
    """Each broker session's fills at the broker, in order, as (side, quantity, price, commission)."""
    fills: dict[int, list] = {pk: [] for pk in session_ids}
    if not session_ids:
        return fills
    # One plain statement: read for every batch of broker bars, where the ORM's compile cost ~1 ms of CPU.
    for pk, side, quantity, price, commission in sql.broker_fill_rows(session_ids):
        fills[pk].append((side, float(quantity), float(price), float(commission or 0)))
    return fills


def bars_between(*, instrument_id: int, symbol: str, resolution: str, after: int, before: int) -> list[BarRecord]:
    """The stored closed bars starting after ``after`` and before ``before`` (epoch seconds), in order."""
    rows = (
        Bar.objects.filter(
            instrument_id=instrument_id,
            resolution=resolution,
            start__gt=datetime.fromtimestamp(after, tz=UTC),
            start__lt=datetime.fromtimestamp(before, tz=UTC),
        )
        .order_by("start")
        .values_list("start", "open", "high", "low", "close", "volume")
    )
    return [
        BarRecord(symbol, resolution, int(t.timestamp()), o, h, lo, c, v, closed=True) for t, o, h, lo, c, v in rows
    ]
