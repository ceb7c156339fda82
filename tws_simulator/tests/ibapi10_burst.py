"""ibapi-stable 10.x receives boundary bursts from a running simulator; run by test_boundary.py.

Usage: <ibapi 10 python> ibapi10_burst.py PORT CLIENT_ID COUNT. It connects, prints ``ready``, then
waits (bounded) for COUNT notices whose text starts with ``burst`` and prints one JSON object: how
many arrived, and any error the client raised itself (an unknown message id is its error 505).
"""

from __future__ import annotations

import json
import sys
import threading
import time

from ibapi.client import EClient
from ibapi.wrapper import EWrapper


class App(EWrapper, EClient):
    def __init__(self) -> None:
        EWrapper.__init__(self)
        EClient.__init__(self, wrapper=self)
        self.ready = threading.Event()
        self.bursts = 0
        self.client_errors: list[list] = []

    def nextValidId(self, orderId):
        self.ready.set()

    def error(self, reqId, errorTime, errorCode, errorString, advancedOrderRejectJson=""):
        if errorString.startswith("burst"):
            self.bursts += 1
        elif errorCode < 1000:  # the client's own codes (505 unknown id, 507 bad length, 509 socket)
            self.client_errors.append([reqId, errorCode, errorString])


def main() -> None:
    port, client_id, count = (int(a) for a in sys.argv[1:4])
    app = App()
    app.connect("127.0.0.1", port, client_id)
    threading.Thread(target=app.run, daemon=True).start()
    if not app.ready.wait(10):
        raise SystemExit(json.dumps({"timeout": "nextValidId"}))
    print("ready", flush=True)
    deadline = time.monotonic() + 10
    while app.bursts < count and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # anything after the last expected message would show up here
    app.disconnect()
    print(json.dumps({"bursts": app.bursts, "client_errors": app.client_errors}), flush=True)


if __name__ == "__main__":
    main()
