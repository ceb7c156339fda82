"""Contract lookups for the Django side: ask the marketdata process's broker loop, wait for its answer.

The caller XADDs a request to ``{prefix}:marketdata:lookups`` and BLPOPs the reply list
``{prefix}:marketdata:reply:<uuid>``; the broker loop (``marketdata.broker.lookup_desk``) asks TWS
and RPUSHes one JSON answer there, which expires shortly after. The request and reply formats
live here, once, for both ends.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation

import redis
from django.conf import settings

from marketdata.keys import MarketKeys
from streams.redis_client import get_redis
from tradeconsole.exceptions import ApplicationError

CONTRACT_DETAILS = "contract_details"
MATCHING_SYMBOLS = "matching_symbols"
KINDS = (CONTRACT_DETAILS, MATCHING_SYMBOLS)
LOOKUPS_GROUP = "marketdata-broker"
MAX_TIMEOUT = 60.0
BLPOP_SLICE_SECONDS = 2.0
# The request stream holds only lookups still worth answering; older ones are trimmed away.
LOOKUPS_MAXLEN = 10_000
# IB symbols: letters, digits and a few separators ("BRK B", "BF.B"); patterns are free text.
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9 ./-]{0,31}$")
_PATTERN = re.compile(r"^[\x20-\x7e]{1,64}$")


class UnknownSymbol(ApplicationError):
    """The broker has no contract for the symbol (TWS error 200)."""

    code = "marketdata.unknown_symbol"
    http_status = 404
    default_message = "The broker knows no such symbol."


class BadSymbol(UnknownSymbol):
    """Text that cannot be a symbol or a search pattern; never sent to the broker."""

    code = "marketdata.bad_symbol"
    http_status = 400
    default_message = "That is not a symbol."


class BrokerUnavailable(ApplicationError):
    """Nothing answered in time: the marketdata process is down, or TWS is not connected."""

    code = "marketdata.broker_unavailable"
    http_status = 503
    default_message = "The broker did not answer in time."


class BadLookup(ValueError):
    """A request on the lookups stream that cannot be served; ``code`` is the stable error code."""

    code = "marketdata.bad_lookup"


@dataclass(frozen=True, slots=True)
class ContractInfo:
    """A stock's contract as the broker describes it (reqContractDetails)."""

    symbol: str
    con_id: int
    exchange: str
    primary_exchange: str
    currency: str
    description: str
    min_tick: Decimal
    min_size: Decimal
    size_increment: Decimal
    trading_hours: str

    def as_dict(self) -> dict:
        data = asdict(self)
        for name in ("min_tick", "min_size", "size_increment"):
            data[name] = str(data[name])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ContractInfo:
        return cls(
            symbol=str(data["symbol"]),
            con_id=int(data["con_id"]),
            exchange=str(data["exchange"]),
            primary_exchange=str(data["primary_exchange"]),
            currency=str(data["currency"]),
            description=str(data["description"]),
            min_tick=Decimal(str(data["min_tick"])),
            min_size=Decimal(str(data["min_size"])),
            size_increment=Decimal(str(data["size_increment"])),
            trading_hours=str(data["trading_hours"]),
        )


@dataclass(frozen=True, slots=True)
class SymbolMatch:
    """One contract whose symbol or name matches a search pattern (reqMatchingSymbols)."""

    symbol: str
    sec_type: str
    primary_exchange: str
    currency: str
    description: str

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SymbolMatch:
        return cls(**{name: str(data[name]) for name in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class LookupRequest:
    """One request read from the lookups stream: what to ask, where to answer, and until when."""

    kind: str
    query: str
    reply: str
    deadline_ms: int

    def expired(self, now_ms: int) -> bool:
        """True once the caller has stopped waiting: answering then would only leave litter."""
        return now_ms > self.deadline_ms


def normalize_symbol(symbol: object) -> str:
    """``symbol`` stripped and upper-cased; raises ``BadSymbol`` when it cannot be a symbol."""
    text = symbol.strip().upper() if isinstance(symbol, str) else ""
    if not _SYMBOL.match(text):
        raise BadSymbol(f"{symbol!r} is not a symbol (letters, digits, space . / -; at most 32).", field="symbol")
    return text


def normalize_pattern(pattern: object) -> str:
    """``pattern`` stripped; raises ``BadSymbol`` when it is empty, too long or not printable ASCII."""
    text = pattern.strip() if isinstance(pattern, str) else ""
    if not _PATTERN.match(text):
        raise BadSymbol(f"{pattern!r} is not a search pattern (1 to 64 printable characters).", field="pattern")
    return text


def contract_details(symbol: str, *, timeout: float = 5.0) -> ContractInfo:
    """The broker's contract for the US stock ``symbol`` (SMART routing, USD).

    :raises BadSymbol: ``symbol`` cannot be a symbol (nothing is asked).
    :raises UnknownSymbol: the broker has no such contract (TWS error 200).
    :raises BrokerUnavailable: no answer within ``timeout`` seconds.
    """
    result = _ask(CONTRACT_DETAILS, normalize_symbol(symbol), timeout)
    try:
        return ContractInfo.from_dict(result)
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise BrokerUnavailable(f"The broker's answer could not be read: {exc!r}") from exc


def matching_symbols(pattern: str, *, timeout: float = 5.0) -> list[SymbolMatch]:
    """The contracts whose symbol or name matches ``pattern``, as the broker ranks them (may be empty).

    :raises BadSymbol: ``pattern`` is empty, longer than 64 characters or not printable ASCII.
    :raises BrokerUnavailable: no answer within ``timeout`` seconds.
    """
    result = _ask(MATCHING_SYMBOLS, normalize_pattern(pattern), timeout)
    try:
        return [SymbolMatch.from_dict(item) for item in result]
    except (KeyError, TypeError, ValueError) as exc:
        raise BrokerUnavailable(f"The broker's answer could not be read: {exc!r}") from exc


def _ask(kind: str, query: str, timeout: float) -> dict | list:
    if not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_TIMEOUT:
        raise ValueError(f"timeout must be above 0 and at most {MAX_TIMEOUT:.0f} s, not {timeout!r}")
    keys = MarketKeys(settings.STREAM_PREFIX)
    reply = keys.lookup_reply(uuid.uuid4().hex)
    deadline_ms = int((time.time() + timeout) * 1000)
    client = get_redis()
    try:
        client.xadd(
            keys.lookups,
            {"kind": kind, "query": query, "reply": reply, "deadline": str(deadline_ms)},
            maxlen=LOOKUPS_MAXLEN,
            approximate=True,
        )
        answer = None
        # In slices: the shared client's socket gives up after 5 s (redis-py's default socket
        # timeout), which a longer BLPOP would run into and report as Redis failing.
        while answer is None and (remaining := deadline_ms / 1000 - time.time()) > 0:
            answer = client.blpop([reply], timeout=min(remaining, BLPOP_SLICE_SECONDS))
    except redis.RedisError as exc:
        raise BrokerUnavailable(f"Redis could not carry the lookup: {exc}") from exc
    if answer is None:
        raise BrokerUnavailable(f"No answer from the broker within {timeout:g} s.")
    return decode_reply(answer[1])


def parse_request(fields: dict) -> LookupRequest:
    """The lookup in one stream entry's fields.

    :raises BadLookup: a missing or unknown field; ``reply`` is kept on the exception when there
        was one, so the asker can still be told.
    """
    reply = fields.get("reply")
    try:
        kind = fields["kind"]
        if kind not in KINDS:
            raise BadLookup(f"unknown lookup kind {kind!r}")
        query = normalize_symbol(fields["query"]) if kind == CONTRACT_DETAILS else normalize_pattern(fields["query"])
        if not isinstance(reply, str) or ":marketdata:reply:" not in reply:
            raise BadLookup(f"no reply list in {sorted(fields)}")
        return LookupRequest(kind, query, reply, int(fields["deadline"]))
    except BadLookup as exc:
        exc.reply = reply
        raise
    except (KeyError, ValueError, TypeError) as exc:
        error = BadLookup(f"malformed lookup: {exc}")
        error.reply = reply
        raise error from exc


def encode_answer(result: dict | list) -> str:
    """A successful reply (a contract's fields, or a list of matches)."""
    return json.dumps({"ok": True, "result": result}, separators=(",", ":"))


def encode_refusal(code: str, message: str) -> str:
    """A failed reply: ``code`` is one of the stable codes above (or ``marketdata.bad_lookup``)."""
    return json.dumps({"ok": False, "code": code, "message": message[:500]}, separators=(",", ":"))


def decode_reply(raw: str | bytes) -> dict | list:
    """The result in a reply, or the refusal it carries raised as its exception."""
    try:
        data = json.loads(raw)
        ok = bool(data["ok"])
    except (ValueError, TypeError, KeyError) as exc:
        raise BrokerUnavailable(f"The broker's answer could not be read: {exc!r}") from exc
    if ok:
        return data.get("result")
    code, message = data.get("code"), str(data.get("message") or "")
    if code == UnknownSymbol.code:
        raise UnknownSymbol(message or None, field="symbol")
    if code in (BadSymbol.code, BadLookup.code):
        raise BadSymbol(message or None)
    raise BrokerUnavailable(message or None)
