"""Each user's watchlist: add a symbol (creating the instrument from the broker when the desk does
not know it), reorder, remove; and the set of symbols the desk wants quotes of, kept in Redis.

``{prefix}:md:wanted`` is the union of every user's watchlist: a symbol is added to it when a
watchlist gains it and removed when the last watchlist holding it lets it go, after the commit.
``watchlist_wanted_sync`` rebuilds it from PostgreSQL, which stays the record.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q

from accounts.models import User
from accounts.services import audit_record
from marketdata import broker_quiet, lookups
from marketdata.exceptions import WatchlistFull, WatchlistOrderInvalid, WatchlistSymbolAbsent
from marketdata.keys import MarketKeys
from marketdata.models import WatchlistEntry
from marketdata.selectors import chart_symbol, instrument_for_symbol
from orders.exceptions import InstrumentExists
from orders.models import Instrument
from orders.services import instrument_create
from streams.redis_client import get_redis

logger = logging.getLogger(__name__)

WATCHLIST_LIMIT = 200
LOOKUP_TIMEOUT = 5.0


def watchlist_add(
    *, user: User, symbol: str, via: str, lookup_timeout: float = LOOKUP_TIMEOUT
) -> tuple[WatchlistEntry, bool]:
    """Put ``symbol`` last on ``user``'s watchlist; return the entry and whether it is new.

    A symbol already there changes nothing (no audit row). A symbol the desk has no instrument
    of is asked of the broker (outside any transaction), and the instrument is created from its
    contract details (``orders.services.instrument_create``, by the desk itself: the contract is
    the broker's, not the person's) in the same transaction as the entry and its audit row.
    The symbol joins ``{prefix}:md:wanted`` on commit.

    :raises lookups.BadSymbol: ``symbol`` cannot be a symbol.
    :raises WatchlistFull: the watchlist already holds ``WATCHLIST_LIMIT`` symbols.
    :raises lookups.UnknownSymbol: neither the desk nor the broker knows the symbol.
    :raises lookups.BrokerUnavailable: the broker did not answer within ``lookup_timeout``, or did
        not answer a lookup a moment ago (``marketdata.broker_quiet``).
    :raises InstrumentInvalid: the broker's contract details do not make a valid instrument.
    """
    name = lookups.normalize_symbol(symbol)
    try:
        instrument, contract = instrument_for_symbol(name), None
    except lookups.UnknownSymbol:
        if WatchlistEntry.objects.filter(user=user).count() >= WATCHLIST_LIMIT:
            raise WatchlistFull(f"Your watchlist holds {WATCHLIST_LIMIT} symbols.") from None
        instrument, contract = None, _contract_details(name, timeout=lookup_timeout)
    return _entry_add(user=user, instrument=instrument, contract=contract, via=via)


def _contract_details(symbol: str, *, timeout: float) -> lookups.ContractInfo:
    wait = broker_quiet.remaining()
    if wait:
        raise lookups.BrokerUnavailable(f"The broker did not answer a moment ago; try again in {wait:.0f} s.")
    try:
        return lookups.contract_details(symbol, timeout=timeout)
    except lookups.BrokerUnavailable:
        broker_quiet.unanswered()
        raise


@transaction.atomic
def _entry_add(
    *, user: User, instrument: Instrument | None, contract: lookups.ContractInfo | None, via: str
) -> tuple[WatchlistEntry, bool]:
    # The user's row serialises this user's watchlist writes (position, limit).
    User.objects.select_for_update().filter(pk=user.pk).first()
    created_instrument = instrument is None
    if instrument is None:
        instrument = _instrument_from_contract(contract, via=via)
    entry = WatchlistEntry.objects.filter(user=user, instrument=instrument).first()
    if entry is not None:
        return entry, False
    held = WatchlistEntry.objects.filter(user=user).aggregate(count=Count("id"), last=Max("position"))
    if held["count"] >= WATCHLIST_LIMIT:
        raise WatchlistFull(f"Your watchlist holds {WATCHLIST_LIMIT} symbols.")
    position = 0 if held["last"] is None else held["last"] + 1
    entry = WatchlistEntry.objects.create(user=user, instrument=instrument, position=position)
    audit_record(
        actor=user,
        action="watchlist.add",
        obj=entry,
        after={"symbol": instrument.symbol, "position": position, "instrument_created": created_instrument},
        via=via,
    )
    symbol = instrument.symbol
    transaction.on_commit(lambda: _wanted_add(symbol))
    return entry, True


def _instrument_from_contract(contract: lookups.ContractInfo, *, via: str) -> Instrument:
    """The instrument of the broker's ``contract``, created now unless a concurrent add made it first."""
    try:
        return instrument_create(
            actor=None,
            symbol=contract.symbol,
            exchange=contract.exchange or "SMART",
            primary_exchange=contract.primary_exchange,
            currency=contract.currency,
            con_id=contract.con_id,
            min_tick=contract.min_tick,
            min_quantity=contract.min_size,
            quantity_increment=contract.size_increment,
            description=contract.description[:128],
            via=via,
        )
    except InstrumentExists:
        same = Q(con_id=contract.con_id) | Q(symbol=contract.symbol.upper(), currency=contract.currency.upper())
        found = Instrument.objects.filter(same).order_by("-active", "id").first()
        if found is None:
            raise
        return found


@transaction.atomic
def watchlist_remove(*, user: User, symbol: str, via: str) -> None:
    """Take ``symbol`` off ``user``'s watchlist; it leaves ``{prefix}:md:wanted`` on commit when no
    other watchlist holds it.

    :raises WatchlistSymbolAbsent: the symbol is not on the watchlist.
    """
    name = chart_symbol(symbol)
    entry = (
        WatchlistEntry.objects.select_for_update()
        .select_related("instrument")
        .filter(user=user, instrument__symbol=name)
        .first()
    )
    if entry is None:
        raise WatchlistSymbolAbsent(f"{name or symbol!r} is not on your watchlist.", field="symbol")
    audit_record(
        actor=user,
        action="watchlist.remove",
        obj=entry,
        before={"symbol": name, "position": entry.position},
        via=via,
    )
    entry.delete()
    transaction.on_commit(lambda: _wanted_release(name))


@transaction.atomic
def watchlist_reorder(*, user: User, symbols: list[str], via: str) -> list[WatchlistEntry]:
    """Put ``user``'s watchlist in the order of ``symbols``, which names each of its symbols once.

    The same order as now writes nothing.

    :raises WatchlistOrderInvalid: a symbol missing, repeated or not on the watchlist.
    """
    entries = list(WatchlistEntry.objects.select_for_update().select_related("instrument").filter(user=user))
    by_symbol = {entry.instrument.symbol: entry for entry in entries}
    names = [chart_symbol(symbol) for symbol in symbols]
    if len(set(names)) != len(names) or set(names) != set(by_symbol):
        raise WatchlistOrderInvalid(field="symbols")
    before = [entry.instrument.symbol for entry in sorted(entries, key=lambda e: (e.position, e.id))]
    ordered = [by_symbol[name] for name in names]
    if before == names:
        return ordered
    for position, entry in enumerate(ordered):
        entry.position = position
    WatchlistEntry.objects.bulk_update(ordered, ["position"])
    audit_record(
        actor=user, action="watchlist.reorder", obj=user, before={"symbols": before}, after={"symbols": names}, via=via
    )
    return ordered


def watchlist_wanted_sync() -> set[str]:
    """Make ``{prefix}:md:wanted`` exactly the symbols on any watchlist; return them.

    :raises redis.RedisError: Redis is unreachable.
    """
    wanted = set(WatchlistEntry.objects.values_list("instrument__symbol", flat=True).distinct())
    key = MarketKeys(settings.STREAM_PREFIX).wanted_symbols
    pipe = get_redis().pipeline(transaction=True)
    pipe.delete(key)
    if wanted:
        pipe.sadd(key, *sorted(wanted))
    pipe.execute()
    return wanted


def _wanted_add(symbol: str) -> None:
    try:
        get_redis().sadd(MarketKeys(settings.STREAM_PREFIX).wanted_symbols, symbol)
    except redis.RedisError:
        # The entry is committed; the set is rebuilt from PostgreSQL by watchlist_wanted_sync.
        logger.warning("could not add %s to the wanted symbols", symbol, exc_info=True)


def _wanted_release(symbol: str) -> None:
    # Read after the commit: a watchlist that still holds the symbol keeps it wanted.
    if WatchlistEntry.objects.filter(instrument__symbol=symbol).exists():
        return
    try:
        get_redis().srem(MarketKeys(settings.STREAM_PREFIX).wanted_symbols, symbol)
    except redis.RedisError:
        logger.warning("could not remove %s from the wanted symbols", symbol, exc_info=True)
