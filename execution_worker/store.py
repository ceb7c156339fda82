"""The worker's durable state in Redis (``{prefix}:worker:…``) and its in-memory mirror.

``orders`` maps client_order_id -> the order as the worker knows it (JSON); ``order_ids`` maps IB
orderId -> client_order_id; ``max_order_id`` is the highest orderId ever allocated; ``halts`` maps
account (or ``*``) -> halt reason. The client_order_id -> orderId record is written in one MULTI
*before* placeOrder (invariant 2), so a redelivered or repeated command finds it and never places twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import redis

# IB status words after which an order can no longer change.
FINAL_STATES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive", "rejected"})


def _dumps(data: dict) -> str:
    """A record's JSON (compact, as json's would be): orjson, as every order is recorded before
    placeOrder (a tenth of json's time; the record holds only text, numbers, booleans and None)."""
    return orjson.dumps(data).decode()


@dataclass
class OrderRecord:
    """What the worker remembers of one order intent.

    ``state``: ``rejected`` (refused by the gate or TWS), ``scheduled`` (held for not_before),
    ``placing`` (recorded, placeOrder not yet returned), ``unsent`` (claimed, but the session was
    gone before a byte was written: sent again through the gate once its command is read again),
    ``sent`` (placeOrder written), ``unknown`` (sent, outcome unknown), or IB's own status word once
    TWS reported one.
    """

    client_order_id: str
    account: str
    symbol: str
    side: str
    quantity: str
    order_type: str
    limit_price: str | None = None
    stop_price: str | None = None
    tif: str = "DAY"
    sec_type: str = "STK"
    exchange: str = "SMART"
    currency: str = "USD"
    outside_rth: bool = False
    oca_group: str = ""
    order_id: int = 0
    perm_id: int = 0
    state: str = "placing"
    not_before: int | None = None
    placed_ns: int = 0
    created_ns: int = 0
    accepted: bool = False
    retried: bool = False
    reject_code: str = ""
    reject_reason: str = ""
    # The message id of the order.place command, named in order.accepted / order.unknown / order.rejected.
    command_id: str = ""
    # IB's parent (a bracket's child: sent with parentId) and OCA type (0: TWS's default).
    parent_client_order_id: str = ""
    oca_type: int = 0
    # A bracket sent as one chain: the parent's client_order_id on every member (the parent too), and
    # ``held`` while the chain's last transmit=True has not been written (recorded before the first
    # send): such a chain is not working at TWS, which discards an untransmitted chain on disconnect.
    chain: str = ""
    held: bool = False
    # A cancel-and-flatten closing order (``OrderPlace.past_kill_switch``): the desk-wide halt does not refuse it.
    past_kill_switch: bool = False
    # Runtime only (not persisted): the producer's message for scheduled orders, last status seen.
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        # Field by field, not dataclasses.asdict (a deep copy): this runs on the order path.
        data = dict(self.__dict__)
        data.pop("extra")
        return _dumps(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> OrderRecord:
        data = json.loads(text)
        data.pop("extra", None)
        return cls(**data)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


_CLAIM_SCRIPT = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if ARGV[3] ~= '0' then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
  if tonumber(ARGV[3]) > tonumber(redis.call('GET', KEYS[3]) or '0') then
    redis.call('SET', KEYS[3], ARGV[3])
  end
end
return 1
"""


# The one check every placeOrder passes, atomic with its record (mode ``new``: claim the client_order_id,
# as _CLAIM_SCRIPT; ``allocate``: bind an already recorded order to a fresh orderId; ``check``: record
# nothing). Refused, with the halt's value, when the barrier Django writes (KEYS[4]) or the worker's own
# halts (KEYS[5]) cover the account; otherwise the account's and the desk's send leases are (re)set,
# which an engage waits out. Returns 1 (go), 0 (``new``: already claimed) or the halt's value.
# ARGV[7] = '1': a cancel-and-flatten closing order, refused by its account's halt only (not ``*``).
_SEND_SCRIPT = """
local desk = '*'
if ARGV[7] == '1' then desk = ARGV[4] end
local h = redis.call('HMGET', KEYS[4], desk, ARGV[4])
local halt = h[1] or h[2]
if not halt then
  h = redis.call('HMGET', KEYS[5], desk, ARGV[4])
  halt = h[1] or h[2]
end
if halt then return halt end
if ARGV[5] == 'new' then
  if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
elseif ARGV[5] == 'allocate' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
if ARGV[5] ~= 'check' and ARGV[3] ~= '0' then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
  if tonumber(ARGV[3]) > tonumber(redis.call('GET', KEYS[3]) or '0') then
    redis.call('SET', KEYS[3], ARGV[3])
  end
end
redis.call('SET', KEYS[6], '1', 'PX', ARGV[6])
redis.call('SET', KEYS[7], '1', 'PX', ARGV[6])
return 1
"""

# How long a send lease lasts in Redis. The worker calls placeOrder at most SEND_DEADLINE_S after it
# asked for the claim (else it claims again), so a lease always outlives the send it covers.
SEND_LEASE_MS = 300
SEND_DEADLINE_S = 0.2


# The send claim of a whole chain (a bracket), atomic with the records of all its members: the same
# halt check and leases as _SEND_SCRIPT; ``new`` claims every member (none may exist yet: returns 0
# and writes nothing if one does), ``check`` writes nothing. ARGV: account, mode, lease ms, then
# client_order_id, record JSON, orderId of each member.
_CHAIN_SCRIPT = """
local h = redis.call('HMGET', KEYS[4], '*', ARGV[1])
local halt = h[1] or h[2]
if not halt then
  h = redis.call('HMGET', KEYS[5], '*', ARGV[1])
  halt = h[1] or h[2]
end
if halt then return halt end
if ARGV[2] == 'new' then
  for i = 4, #ARGV, 3 do
    if redis.call('HGET', KEYS[1], ARGV[i]) then return 0 end
  end
  local top = tonumber(redis.call('GET', KEYS[3]) or '0')
  for i = 4, #ARGV, 3 do
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    redis.call('HSET', KEYS[2], ARGV[i + 2], ARGV[i])
    if tonumber(ARGV[i + 2]) > top then top = tonumber(ARGV[i + 2]) end
  end
  redis.call('SET', KEYS[3], tostring(top))
end
redis.call('SET', KEYS[6], '1', 'PX', ARGV[3])
redis.call('SET', KEYS[7], '1', 'PX', ARGV[3])
return 1
"""

# Claim a command's message id: add it if absent (score: ms now), keep the set from outliving its use.
_APPLY_SCRIPT = """
local added = redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return added
"""

# Applied command ids are kept this long: the relay republishes unacknowledged commands for minutes,
# and a command entry older than this has long been trimmed from the stream.
APPLIED_RETENTION_MS = 7 * 24 * 3600 * 1000


class Store:
    """Reads and writes of the worker's keys. Every method is one round trip."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.orders_key = f"{prefix}:worker:orders"
        self.ids_key = f"{prefix}:worker:order_ids"
        self.max_id_key = f"{prefix}:worker:max_order_id"
        self.halts_key = f"{prefix}:worker:halts"
        self.applied_key = f"{prefix}:worker:applied_commands"
        self.barrier_key = f"{prefix}:halts"
        self._sending = f"{prefix}:worker:sending:"
        self._claim = client.register_script(_CLAIM_SCRIPT)
        self._send = client.register_script(_SEND_SCRIPT)
        self._apply = client.register_script(_APPLY_SCRIPT)
        self._chain = client.register_script(_CHAIN_SCRIPT)

    def load(self) -> tuple[dict[str, OrderRecord], int, dict[str, str]]:
        """Return every order record, the highest allocated orderId and the halts."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self.orders_key)
        pipe.get(self.max_id_key)
        pipe.hgetall(self.halts_key)
        raw_orders, max_id, halts = pipe.execute()
        records = {}
        for value in raw_orders.values():
            record = OrderRecord.from_json(value)
            records[record.client_order_id] = record
        halts_map = {k.decode(): v.decode() for k, v in halts.items()}
        return records, int(max_id or 0), halts_map

    def record_get(self, client_order_id: str) -> OrderRecord | None:
        """Return the stored record of ``client_order_id``, or None if it was never recorded."""
        value = self.client.hget(self.orders_key, client_order_id)
        return None if value is None else OrderRecord.from_json(value)

    def prune(self, records: dict[str, OrderRecord], *, older_than_ns: int) -> int:
        """Forget final orders created before ``older_than_ns`` (the hash would otherwise grow forever).

        Working, unknown and held orders are kept whatever their age. Returns how many were removed.
        """
        old = [r for r in records.values() if r.final and 0 < r.created_ns < older_than_ns]
        if not old:
            return 0
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(self.orders_key, *[r.client_order_id for r in old])
        ids = [str(r.order_id) for r in old if r.order_id]
        if ids:
            pipe.hdel(self.ids_key, *ids)
        pipe.execute()
        for record in old:
            del records[record.client_order_id]
        return len(old)

    def record_new(self, record: OrderRecord) -> bool:
        """Durably claim ``record.client_order_id`` with its orderId (if any); False if it already exists.

        One atomic script: the orderId mapping and the highest id are written only when the claim
        succeeds, and the highest id never goes down.
        """
        keys = (self.orders_key, self.ids_key, self.max_id_key)
        args = (*keys, record.client_order_id, record.to_json(), record.order_id)
        return bool(self._eval(self._claim, 3, args))

    def claim_send(self, record: OrderRecord, mode: str, *, meanwhile: Callable[[], None] | None = None) -> int | str:
        """The check before every placeOrder, in one atomic script: 1 (send it), 0 (``mode="new"`` and
        the client_order_id is already claimed) or the reason of the halt covering the order's account.

        ``mode``: ``new`` claims the client_order_id with its orderId (as ``record_new``), ``allocate``
        binds a recorded order to a fresh orderId, ``check`` writes no record. On 1 the send leases
        of the account and of the desk are set for ``SEND_LEASE_MS``; nothing is written on a refusal.
        ``meanwhile`` (which must not raise) runs while Redis runs the script: work the send needs
        whatever the answer, done in the round trip's wait rather than after it.

        :raises redis.RedisError: no answer (nothing may be sent; in ``new`` mode the claim may have run).
        """
        keys = (
            self.orders_key,
            self.ids_key,
            self.max_id_key,
            self.barrier_key,
            self.halts_key,
            self._sending + record.account,
            self._sending + "*",
        )
        args = (
            *keys,
            record.client_order_id,
            record.to_json() if mode != "check" else "",
            record.order_id if mode != "check" else 0,
            record.account,
            mode,
            SEND_LEASE_MS,
            "1" if record.past_kill_switch else "0",
        )
        result = self._eval(self._send, 7, args, meanwhile)
        if isinstance(result, bytes):
            return halt_reason(result)
        return int(result)

    def claim_chain(self, records: list[OrderRecord], mode: str) -> int | str:
        """The send claim of a chain (parent first), as ``claim_send`` for one order: 1 (send it), 0
        (``mode="new"`` and a member is already recorded: nothing written) or the halt's reason.

        ``new`` records every member with its orderId in the same atomic script, before the first send.

        :raises redis.RedisError: no answer (nothing may be sent; in ``new`` mode the claim may have run).
        """
        keys = (
            self.orders_key,
            self.ids_key,
            self.max_id_key,
            self.barrier_key,
            self.halts_key,
            self._sending + records[0].account,
            self._sending + "*",
        )
        args: list = [records[0].account, mode, SEND_LEASE_MS]
        if mode == "new":
            for record in records:
                args += [record.client_order_id, record.to_json(), record.order_id]
        result = self._eval(self._chain, 7, (*keys, *args))
        if isinstance(result, bytes):
            return halt_reason(result)
        return int(result)

    def _eval(self, script, numkeys: int, args: tuple, meanwhile: Callable[[], None] | None = None):
        """EVALSHA ``script`` with ``args`` (its keys first) and return Redis's reply, loading the script
        again when Redis lost it. ``meanwhile`` runs once: while Redis answers on a single-connection
        client (``_eval_overlapped``), after the reply on a pooled one; what it raises is raised after
        the reply was read (the script has run).

        EVALSHA itself rather than through the Script object, which re-imports and re-packs on every
        call: these are the round trips an order waits for before placeOrder.

        :raises redis.RedisError: no answer, or Redis refused the script.
        """
        conn = self.client.connection if meanwhile is not None else None
        try:
            if conn is not None:
                return self._eval_overlapped(conn, script.sha, numkeys, args, meanwhile)
            reply = self.client.evalsha(script.sha, numkeys, *args)
        except redis.exceptions.NoScriptError:
            # Redis restarted (or flushed its script cache) since the script was loaded.
            script.sha = self.client.script_load(script.script)
            reply = self.client.evalsha(script.sha, numkeys, *args)
            if conn is not None:
                return reply  # ``meanwhile`` ran during the refused attempt
        if meanwhile is not None:
            meanwhile()
        return reply

    def _eval_overlapped(self, conn, sha: str, numkeys: int, args: tuple, meanwhile: Callable[[], None]):
        """EVALSHA written on ``conn`` (the single-connection client's), ``meanwhile()`` run, then the
        reply read.

        redis-py's ``execute_command`` writes and reads in one call; writing and reading on the
        connection here, under the client's lock, is the same exchange with the wait put to use, and
        without a retry: a claim whose reply was lost is reported, never run twice (a second ``new``
        claim would answer "already claimed").
        """
        with self.client.single_connection_lock:
            conn.send_command("EVALSHA", sha, numkeys, *args)
            try:
                meanwhile()
            finally:
                # Read even if ``meanwhile`` raised: an unread reply would answer the next command.
                reply = conn.read_response()
        return reply

    def save_many(self, records: list[OrderRecord]) -> None:
        """Write several records in one atomic HSET (a chain's members change together)."""
        self.client.hset(self.orders_key, mapping={r.client_order_id: r.to_json() for r in records})

    def claim_command(self, message_id: str, now_ms: int) -> bool:
        """Record that the command ``message_id`` is being applied; False if it already was (a redelivery
        or a republished copy). Check and record are one atomic step, so two copies never both pass."""
        return bool(self._apply(keys=[self.applied_key], args=[message_id, now_ms, APPLIED_RETENTION_MS]))

    def command_applied(self, message_id: str) -> bool:
        """Whether the command ``message_id`` was already applied."""
        return self.client.zscore(self.applied_key, message_id) is not None

    def release_command(self, message_id: str) -> None:
        """Forget a claim whose command had no effect (TWS or Redis went away first): its redelivery applies it."""
        self.client.zrem(self.applied_key, message_id)

    def prune_commands(self, older_than_ms: int) -> int:
        """Drop applied-command ids recorded before ``older_than_ms``; return how many."""
        return int(self.client.zremrangebyscore(self.applied_key, "-inf", f"({older_than_ms}"))

    def save(self, record: OrderRecord) -> None:
        self.client.hset(self.orders_key, record.client_order_id, record.to_json())

    def set_halt(self, account: str, reason: str) -> None:
        self.client.hset(self.halts_key, account, reason)

    def clear_halt(self, account: str) -> None:
        self.client.hdel(self.halts_key, account)


def halt_reason(value: bytes | str) -> str:
    """The reason of a halt as stored: the barrier's JSON ``{"reason": ...}`` or the worker's plain text."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    try:
        data = json.loads(text)
    except ValueError:
        return text or "halted"
    if isinstance(data, dict):
        return str(data.get("reason") or "halted")
    return text or "halted"
