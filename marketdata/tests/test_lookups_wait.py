"""A lookup waits as long as its caller allows, past the shared Redis client's own socket timeout."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings

from marketdata import lookups
from marketdata.keys import MarketKeys
from marketdata.tests.helpers import NFLX
from streams.redis_client import get_redis


def test_an_answer_that_comes_after_the_sockets_five_seconds_still_reaches_the_caller():
    """redis-py gives a socket 5 s by default; one BLPOP of the whole wait ran into it and was
    reported as Redis failing, though the broker was only slow."""
    keys = MarketKeys(settings.STREAM_PREFIX)
    client = get_redis()
    client.delete(keys.lookups)
    done = threading.Event()

    def slow_broker() -> None:
        for _, entries in client.xread({keys.lookups: "0-0"}, block=3000) or []:
            for _, fields in entries:
                request = lookups.parse_request(fields)
                done.wait(5.5)  # the caller's socket would have given up by now
                client.rpush(request.reply, lookups.encode_answer(NFLX.as_dict()))

    thread = threading.Thread(target=slow_broker, daemon=True)
    thread.start()
    try:
        info = lookups.contract_details("NFLX", timeout=8.0)
    finally:
        done.set()
        thread.join(timeout=5)
        client.delete(keys.lookups)
    assert info.con_id == NFLX.con_id and info.description == "NETFLIX INC"


def test_no_answer_is_broker_unavailable_once_the_callers_time_is_up():
    keys = MarketKeys(settings.STREAM_PREFIX)
    get_redis().delete(keys.lookups)
    with pytest.raises(lookups.BrokerUnavailable) as refused:
        lookups.contract_details("NFLX", timeout=0.5)
    assert refused.value.code == "marketdata.broker_unavailable" and "within" in str(refused.value)
