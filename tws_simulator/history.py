"""Historical bars as TWS serves them: reqHistoricalData parsed and checked, its answer, keepUpToDate and 5-second bars.

Error codes and texts follow TWS: 200 (unknown contract), 321 (a bad bar size, duration,
whatToShow, date format or end time; an end time with keepUpToDate), 162 (no data in the window,
too many bars). Pacing (162 too) is :mod:`tws_simulator.history_pacing`'s.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tws_simulator import parser as p
from tws_simulator.bars import BAR_SIZES, DAY, MONTH, WEEK, WHAT_TO_SHOW, Bar, Window, bar, windows
from tws_simulator.market import Market
from tws_simulator.trading_hours import TradingHours
from tws_simulator.wire import frame_values

REQ_HISTORICAL_DATA = 20
CANCEL_HISTORICAL_DATA = 25
REQ_REAL_TIME_BARS = 50
CANCEL_REAL_TIME_BARS = 51
HMDS = "Historical Market Data Service error message:"
UNKNOWN_CONTRACT = "No security definition has been found for the request"
REALTIME_BAR = 5
_DURATION_RE = re.compile(r"^(\d+) ([SDWMY])$")
_END_RE = re.compile(r"^(\d{8})([ -])(\d\d:\d\d:\d\d)(?: (\S+))?$")
_BAD_END = (
    "Error validating request.-'bW' : cause - End Date/Time: The date, time, or time-zone entered is invalid. "
    "The correct format is yyyymmdd hh:mm:ss xx/xxxx where yyyymmdd and xx/xxxx are optional; "
    "yyyymmdd-hh:mm:ss is UTC."
)


@dataclass(frozen=True, slots=True)
class Contract:
    """The contract fields of a market-data request that the simulator looks at."""

    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    currency: str

    def key(self) -> tuple[str, str]:
        return self.symbol, self.exchange


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    req_id: int
    contract: Contract
    end_text: str
    bar_size: str
    duration: str
    rth: bool
    what: str
    format_date: int
    keep_up_to_date: bool

    def identity(self) -> tuple:
        """What makes two requests identical for TWS's 15-second rule (everything but the request id)."""
        return (self.contract, self.end_text, self.bar_size, self.duration, self.rth, self.what, self.format_date)


def contract_at(fields: list[str], start: int, req_id: int) -> Contract:
    """The contract of a request whose conId is at ``start`` (symbol, secType, ... follow as ibapi sends them).

    :raises RequestError: 320 on a bad conId.
    """
    return Contract(
        con_id=p.parse_int(p.field_at(fields, start), req_id=req_id),
        symbol=p.field_at(fields, start + 1),
        sec_type=p.field_at(fields, start + 2),
        exchange=p.field_at(fields, start + 7),
        currency=p.field_at(fields, start + 9),
    )


def known(market: Market, contract: Contract) -> bool:
    """True when ``contract`` names one of the simulator's stocks (by symbol, or by conId alone)."""
    quote = market.quotes.get(contract.symbol)
    if quote is None and contract.con_id and not contract.symbol:
        quote = next((q for q in market.quotes.values() if q.con_id == contract.con_id), None)
    if quote is None or contract.sec_type not in ("STK", "") or contract.currency not in ("USD", ""):
        return False
    return not contract.con_id or contract.con_id == quote.con_id


def symbol_of(market: Market, contract: Contract) -> str:
    """The catalogue symbol of a :func:`known` contract."""
    if contract.symbol:
        return contract.symbol
    return next(s for s, q in market.quotes.items() if q.con_id == contract.con_id)


def parse_history_request(fields: list[str]) -> HistoryRequest:
    """reqHistoricalData at 157: [20, reqId, conId, symbol, ..., tradingClass, includeExpired, end, barSize,
    duration, useRTH, whatToShow, formatDate, (combo legs for BAG), keepUpToDate, chartOptions].

    :raises RequestError: 320 on a bad number.
    """
    req_id = p.parse_int(p.field_at(fields, 1))
    contract = contract_at(fields, 2, req_id)
    tail = 21
    if contract.sec_type == "BAG":
        tail += 1 + 4 * p.parse_int(p.field_at(fields, 21), req_id=req_id)
    return HistoryRequest(
        req_id=req_id,
        contract=contract,
        end_text=p.field_at(fields, 15).strip(),
        bar_size=p.field_at(fields, 16).strip(),
        duration=p.field_at(fields, 17).strip(),
        rth=p.parse_int(p.field_at(fields, 18), req_id=req_id) != 0,
        what=p.field_at(fields, 19).strip().upper(),
        format_date=p.parse_int(p.field_at(fields, 20), req_id=req_id),
        keep_up_to_date=p.field_at(fields, tail) not in ("", "0"),
    )


def check(req: HistoryRequest) -> None:
    """Refuse what TWS refuses before it looks for data.

    :raises RequestError: 321 with TWS's cause for a bad bar size, duration, whatToShow, date format,
        or an end time together with keepUpToDate.
    """
    cause = "Error validating request.-'bK' : cause - "
    if req.bar_size not in BAR_SIZES:
        legal = ", ".join(s for s in BAR_SIZES if s not in ("1 week", "1 month"))
        raise p.RequestError(
            321, f"{cause}Historical data bar size setting is invalid. Legal ones are: {legal}", req.req_id
        )
    if not _DURATION_RE.match(req.duration) or int(req.duration.split()[0]) == 0:
        raise p.RequestError(
            321,
            f"{cause}Historical data duration '{p.quote(req.duration)}' is invalid. "
            "The format is '<integer> <unit>', unit one of S, D, W, M, Y",
            req.req_id,
        )
    if req.what not in WHAT_TO_SHOW:
        raise p.RequestError(
            321, f"{cause}Historical data whatToShow '{p.quote(req.what)}' is not supported", req.req_id
        )
    if req.format_date not in (1, 2):
        raise p.RequestError(
            321,
            f"Error validating request.-'bT' : cause - Date formatting selection of {req.format_date} rejected",
            req.req_id,
        )
    if req.keep_up_to_date and req.end_text:
        raise p.RequestError(
            321, "Error validating request.-'bB' : cause - End date not supported with live updates", req.req_id
        )


def parse_end(text: str, now: float, zone: ZoneInfo, req_id: int) -> float:
    """The epoch second of an endDateTime: ``""`` is now; ``yyyymmdd hh:mm:ss [zone]`` is in that zone (the
    exchange's when absent); ``yyyymmdd-hh:mm:ss`` is UTC.

    :raises RequestError: 321 with TWS's End Date/Time text.
    """
    if not text:
        return now
    match = _END_RE.match(text)
    if not match:
        raise p.RequestError(321, _BAD_END, req_id)
    day, sep, clock, zone_name = match.groups()
    try:
        tz = dt.UTC if sep == "-" else ZoneInfo(zone_name) if zone_name else zone
        moment = dt.datetime.strptime(f"{day} {clock}", "%Y%m%d %H:%M:%S").replace(tzinfo=tz)
    except (ValueError, ZoneInfoNotFoundError):
        raise p.RequestError(321, _BAD_END, req_id)
    return moment.timestamp()


def start_of(duration: str, end: float, hours: TradingHours, *, rth: bool) -> float:
    """The first second a duration covers, counting back from ``end`` (days count sessions, as TWS does)."""
    count, unit = int(duration.split()[0]), duration.split()[1]
    if unit == "S":
        return end - count
    if unit == "D":
        return hours.sessions_back(end, count, rth=rth)
    local = hours.local(end)
    if unit == "W":
        return (local - dt.timedelta(weeks=count)).timestamp()
    months = count * (12 if unit == "Y" else 1)
    year, month = divmod(local.month - 1 - months, 12)
    day = min(local.day, 28)
    return local.replace(year=local.year + year, month=month + 1, day=day).timestamp()


def bar_windows(req: HistoryRequest, end: float, hours: TradingHours) -> list[Window]:
    """The windows of the bars a checked request asks for, ending at ``end``."""
    start = start_of(req.duration, end, hours, rth=req.rth)
    return windows(hours, start, end, BAR_SIZES[req.bar_size], rth=req.rth)


def no_data(req: HistoryRequest) -> p.RequestError:
    """162 as HMDS words an empty answer."""
    c = req.contract
    what = req.what.capitalize()
    text = f"{HMDS}HMDS query returned no data: {c.symbol}@{c.exchange or 'SMART'} {what}"
    return p.RequestError(162, text, req.req_id)


def too_many(req: HistoryRequest, count: int, limit: int) -> p.RequestError:
    """162 for an answer over the configured size (TWS's step-size limit)."""
    return p.RequestError(
        162,
        f"{HMDS}Time length exceed max: {count} bars of {req.bar_size} over {req.duration} "
        f"(at most {limit}); use a larger bar size or a shorter duration",
        req.req_id,
    )


def bar_date(b: Bar, format_date: int, hours: TradingHours) -> str:
    """A bar's date as TWS writes it: ``yyyymmdd`` for daily and longer bars; else ``yyyymmdd  hh:mm:ss``
    in the exchange's zone (formatDate 1) or epoch seconds (formatDate 2)."""
    if b.day is not None:
        return b.day.strftime("%Y%m%d")
    if format_date == 2:
        return str(int(b.start))
    return hours.local(b.start).strftime("%Y%m%d  %H:%M:%S")


def history_frame(req: HistoryRequest, bars: list[Bar], start: float, end: float, hours: TradingHours) -> bytes:
    """historicalData at 157 (no version field): reqId, start, end, count, then per bar date, open, high,
    low, close, volume, WAP, barCount; ibapi calls historicalDataEnd after the last bar."""
    values: list[object] = [17, req.req_id, _stamp(start, hours), _stamp(end, hours), len(bars)]
    for b in bars:
        date = bar_date(b, req.format_date, hours)
        values += [date, b.open, b.high, b.low, b.close, b.volume, b.wap, b.count]
    return frame_values(*values)


def update_frame(req_id: int, b: Bar, format_date: int, hours: TradingHours) -> bytes:
    """historicalDataUpdate: reqId, barCount, date, open, close, high, low, WAP, volume (ibapi's order)."""
    date = bar_date(b, format_date, hours)
    return frame_values(90, req_id, b.count, date, b.open, b.close, b.high, b.low, b.wap, b.volume)


def realtime_bar_frame(req_id: int, b: Bar) -> bytes:
    """realtimeBar (version 3): reqId, time, open, high, low, close, volume, WAP, count."""
    return frame_values(50, 3, req_id, int(b.start), b.open, b.high, b.low, b.close, b.volume, b.wap, b.count)


def _stamp(t: float, hours: TradingHours) -> str:
    return hours.local(t).strftime("%Y%m%d  %H:%M:%S")


def answer(market: Market, hours: TradingHours, req: HistoryRequest, now: float, max_bars: int) -> bytes:
    """The historicalData frame of a checked request for a known contract.

    :raises RequestError: 321 for a bad end time; 162 when the window holds no bar, or more than ``max_bars``.
    """
    end = min(parse_end(req.end_text, now, hours.zone, req.req_id), now)
    start = start_of(req.duration, end, hours, rth=req.rth)
    cut = windows(hours, start, end, BAR_SIZES[req.bar_size], rth=req.rth)
    if len(cut) > max_bars:
        raise too_many(req, len(cut), max_bars)
    if not cut:
        raise no_data(req)
    symbol = symbol_of(market, req.contract)
    bars = [bar(market, symbol, w, req.what) for w in cut]
    return history_frame(req, bars, start, end, hours)


def forming_bar(market: Market, hours: TradingHours, req: HistoryRequest, now: float) -> Bar | None:
    """The bar of ``req``'s size that contains ``now`` (from its start to now), or None outside the session."""
    size = BAR_SIZES[req.bar_size]
    span = {WEEK: 7 * DAY, MONTH: 31 * DAY}.get(size, max(size, 1))
    cut = windows(hours, now - span, now + 1, size, rth=req.rth)
    if not cut or cut[-1].end < now:
        return None
    last = Window(cut[-1].start, now + 1, cut[-1].day)
    return bar(market, symbol_of(market, req.contract), last, req.what)


def realtime_bar(market: Market, symbol: str, start: float, what: str) -> Bar:
    """The 5-second bar of ``symbol`` starting at ``start``."""
    return bar(market, symbol, Window(start, start + REALTIME_BAR), what)
