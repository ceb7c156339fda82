"""The watchlist: its service (audited writes, the wanted-symbols set in real Redis) and its API.

An unknown symbol goes to the broker through ``marketdata.lookups`` over real Redis: a responder
thread here plays the marketdata process, reading the lookups stream and answering on the reply
list as the lookups contract says.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.conf import settings

from accounts.models import AuditLog, Role
from accounts.tests.factories import UserFactory
from marketdata import broker_quiet, lookups
from marketdata.exceptions import WatchlistFull, WatchlistOrderInvalid, WatchlistSymbolAbsent
from marketdata.keys import MarketKeys
from marketdata.models import WatchlistEntry
from marketdata.services import watchlist_add, watchlist_remove, watchlist_reorder, watchlist_wanted_sync, watchlists
from marketdata.tests.helpers import NFLX, LookupResponder
from orders.models import Instrument
from orders.tests.factories import InstrumentFactory
from streams.redis_client import get_redis

URL = "/api/v1/watchlist/"


@pytest.fixture
def keys():
    """This run's keys; the wanted set and the lookup stream are emptied before and after."""
    keys = MarketKeys(settings.STREAM_PREFIX)
    client = get_redis()
    client.delete(keys.wanted_symbols, keys.lookups)
    broker_quiet.reset()
    yield keys
    client.delete(keys.wanted_symbols, keys.lookups)
    broker_quiet.reset()


class Broker(LookupResponder):
    """A responder on the lookups stream: answers contract details for the contracts it holds,
    TWS error 200 for any other symbol; records what it was asked."""

    def __init__(self, keys: MarketKeys, contracts: dict[str, lookups.ContractInfo]) -> None:
        super().__init__(keys)
        self.contracts = contracts

    def answer(self, request: lookups.LookupRequest) -> str:
        self.asked.append((request.kind, request.query))
        contract = self.contracts.get(request.query)
        if request.kind == lookups.CONTRACT_DETAILS and contract is not None:
            return lookups.encode_answer(contract.as_dict())
        if request.kind == lookups.MATCHING_SYMBOLS:
            matches = [
                {**lookups.SymbolMatch(c.symbol, "STK", c.primary_exchange, c.currency, c.description).as_dict()}
                for c in self.contracts.values()
                if c.symbol.startswith(request.query)
            ]
            return lookups.encode_answer(matches)
        return lookups.encode_refusal(lookups.UnknownSymbol.code, "No security definition found")


def _wanted(keys: MarketKeys) -> set[str]:
    return set(get_redis().smembers(keys.wanted_symbols))


def _symbols(user) -> list[str]:
    return list(
        WatchlistEntry.objects.filter(user=user).order_by("position", "id").values_list("instrument__symbol", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_adding_a_known_symbol_puts_it_last_audits_it_and_makes_it_wanted(viewer, instrument, keys):
    InstrumentFactory(symbol="MSFT", con_id=272093)

    first, created_first = watchlist_add(user=viewer, symbol="msft", via="test")
    second, created_second = watchlist_add(user=viewer, symbol="AAPL", via="test")

    assert (created_first, created_second) == (True, True)
    assert _symbols(viewer) == ["MSFT", "AAPL"]
    assert (first.position, second.position) == (0, 1)
    audit = AuditLog.objects.filter(action="watchlist.add").order_by("id")
    assert [(a.actor_id, a.after["symbol"], a.after["instrument_created"]) for a in audit] == [
        (viewer.pk, "MSFT", False),
        (viewer.pk, "AAPL", False),
    ]
    assert _wanted(keys) == {"MSFT", "AAPL"}


@pytest.mark.django_db(transaction=True)
def test_adding_a_symbol_already_there_changes_nothing(viewer, instrument, keys):
    entry, _ = watchlist_add(user=viewer, symbol="AAPL", via="test")

    again, created = watchlist_add(user=viewer, symbol="AAPL", via="test")

    assert (again.pk, created) == (entry.pk, False)
    assert AuditLog.objects.filter(action="watchlist.add").count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_unknown_symbol_becomes_an_instrument_from_the_brokers_contract_details(viewer, keys):
    with Broker(keys, {"NFLX": NFLX}) as broker:
        entry, created = watchlist_add(user=viewer, symbol="nflx", via="test")

    assert created and broker.asked == [(lookups.CONTRACT_DETAILS, "NFLX")]
    instrument = Instrument.objects.get(symbol="NFLX")
    assert (instrument.con_id, instrument.primary_exchange, instrument.min_tick, instrument.description) == (
        15124833,
        "NASDAQ",
        Decimal("0.01"),
        "NETFLIX INC",
    )
    assert entry.instrument_id == instrument.pk
    assert AuditLog.objects.filter(action="instrument.create", object_id=str(instrument.pk), actor=None).count() == 1
    assert AuditLog.objects.get(action="watchlist.add").after["instrument_created"] is True
    assert _wanted(keys) == {"NFLX"}


@pytest.mark.django_db(transaction=True)
def test_a_symbol_neither_the_desk_nor_the_broker_knows_is_refused_and_writes_nothing(viewer, keys):
    with Broker(keys, {"NFLX": NFLX}), pytest.raises(lookups.UnknownSymbol):
        watchlist_add(user=viewer, symbol="ZZZZQ", via="test")

    assert not Instrument.objects.filter(symbol="ZZZZQ").exists()
    assert not WatchlistEntry.objects.exists() and not AuditLog.objects.filter(action__startswith="watchlist").exists()
    assert _wanted(keys) == set()


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_does_not_answer_is_a_clear_refusal_and_is_left_alone_a_while(viewer, keys):
    with pytest.raises(lookups.BrokerUnavailable):
        watchlist_add(user=viewer, symbol="NFLX", via="test", lookup_timeout=0.2)
    with Broker(keys, {"NFLX": NFLX}) as broker, pytest.raises(lookups.BrokerUnavailable) as quiet:
        watchlist_add(user=viewer, symbol="NFLX", via="test")

    assert broker.asked == [] and "try again" in quiet.value.message
    assert not Instrument.objects.filter(symbol="NFLX").exists()


@pytest.mark.django_db(transaction=True)
def test_a_symbol_stays_wanted_until_the_last_watchlist_lets_it_go(viewer, trader, instrument, keys):
    watchlist_add(user=viewer, symbol="AAPL", via="test")
    watchlist_add(user=trader, symbol="AAPL", via="test")

    watchlist_remove(user=viewer, symbol="AAPL", via="test")
    still = _wanted(keys)
    watchlist_remove(user=trader, symbol="aapl", via="test")

    assert still == {"AAPL"}
    assert _wanted(keys) == set()
    assert AuditLog.objects.filter(action="watchlist.remove").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_full_watchlist_refuses_another_symbol_before_asking_the_broker(viewer, instrument, keys, monkeypatch):
    monkeypatch.setattr(watchlists, "WATCHLIST_LIMIT", 1)
    watchlist_add(user=viewer, symbol="AAPL", via="test")
    InstrumentFactory(symbol="MSFT")

    with pytest.raises(WatchlistFull) as known:
        watchlist_add(user=viewer, symbol="MSFT", via="test")
    with Broker(keys, {"NFLX": NFLX}) as broker, pytest.raises(WatchlistFull):
        watchlist_add(user=viewer, symbol="NFLX", via="test")

    assert known.value.code == "marketdata.watchlist_full" and broker.asked == []
    assert _symbols(viewer) == ["AAPL"]


@pytest.mark.django_db(transaction=True)
def test_removing_a_symbol_not_on_the_watchlist_is_refused(viewer, instrument, keys):
    with pytest.raises(WatchlistSymbolAbsent) as refused:
        watchlist_remove(user=viewer, symbol="AAPL", via="test")

    assert refused.value.code == "marketdata.not_on_watchlist"


@pytest.mark.django_db(transaction=True)
def test_reorder_takes_every_symbol_once(viewer, instrument, keys):
    for symbol in ("MSFT", "NVDA"):
        InstrumentFactory(symbol=symbol)
        watchlist_add(user=viewer, symbol=symbol, via="test")
    watchlist_add(user=viewer, symbol="AAPL", via="test")

    watchlist_reorder(user=viewer, symbols=["AAPL", "NVDA", "MSFT"], via="test")

    assert _symbols(viewer) == ["AAPL", "NVDA", "MSFT"]
    assert AuditLog.objects.get(action="watchlist.reorder").after == {"symbols": ["AAPL", "NVDA", "MSFT"]}
    for bad in (["AAPL", "NVDA"], ["AAPL", "NVDA", "MSFT", "MSFT"], ["AAPL", "NVDA", "TSLA"]):
        with pytest.raises(WatchlistOrderInvalid):
            watchlist_reorder(user=viewer, symbols=bad, via="test")
    assert _symbols(viewer) == ["AAPL", "NVDA", "MSFT"]


@pytest.mark.django_db(transaction=True)
def test_the_wanted_set_is_rebuilt_as_the_union_of_all_watchlists(viewer, trader, instrument, keys):
    InstrumentFactory(symbol="MSFT")
    watchlist_add(user=viewer, symbol="AAPL", via="test")
    watchlist_add(user=trader, symbol="MSFT", via="test")
    get_redis().sadd(keys.wanted_symbols, "STALE")
    get_redis().srem(keys.wanted_symbols, "MSFT")

    assert watchlist_wanted_sync() == {"AAPL", "MSFT"}
    assert _wanted(keys) == {"AAPL", "MSFT"}


@pytest.mark.django_db(transaction=True)
def test_the_marketdata_process_repairs_the_wanted_set_from_the_watchlists(viewer, instrument, keys):
    from marketdata.loops import WantedSymbols

    watchlist_add(user=viewer, symbol="AAPL", via="test")
    get_redis().delete(keys.wanted_symbols)  # as after a Redis restarted empty
    get_redis().sadd(keys.wanted_symbols, "STALE")
    loop, stop = WantedSymbols(interval=0.05), threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = threading.Event()
        for _ in range(100):
            if loop.syncs and _wanted(keys) == {"AAPL"}:
                break
            deadline.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert _wanted(keys) == {"AAPL"} and loop.syncs >= 1


# The API


@pytest.fixture
def client(api_client, viewer):
    api_client.force_authenticate(viewer)
    return api_client


@pytest.mark.django_db(transaction=True)
def test_the_api_lists_adds_and_removes_the_callers_symbols(client, viewer, trader, instrument, keys):
    InstrumentFactory(symbol="MSFT", description="Microsoft")
    watchlist_add(user=trader, symbol="MSFT", via="test")  # another person's list is not the caller's

    added = client.post(URL, {"symbol": "aapl"}, format="json")
    again = client.post(URL, {"symbol": "AAPL"}, format="json")
    listed = client.get(URL)
    removed = client.delete(f"{URL}AAPL/")
    gone = client.delete(f"{URL}AAPL/")

    assert added.status_code == 201 and again.status_code == 200
    assert added.json()["symbol"] == "AAPL" and added.json()["position"] == 0
    assert [row["symbol"] for row in listed.json()] == ["AAPL"]
    assert removed.status_code == 204
    assert gone.status_code == 404 and gone.json()["code"] == "marketdata.not_on_watchlist"
    assert _symbols(viewer) == [] and _symbols(trader) == ["MSFT"]


@pytest.mark.django_db(transaction=True)
def test_the_api_adds_a_symbol_the_broker_knows(client, keys):
    with Broker(keys, {"NFLX": NFLX}):
        response = client.post(URL, {"symbol": "NFLX"}, format="json")
        unknown = client.post(URL, {"symbol": "ZZZZQ"}, format="json")

    assert response.status_code == 201
    assert response.json() | {"added_at": None} == {
        "symbol": "NFLX",
        "description": "NETFLIX INC",
        "exchange": "NASDAQ",
        "position": 0,
        "added_at": None,
    }
    assert unknown.status_code == 404 and unknown.json()["code"] == "marketdata.unknown_symbol"


@pytest.mark.django_db(transaction=True)
def test_the_api_reorders_the_watchlist(client, viewer, instrument, keys):
    InstrumentFactory(symbol="MSFT")
    client.post(URL, {"symbol": "AAPL"}, format="json")
    client.post(URL, {"symbol": "MSFT"}, format="json")

    response = client.put(URL, {"symbols": ["MSFT", "AAPL"]}, format="json")
    refused = client.put(URL, {"symbols": ["MSFT"]}, format="json")

    assert [row["symbol"] for row in response.json()] == ["MSFT", "AAPL"]
    assert refused.status_code == 400 and refused.json()["code"] == "marketdata.bad_watchlist_order"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "validation_error"),
        ({"symbol": ""}, 400, "validation_error"),
        ({"symbol": "$$$"}, 400, "marketdata.bad_symbol"),
        ({"symbol": "A" * 33}, 400, "validation_error"),
    ],
)
def test_a_bad_symbol_is_refused_before_any_lookup(client, body, status, code):
    response = client.post(URL, body, format="json")

    assert response.status_code == status and response.json()["code"] == code
    assert not WatchlistEntry.objects.exists()


@pytest.mark.django_db
def test_the_watchlist_needs_a_desk_role(api_client, user):
    api_client.force_authenticate(user)

    assert api_client.get(URL).status_code == 403
    assert api_client.post(URL, {"symbol": "AAPL"}, format="json").status_code == 403


@pytest.mark.django_db
def test_a_viewer_may_keep_a_watchlist(api_client, account, instrument):
    viewer = UserFactory(username="watcher", roles=[Role.VIEWER], accounts=[account])
    api_client.force_authenticate(viewer)

    assert api_client.post(URL, {"symbol": "AAPL"}, format="json").status_code == 201
