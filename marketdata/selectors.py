"""Reads of market data: an instrument by its chart symbol, bar history, symbol info, search, the
desk's fills as chart marks, and quotes.

History is the datafeed's hot path: one indexed range read on ``Bar`` (instrument, resolution,
start) that hands back plain tuples of epoch seconds and floats, cast by PostgreSQL, so no model
instance and no ``Decimal`` is built per row; the bar still forming comes from Redis.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import redis
from django.conf import settings
from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import BigIntegerField, Count, FloatField, Func, Max, Q, Subquery, TextField, Value
from django.db.models.functions import Cast, Coalesce, Least
from django.utils import timezone

from execution_worker import messages as m
from marketdata import bars, resolutions
from marketdata.keys import MarketKeys
from marketdata.lookups import UnknownSymbol
from marketdata.models import Bar
from orders import selectors as order_selectors
from orders.models import Instrument, Side
from streams.redis_client import get_redis

logger = logging.getLogger(__name__)

# The longest span one history request may cover, per resolution: a year of one-minute bars
# (~98,000 in regular and extended hours) is the most one answer carries.
MAX_SPAN: dict[str, timedelta] = {
    "1": timedelta(days=366),
    "5": timedelta(days=3 * 366),
    "15": timedelta(days=5 * 366),
    "60": timedelta(days=10 * 366),
    "1D": timedelta(days=50 * 366),
}
MAX_COUNTBACK = 100_000
# More bars than any answer within the limits holds (a year of round-the-clock minutes is 527,040).
MAX_BARS = 600_000
# The epoch seconds a request may name: 1970 to the end of 9999 (what a datetime holds).
MAX_TIMESTAMP = 253_402_300_799
SESSION = "0930-1600"
TIMEZONE = "America/New_York"
SYMBOL_TYPE = "stock"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_MARKS = 1000
MAX_QUOTE_SYMBOLS = 100
# A tick may carry only the fields that moved: the newest value of each is in the last few.
QUOTE_TICKS = 20
QUOTE_FIELDS = ("last", "bid", "ask")


def as_datetime(seconds: int) -> datetime:
    """The UTC instant ``seconds`` after the epoch."""
    return _EPOCH + timedelta(seconds=seconds)


def chart_symbol(text: str) -> str:
    """The desk's symbol in what a chart sends: "nasdaq:aapl" and " AAPL" are both "AAPL"."""
    return str(text).rsplit(":", 1)[-1].strip().upper()


def instrument_for_symbol(symbol: str) -> Instrument:
    """The desk's instrument of ``symbol`` (an active one first, then the oldest).

    :raises UnknownSymbol: the desk has no instrument of that symbol.
    """
    name = chart_symbol(symbol)
    instrument = Instrument.objects.filter(symbol=name).order_by("-active", "id").first() if name else None
    if instrument is None:
        raise UnknownSymbol(f"The desk has no instrument {symbol!r}.", field="symbol")
    return instrument


def bar_history(
    *,
    instrument: Instrument,
    resolution: resolutions.Resolution,
    start: int | None,
    end: int,
    countback: int | None = None,
) -> str:
    """The UDF history answer, as JSON text, of ``instrument``'s bars starting in [``start``, ``end``)
    (epoch seconds).

    With ``countback``, at least that many bars ending before ``end`` (more when [start, end)
    holds more; ``start`` may then be None). The bar still forming is appended when it starts
    before ``end`` and after the last closed bar. No bar at all: ``{"s": "no_data"}`` with
    ``nextTime``, the start of the newest bar before the range, when there is one.

    PostgreSQL writes each column as a JSON array in the one statement that reads the range
    (in the unique index's order): a year of one-minute bars is ~600,000 numbers, which cost
    the web process ~0.4 s of CPU as Python floats and ~10 ms as text passed through.
    """
    closed = Bar.objects.filter(instrument=instrument, resolution=resolution.code, start__lt=as_datetime(end))
    if countback:
        nth_newest = closed.order_by("-start").values("start")[countback - 1 : countback]
        # Fewer than countback bars before ``end``: every one of them.
        lower = Coalesce(Subquery(nth_newest), Value(_EPOCH))
        if start is not None:
            lower = Least(Value(as_datetime(start)), lower)
        rows = closed.filter(start__gte=lower)
    else:
        rows = closed.filter(start__gte=as_datetime(start or 0))
    # Sorted once in a subquery (the index's order) and gathered in that order; an ORDER BY in
    # each of the six aggregates would sort the rows six times (PostgreSQL 15).
    columns = rows.order_by("start")[:MAX_BARS].aggregate(
        count=Count("pk"),
        last=Max(_EPOCH_SECONDS),
        **{name: _json_array(expression) for name, expression in _COLUMNS.items()},
    )
    forming = forming_bar(instrument.symbol, resolution.code)
    if forming is not None and _extends(columns["last"], forming, start=None if countback else start, end=end):
        columns = {
            name: _appended(columns[name], value) for name, value in zip(_COLUMNS, _floats(forming), strict=True)
        }
    elif not columns["count"]:
        return json.dumps(_no_data(instrument, resolution, start if start is not None else end))
    return '{"s":"ok",' + ",".join(f'"{name}":{columns[name]}' for name in _COLUMNS) + "}"


# date_part is float8 arithmetic, EXTRACT numeric (PostgreSQL 14+): a third of the statement's time.
_EPOCH_SECONDS = Cast(Func(Value("epoch"), "start", function="date_part", output_field=FloatField()), BigIntegerField())
_COLUMNS = {
    "t": _EPOCH_SECONDS,
    "o": Cast("open", FloatField()),
    "h": Cast("high", FloatField()),
    "l": Cast("low", FloatField()),
    "c": Cast("close", FloatField()),
    "v": Cast("volume", FloatField()),
}


def _json_array(expression) -> Coalesce:
    # array_to_json(array_agg(x))::text, "[]" for no row: JSON text, never parsed here.
    array = Func(ArrayAgg(expression), function="array_to_json", output_field=TextField())
    return Coalesce(Cast(array, TextField()), Value("[]"), output_field=TextField())


def _appended(array_text: str, value: float) -> str:
    """The JSON array ``array_text`` with ``value`` added at its end."""
    item = json.dumps(value)
    return f"[{item}]" if array_text == "[]" else f"{array_text[:-1]},{item}]"


def forming_bar(symbol: str, resolution: str) -> bars.BarRecord | None:
    """The bar of ``symbol`` being built now, from Redis; None when there is none or Redis fails.

    A history answer without the forming bar is still right up to the last closed bar, so a
    Redis failure is logged, not raised.
    """
    try:
        raw = get_redis().get(MarketKeys(settings.STREAM_PREFIX).forming_bar(symbol, resolution))
        return bars.decode(raw) if raw else None
    except (redis.RedisError, bars.BadBar):
        logger.warning("forming bar of %s %s unreadable", symbol, resolution, exc_info=True)
        return None


def _extends(last: int | None, forming: bars.BarRecord, *, start: int | None, end: int) -> bool:
    # The forming bar belongs to the answer when it starts before ``end`` and after the last
    # closed bar (a bar closed a moment ago may already be in PostgreSQL); alone, within the range.
    if forming.time >= end:
        return False
    if last is not None:
        return forming.time > last
    return start is None or forming.time >= start


def _floats(bar: bars.BarRecord) -> tuple:
    return (bar.time, float(bar.open), float(bar.high), float(bar.low), float(bar.close), float(bar.volume))


def _no_data(instrument: Instrument, resolution: resolutions.Resolution, before: int) -> dict:
    newest = (
        Bar.objects.filter(instrument=instrument, resolution=resolution.code, start__lt=as_datetime(before))
        .order_by("-start")
        .values_list("start", flat=True)
        .first()
    )
    if newest is None:
        return {"s": "no_data"}
    return {"s": "no_data", "nextTime": int(newest.timestamp())}


def _price_scale(min_tick: Decimal) -> tuple[int, int]:
    """UDF's (pricescale, minmov) of a tick: 0.01 → (100, 1), 0.05 → (100, 5), 1 → (1, 1)."""
    tick = Decimal(min_tick).normalize()
    places = max(0, -tick.as_tuple().exponent)
    scale = 10**places
    return scale, int(tick * scale)


def _places(step: Decimal) -> int:
    return max(0, -Decimal(step).normalize().as_tuple().exponent)


def symbol_info(instrument: Instrument) -> dict:
    """The UDF symbol info of ``instrument``: names, session, price scale and the resolutions kept."""
    scale, minmov = _price_scale(instrument.min_tick)
    exchange = instrument.primary_exchange or instrument.exchange
    return {
        "name": instrument.symbol,
        "ticker": instrument.symbol,
        "full_name": f"{exchange}:{instrument.symbol}",
        "description": instrument.description or instrument.symbol,
        "type": SYMBOL_TYPE,
        "session": SESSION,
        "timezone": TIMEZONE,
        "exchange": exchange,
        "listed_exchange": exchange,
        "currency_code": instrument.currency,
        "minmov": minmov,
        "pricescale": scale,
        "has_intraday": True,
        "has_daily": True,
        "intraday_multipliers": [r.code for r in resolutions.ALL if not r.daily],
        "supported_resolutions": [r.code for r in resolutions.ALL],
        "volume_precision": _places(instrument.quantity_increment),
        "data_status": "streaming",
    }


def desk_exchanges() -> list[str]:
    """The exchanges of the desk's active instruments (primary listing when known), sorted."""
    names = Instrument.objects.filter(active=True).values_list("primary_exchange", "exchange")
    return sorted({primary or routed for primary, routed in names})


def instrument_search(*, query: str, exchange: str = "", limit: int = 30) -> list[dict]:
    """The desk's active instruments whose symbol starts with ``query`` or whose description holds
    it, on ``exchange`` when given, exact symbol first, as UDF search results."""
    instruments = Instrument.objects.filter(active=True)
    text = query.strip()
    if text:
        instruments = instruments.filter(Q(symbol__istartswith=text) | Q(description__icontains=text))
    if exchange:
        instruments = instruments.filter(Q(primary_exchange__iexact=exchange) | Q(exchange__iexact=exchange))
    found = sorted(instruments.order_by("symbol", "id")[:limit], key=lambda i: i.symbol != text.upper())
    return [search_result(i.symbol, i.primary_exchange or i.exchange, i.description) for i in found]


def search_result(symbol: str, exchange: str, description: str) -> dict:
    """One UDF search result."""
    return {
        "symbol": symbol,
        "full_name": f"{exchange}:{symbol}" if exchange else symbol,
        "description": description or symbol,
        "exchange": exchange,
        "ticker": symbol,
        "type": SYMBOL_TYPE,
    }


def fill_marks(*, user, instrument: Instrument, start: int, end: int) -> list[dict]:
    """UDF marks of the desk's own fills of ``instrument`` in ``user``'s accounts, executed in
    [``start``, ``end``), oldest first; the newest ``MAX_MARKS`` when there are more."""
    fills = (
        order_selectors.fill_list(user=user, instrument=instrument)
        .filter(executed_at__gte=as_datetime(start), executed_at__lt=as_datetime(end))
        .order_by("-executed_at", "-id")
        .values_list("id", "executed_at", "side", "quantity", "price", "account__code", "order__client_order_id")
    )
    marks = []
    for pk, at, side, quantity, price, account, order_id in reversed(fills[:MAX_MARKS]):
        bought = side == Side.BUY
        qty, px = _text(quantity), _text(price)
        marks.append(
            {
                "id": pk,
                "time": int(at.timestamp()),
                "color": "green" if bought else "red",
                "text": f"{'Bought' if bought else 'Sold'} {qty} {instrument.symbol} @ {px} ({account})",
                "label": "B" if bought else "S",
                "labelFontColor": "white",
                "minSize": 14,
                "side": side,
                "quantity": qty,
                "price": px,
                "order_id": str(order_id) if order_id else None,
                "account": account,
            }
        )
    return marks


def _text(value: Decimal) -> str:
    return f"{value.normalize():f}"


def quotes(symbols: list[str]) -> list[dict]:
    """UDF quotes of ``symbols`` from the tick streams, in the order asked; a symbol the desk does
    not know is ``{"s": "error", "n": symbol, "v": {}}``.

    Each field is the newest value the last ``QUOTE_TICKS`` ticks carry; ``lp`` falls back to the
    instrument's recorded last price; ``ch``/``chp`` are against the newest daily close of an
    earlier day (New York), ``volume`` is today's forming daily bar's.
    """
    names = list(dict.fromkeys(chart_symbol(s) for s in symbols))
    known: dict[str, Instrument] = {}
    for instrument in Instrument.objects.filter(symbol__in=names).order_by("symbol", "-active", "id"):
        known.setdefault(instrument.symbol, instrument)
    ticks, days = _quote_streams(list(known))
    today = timezone.localdate(timezone.now(), timezone=ZoneInfo(TIMEZONE))
    closes = dict(
        Bar.objects.filter(
            instrument__in=list(known.values()),
            resolution=resolutions.ONE_DAY.code,
            start__lt=datetime(today.year, today.month, today.day, tzinfo=UTC),
        )
        .order_by("instrument_id", "-start")
        .distinct("instrument_id")
        .values_list("instrument_id", "close")
    )
    answer = []
    for name in names:
        instrument = known.get(name)
        if instrument is None:
            answer.append({"s": "error", "n": name, "v": {}})
            continue
        fields = ticks.get(name, {})
        last = fields.get("last") or instrument.last_price
        previous = closes.get(instrument.pk)
        change = last - previous if last is not None and previous else None
        exchange = instrument.primary_exchange or instrument.exchange
        values = {
            "lp": _number(last),
            "bid": _number(fields.get("bid")),
            "ask": _number(fields.get("ask")),
            "volume": _number(days.get(name)) or 0.0,
            "ch": _number(change),
            "chp": round(float(change / previous * 100), 2) if change is not None else None,
            "short_name": instrument.symbol,
            "exchange": exchange,
            "description": instrument.description or instrument.symbol,
        }
        answer.append({"s": "ok", "n": name, "v": values})
    return answer


def _quote_streams(symbols: list[str]) -> tuple[dict[str, dict], dict[str, Decimal]]:
    """Per symbol, the newest value of each quote field in its last ticks, and today's volume.

    Quotes are a view of the moment: with Redis down the answer falls back to recorded prices.
    """
    if not symbols:
        return {}, {}
    keys = MarketKeys(settings.STREAM_PREFIX)
    try:
        pipe = get_redis().pipeline(transaction=False)
        for symbol in symbols:
            pipe.xrevrange(keys.ticks(symbol), count=QUOTE_TICKS)
            pipe.get(keys.forming_bar(symbol, resolutions.ONE_DAY.code))
        replies = pipe.execute()
    except redis.RedisError:
        logger.warning("quotes: Redis unreadable", exc_info=True)
        return {}, {}
    ticks, days = {}, {}
    for index, symbol in enumerate(symbols):
        fields: dict[str, Decimal] = {}
        for _, entry in replies[2 * index]:
            try:
                message = m.decode(entry)
            except m.MessageError:
                continue
            for name in QUOTE_FIELDS:
                value = getattr(message, name, None)
                if value is not None:
                    fields.setdefault(name, value)
        ticks[symbol] = fields
        raw_day = replies[2 * index + 1]
        try:
            days[symbol] = bars.decode(raw_day).volume if raw_day else None
        except bars.BadBar:
            days[symbol] = None
    return ticks, days


def _number(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None
