"""The simulated clients of the market topics benchmark: real WebSocket clients in processes of their own.

No Django here: each process (spawned) holds its share of the clients, subscribes each to its
topics, reports when all are subscribed, then records every ``bars.update`` (topic, seq, close,
arrival in ns) and how long decoding took, until told to stop.
"""

from __future__ import annotations

import asyncio
import json
import time

SUBSCRIBE_TIMEOUT = 60.0


async def _client(
    url: str, cookie: str, topics: list[tuple[str, str]], subprotocol: str, out: dict, ready, stop
) -> None:
    import websockets

    encode, decode = json.dumps, json.loads
    origin = "http://" + url.split("/")[2]
    async with websockets.connect(
        url,
        additional_headers={"Cookie": cookie, "Origin": origin},
        subprotocols=[subprotocol],
        compression=None,
        max_size=2**22,
        open_timeout=30,
    ) as ws:
        for n, (symbol, resolution) in enumerate(topics):
            frame = {"type": "bars.subscribe", "id": f"s{n}", "data": {"symbol": symbol, "resolution": resolution}}
            await ws.send(encode(frame))
        answered = 0
        while answered < len(topics):
            frame = decode(await asyncio.wait_for(ws.recv(), SUBSCRIBE_TIMEOUT))
            if frame["type"] == "bars.subscribe.response":
                if "error" in frame:
                    raise RuntimeError(f"subscribe refused: {frame}")
                answered += 1
        ready()
        updates = out["updates"]
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.25)
            except TimeoutError:
                continue
            arrived = time.time_ns()
            started = time.perf_counter_ns()
            frame = decode(raw)
            out["decode_ns"] += time.perf_counter_ns() - started
            if frame["type"] == "bars.update":
                out["bytes"] += len(raw)
                updates.append((frame["topic"], frame["seq"], frame["data"]["close"], arrived))
            elif frame["type"] == "error":
                out["errors"].append(frame["error"]["code"])


def run_clients(
    cookie: str, plan: list[tuple[str, list[tuple[str, str]]]], subprotocol: str, ready_queue, stop, results
) -> None:
    """Process body: one client per entry of ``plan`` (its server's URL, its topics).

    Puts (updates, decode ns, bytes, errors) on ``results`` once ``stop`` is set.
    """

    async def main() -> dict:
        out = {"updates": [], "decode_ns": 0, "bytes": 0, "errors": []}
        stopped = asyncio.Event()
        ready_count = 0

        def ready() -> None:
            nonlocal ready_count
            ready_count += 1
            if ready_count == len(plan):
                ready_queue.put(len(plan))

        async def watch_stop() -> None:
            while not stop.is_set():
                await asyncio.sleep(0.1)
            stopped.set()

        watcher = asyncio.create_task(watch_stop())
        clients = []
        for url, topics in plan:
            clients.append(asyncio.create_task(_client(url, cookie, topics, subprotocol, out, ready, stopped)))
            await asyncio.sleep(0.005)
        done = await asyncio.gather(*clients, return_exceptions=True)
        watcher.cancel()
        out["errors"].extend(f"client failed: {exc!r}" for exc in done if isinstance(exc, BaseException))
        return out

    out = asyncio.run(main())
    results.put((out["updates"], out["decode_ns"], out["bytes"], out["errors"]))
