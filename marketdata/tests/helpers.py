"""Helpers shared by the market-data tests: a contract the desk does not list, and a stand-in for the
marketdata process answering lookups over real Redis as the lookups contract says."""

from __future__ import annotations

import threading
from decimal import Decimal

from marketdata import lookups
from marketdata.keys import MarketKeys
from streams.redis_client import get_redis

NFLX = lookups.ContractInfo(
    symbol="NFLX",
    con_id=15124833,
    exchange="SMART",
    primary_exchange="NASDAQ",
    currency="USD",
    description="NETFLIX INC",
    min_tick=Decimal("0.01"),
    min_size=Decimal("1"),
    size_increment=Decimal("1"),
    trading_hours="20260302:0930-20260302:1600",
)


class LookupResponder:
    """A thread on the lookups stream, while the ``with`` block runs, that pushes ``answer(request)``
    onto each request's reply list; ``asked`` collects what subclasses record there."""

    def __init__(self, keys: MarketKeys) -> None:
        self.keys, self.asked = keys, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-broker", daemon=True)

    def answer(self, request: lookups.LookupRequest) -> str:
        """The encoded answer (or refusal) to ``request``."""
        raise NotImplementedError

    def __enter__(self):
        # Only requests made from now on: an earlier test's or step's are nobody's to answer.
        newest = get_redis().xrevrange(self.keys.lookups, count=1)
        self._last = newest[0][0] if newest else "0-0"
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        client, last = get_redis(), self._last
        while not self._stop.is_set():
            for _, entries in client.xread({self.keys.lookups: last}, block=100) or []:
                for entry_id, fields in entries:
                    last = entry_id
                    request = lookups.parse_request(fields)
                    client.rpush(request.reply, self.answer(request))
