"""The broker side of contract lookups: read the lookups stream, ask TWS, answer on each reply list.

Owned by the broker loop's thread. A lookup is acknowledged as soon as it is read: its asker waits
only until its deadline, so a lookup is never worth asking twice. reqMatchingSymbols is held to one
a second, IB's own limit for it, and all lookups to 20 a second (TWS's 50 messages a second).
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

import redis

from marketdata import lookups
from marketdata.broker.connection import Session, stock
from marketdata.keys import MarketKeys

log = logging.getLogger("marketdata.broker")

UNKNOWN_CONTRACT = 200
REPLY_TTL = 30
MATCHING_INTERVAL = 1.0
# TWS takes 50 messages a second from a client and may disconnect it beyond: a burst of lookups
# is spread out rather than sent at once (history adds at most one request at a time).
LOOKUPS_PER_SECOND = 20
REQ_ID_BASE = 1
REQ_ID_SPAN = 900_000


@dataclass
class PendingLookup:
    request: lookups.LookupRequest
    details: list = field(default_factory=list)


class LookupDesk:
    """Lookups read from Redis and awaiting TWS; ``figures`` counts what was answered."""

    def __init__(self, client: redis.Redis, prefix: str, *, block_ms: int = 20) -> None:
        self.client = client
        self.keys = MarketKeys(prefix)
        self.block_ms = block_ms
        self.consumer = f"{socket.gethostname()}:{id(self)}"
        self.pending: dict[int, PendingLookup] = {}
        self.held: deque[lookups.LookupRequest] = deque()
        self.answered = 0
        self._next_req_id = REQ_ID_BASE
        self._last_matching = 0.0
        self._sent: deque[float] = deque()
        self._group_ready = False

    def read(self, session: Session | None) -> int:
        """Take the lookups waiting on the stream and ask TWS (or refuse them when TWS is away).

        Blocks up to ``block_ms`` when there is none. Returns how many were read.
        :raises redis.RedisError: Redis is unreachable (the loop retries later).
        """
        self._ensure_group()
        replies = self.client.xreadgroup(
            lookups.LOOKUPS_GROUP, self.consumer, {self.keys.lookups: ">"}, count=32, block=self.block_ms
        )
        entries = [entry for _stream, items in replies or () for entry in items]
        if entries:
            self.client.xack(self.keys.lookups, lookups.LOOKUPS_GROUP, *(entry_id for entry_id, _ in entries))
        now_ms = int(time.time() * 1000)
        for _entry_id, fields in entries:
            try:
                request = lookups.parse_request(fields)
            except lookups.BadLookup as error:
                log.warning("bad lookup %r: %s", fields, error)
                if getattr(error, "reply", None) and ":marketdata:reply:" in str(error.reply):
                    self._reply(error.reply, lookups.encode_refusal(error.code, str(error)))
                continue
            if request.expired(now_ms):
                continue
            if session is None or not session.alive:
                self._refuse(request, "TWS is not connected to the marketdata process.")
                continue
            self.held.append(request)
        self.ask_held(session)
        return len(entries)

    def ask_held(self, session: Session | None) -> None:
        """Send the held lookups that may go now (matching symbols waits for its one-a-second turn)."""
        now_ms = int(time.time() * 1000)
        waiting: deque[lookups.LookupRequest] = deque()
        while self.held:
            request = self.held.popleft()
            if request.expired(now_ms):
                continue
            if session is None or not session.alive:
                self._refuse(request, "TWS is not connected to the marketdata process.")
                continue
            now = time.monotonic()
            while self._sent and self._sent[0] <= now - 1.0:
                self._sent.popleft()
            busy = len(self._sent) >= LOOKUPS_PER_SECOND
            if busy or (request.kind == lookups.MATCHING_SYMBOLS and now - self._last_matching < MATCHING_INTERVAL):
                waiting.append(request)
                continue
            if request.kind == lookups.MATCHING_SYMBOLS:
                self._last_matching = now
            self._sent.append(now)
            self._ask(session, request)
        self.held = waiting

    def _ask(self, session: Session, request: lookups.LookupRequest) -> None:
        req_id = self._next_req_id
        self._next_req_id = REQ_ID_BASE + (self._next_req_id + 1 - REQ_ID_BASE) % REQ_ID_SPAN
        self.pending[req_id] = PendingLookup(request)
        try:
            if request.kind == lookups.CONTRACT_DETAILS:
                session.client.reqContractDetails(req_id, stock(request.query))
            else:
                session.client.reqMatchingSymbols(req_id, request.query)
        except OSError as error:
            del self.pending[req_id]
            self._refuse(request, f"TWS could not be asked: {error}")

    def on_contract_details(self, req_id: int, details) -> None:
        pending = self.pending.get(req_id)
        if pending is not None:
            pending.details.append(details)

    def on_contract_details_end(self, req_id: int) -> None:
        pending = self.pending.pop(req_id, None)
        if pending is None:
            return
        chosen = next((d for d in pending.details if _is_us_stock(d)), None)
        if chosen is None:
            self._reply(
                pending.request.reply,
                lookups.encode_refusal(
                    lookups.UnknownSymbol.code, f"No US stock {pending.request.query} at the broker."
                ),
            )
            return
        self._reply(pending.request.reply, lookups.encode_answer(contract_info(chosen).as_dict()))

    def on_symbol_samples(self, req_id: int, descriptions) -> None:
        pending = self.pending.pop(req_id, None)
        if pending is None:
            return
        matches = [symbol_match(d).as_dict() for d in descriptions or ()]
        self._reply(pending.request.reply, lookups.encode_answer(matches))

    def on_error(self, req_id: int, code: int, text: str) -> bool:
        """Answer the lookup ``req_id`` with TWS's refusal; False when it is not a lookup."""
        pending = self.pending.pop(req_id, None)
        if pending is None:
            return False
        if code == UNKNOWN_CONTRACT:
            refusal = lookups.encode_refusal(lookups.UnknownSymbol.code, f"{pending.request.query}: {text}")
        else:
            refusal = lookups.encode_refusal(lookups.BrokerUnavailable.code, f"TWS answered {code}: {text}")
        self._reply(pending.request.reply, refusal)
        return True

    def on_disconnect(self) -> None:
        """The session ended: tell every asker still waiting, rather than let them time out."""
        for pending in self.pending.values():
            self._refuse(pending.request, "The connection to TWS was lost before it answered.")
        self.pending.clear()

    def forget_expired(self) -> None:
        """Drop the lookups whose askers stopped waiting (TWS never answered them)."""
        now_ms = int(time.time() * 1000)
        for req_id, pending in list(self.pending.items()):
            if pending.request.expired(now_ms):
                del self.pending[req_id]

    def _refuse(self, request: lookups.LookupRequest, message: str) -> None:
        self._reply(request.reply, lookups.encode_refusal(lookups.BrokerUnavailable.code, message))

    def _reply(self, key: str, payload: str) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.rpush(key, payload)
            pipe.expire(key, REPLY_TTL)
            pipe.execute()
            self.answered += 1
        except redis.RedisError:
            log.warning("lookup answer to %s lost (Redis)", key, exc_info=True)

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self.client.xgroup_create(self.keys.lookups, lookups.LOOKUPS_GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True


def _is_us_stock(details) -> bool:
    contract = details.contract
    return contract.secType == "STK" and contract.currency == "USD"


def _decimal(value, default: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return Decimal(default)
    # ibapi leaves an unset double at sys.float_info.max; 9.81 has no minSize/sizeIncrement at all.
    return number if 0 < number < Decimal("1e300") else Decimal(default)


def contract_info(details) -> lookups.ContractInfo:
    """The ContractInfo of one ibapi ``ContractDetails``."""
    contract = details.contract
    return lookups.ContractInfo(
        symbol=contract.symbol,
        con_id=int(contract.conId),
        exchange=contract.exchange or "SMART",
        primary_exchange=contract.primaryExchange or "",
        currency=contract.currency,
        description=details.longName or "",
        min_tick=_decimal(details.minTick, "0.01"),
        min_size=_decimal(getattr(details, "minSize", None), "1"),
        size_increment=_decimal(getattr(details, "sizeIncrement", None), "1"),
        trading_hours=details.tradingHours or "",
    )


def symbol_match(description) -> lookups.SymbolMatch:
    """The SymbolMatch of one ibapi ``ContractDescription``."""
    contract = description.contract
    return lookups.SymbolMatch(
        symbol=contract.symbol,
        sec_type=contract.secType,
        primary_exchange=contract.primaryExchange or "",
        currency=contract.currency,
        description=getattr(contract, "description", "") or "",
    )
