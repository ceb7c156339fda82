"""The marketdata process's own TWS session: an ibapi EClient, a wrapper that queues callbacks, a reader thread.

Callbacks run in ibapi's message loop; they only put ``(name, args)`` on a queue that the broker
loop drains in its own thread, so nothing here raises into ibapi (which would end its loop) and
no state is shared between the two threads but the queue.
"""

from __future__ import annotations

import logging
import queue
import threading

from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.wrapper import EWrapper

log = logging.getLogger("marketdata.broker")

# The callbacks the broker loop handles; every other one is ibapi's no-op.
QUEUED = (
    "nextValidId",
    "error",
    "connectionClosed",
    "historicalData",
    "historicalDataEnd",
    "contractDetails",
    "contractDetailsEnd",
    "symbolSamples",
)


class QueueingWrapper(EWrapper):
    """Put each handled callback on ``events`` as ``(generation, name, args)``."""

    def __init__(self, events: queue.Queue, generation: int) -> None:
        super().__init__()
        self.events = events
        self.generation = generation


def _queuer(name: str):
    def put(self, *args):
        self.events.put((self.generation, name, args))

    put.__name__ = name
    return put


for _name in QUEUED:
    setattr(QueueingWrapper, _name, _queuer(_name))


class Session:
    """One connection to TWS; ``alive`` until the socket or ibapi's loop ends."""

    def __init__(self, client: EClient, thread: threading.Thread) -> None:
        self.client = client
        self.thread = thread

    @property
    def alive(self) -> bool:
        return self.client.isConnected() and self.thread.is_alive()

    def close(self) -> None:
        """Disconnect; never raises (the socket may already be gone)."""
        try:
            self.client.disconnect()
        except Exception:
            log.debug("disconnect raised", exc_info=True)


def open_session(events: queue.Queue, generation: int, host: str, port: int, client_id: int, timeout: float) -> Session:
    """Connect as ``client_id`` and start ibapi's loop, or give up after ``timeout`` seconds.

    ``EClient.connect`` has no timeout of its own (a TWS that accepts and never answers the
    handshake keeps it waiting), so it runs in a thread under this watchdog.

    :raises ConnectionError: refused (ibapi's 502), closed during the handshake, or silent.
    """
    client = EClient(QueueingWrapper(events, generation))
    done = threading.Event()
    failure: list[BaseException] = []

    def connect() -> None:
        try:
            client.connect(host, port, client_id)
        except BaseException as error:  # reported by the watchdog below
            failure.append(error)
        finally:
            done.set()

    threading.Thread(target=connect, name=f"marketdata-tws-connect-{generation}", daemon=True).start()
    if not done.wait(timeout):
        conn = client.conn
        if conn is not None:
            try:
                conn.disconnect()
            except Exception:
                pass
        done.wait(2.0)
        raise ConnectionError(f"no handshake from {host}:{port} within {timeout:.1f} s")
    if failure:
        raise ConnectionError(f"connect to {host}:{port} failed: {failure[0]!r}")
    if not client.isConnected():
        raise ConnectionError(f"could not connect to {host}:{port}")
    thread = threading.Thread(target=_run, args=(client,), name=f"marketdata-tws-{generation}", daemon=True)
    thread.start()
    return Session(client, thread)


def _run(client: EClient) -> None:
    try:
        client.run()
    except Exception:
        log.exception("ibapi message loop ended with an error")


def stock(symbol: str) -> Contract:
    """A US stock routed SMART in USD: the contract every market-data request is about."""
    contract = Contract()
    contract.symbol = symbol
    contract.secType = "STK"
    contract.exchange = "SMART"
    contract.currency = "USD"
    return contract
