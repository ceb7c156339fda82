"""Ticks as the execution worker writes them, for bench bar_builder: one ``md.tick`` entry per
quote callback (bid, bid size, ask, ask size, last, last size), each the whole quote so far.

``python -m bench.bar_feed PREFIX SYMBOLS RATE SECONDS BASE T0`` writes RATE entries a second for
SECONDS seconds, each stamped BASE + (now - T0) (a session's time running at the wall clock's
pace), then prints how many it wrote.
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from collections.abc import Iterator

MAXLEN = 1000  # the worker's md_maxlen


def symbols(count: int) -> list[str]:
    return [f"B{i:03d}" for i in range(count)]


def entries(names: list[str], seed: int = 1) -> Iterator[tuple[str, dict]]:
    """(symbol, quote so far) of every callback, symbols in turn, prices on a random walk."""
    rng = random.Random(seed)
    quotes = {
        name: {"bid": 10_000 + i, "ask": 10_002 + i, "last": 10_001 + i, "size": 100} for i, name in enumerate(names)
    }
    while True:
        for name in names:
            q = quotes[name]
            q["last"] = max(100, q["last"] + rng.randint(-2, 2))
            q["bid"], q["ask"] = q["last"] - 1, q["last"] + 1
            bid, ask, last = (f"{q[k] // 100}.{q[k] % 100:02d}" for k in ("bid", "ask", "last"))
            size = rng.randint(1, 10) * 100
            fields = [("bid", bid), ("bid_size", "500"), ("ask", ask), ("ask_size", "700"), ("last", last)]
            data: dict = {}
            for key, value in fields:
                data[key] = value
                yield name, data
            data["last_size"] = str(size)
            yield name, data


def fields_of(symbol: str, quote: dict, ts: int) -> dict:
    body = ",".join(f'"{k}":"{v}"' for k, v in quote.items())
    return {
        "v": "1",
        "type": "md.tick",
        "id": str(uuid.uuid4()),
        "ts": str(ts),
        "data": f'{{"symbol":"{symbol}",{body}}}',
    }


def main(argv: list[str]) -> int:
    import redis

    prefix, count, rate, seconds, base, t0, url = (
        argv[0],
        int(argv[1]),
        float(argv[2]),
        float(argv[3]),
        float(argv[4]),
        float(argv[5]),
        argv[6],
    )
    client = redis.Redis.from_url(url)
    feed = entries(symbols(count), seed=2)
    written, started = 0, time.monotonic()
    batch = max(1, int(rate / 100))  # a pipeline every 10 ms
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate)
        if written >= due:
            time.sleep(min(0.01, (written - due + 1) / rate))
            continue
        pipe = client.pipeline(transaction=False)
        ts = int((base + time.time() - t0) * 1e9)
        for _ in range(min(due - written, 5 * batch)):
            symbol, quote = next(feed)
            pipe.xadd(f"{prefix}:md:{symbol}", fields_of(symbol, quote, ts), maxlen=MAXLEN, approximate=True)
            written += 1
        pipe.execute()
    print(written, time.monotonic() - started, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
