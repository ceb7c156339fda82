"""Place an order through the tradeconsole REST API, wait for its fill, and print it.

Needs only ``requests`` and an API token (see docs/api.md: ``POST /api/v1/auth/tokens/``):

    export TRADECONSOLE_TOKEN=...             # from the token endpoint or the admin
    python examples/place_order.py --account DU0000001 --symbol AAPL --side BUY --quantity 10

A market order by default; ``--limit-price`` makes it a limit order. The script sends one
``Idempotency-Key`` for the order, so retrying after a network error can never place it twice:
it resends the same request with the same key and gets the first answer back.
Exit status: 0 filled, 1 refused or ended unfilled, 2 still working at the timeout.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid

import requests

FINAL = {"FILLED", "CANCELLED", "REJECTED", "INACTIVE"}


def api(base_url: str, token: str) -> requests.Session:
    session = requests.Session()
    session.headers.update({"Authorization": f"Token {token}", "Accept": "application/json"})
    session.base_url = base_url.rstrip("/") + "/api/v1"  # type: ignore[attr-defined]
    return session


def place(session: requests.Session, order: dict, *, attempts: int = 3) -> dict:
    """POST the order, retrying network errors with the same Idempotency-Key; return the order.

    :raises SystemExit: the desk refused the order (the problem's code and detail are printed).
    """
    key = str(uuid.uuid4())
    for attempt in range(1, attempts + 1):
        try:
            response = session.post(
                f"{session.base_url}/orders/", json=order, headers={"Idempotency-Key": key}, timeout=10
            )
        except requests.ConnectionError:
            if attempt == attempts:
                raise
            time.sleep(attempt)
            continue
        if response.status_code == 409 and response.json().get("code") == "idempotency.in_progress":
            time.sleep(0.5)  # the first attempt is still being processed: ask again
            continue
        if response.status_code != 201:
            problem = response.json()
            sys.exit(
                f"refused ({response.status_code} {problem.get('code')}): {problem.get('detail')} "
                f"{problem.get('errors', '')}"
            )
        return response.json()
    sys.exit("the order could not be placed")


def wait_for_fill(session: requests.Session, client_order_id: str, timeout: float) -> dict:
    """Poll the order until it is final or ``timeout`` seconds pass; return its last state."""
    deadline = time.monotonic() + timeout
    while True:
        response = session.get(f"{session.base_url}/orders/{client_order_id}/", timeout=10)
        response.raise_for_status()
        order = response.json()
        if order["status"] in FINAL or time.monotonic() >= deadline:
            return order
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("TRADECONSOLE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("TRADECONSOLE_TOKEN"))
    parser.add_argument("--account", default="DU0000001")
    parser.add_argument("--symbol", default="AAPL")
    parser.add_argument("--side", default="BUY", choices=["BUY", "SELL"])
    parser.add_argument("--quantity", default="10")
    parser.add_argument("--limit-price")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    if not args.token:
        parser.error("give --token or set TRADECONSOLE_TOKEN")

    session = api(args.url, args.token)
    order = {"account": args.account, "symbol": args.symbol, "side": args.side, "quantity": args.quantity}
    order.update({"order_type": "LMT", "limit_price": args.limit_price} if args.limit_price else {"order_type": "MKT"})
    placed = place(session, order)
    print(
        f"placed {placed['client_order_id']}: {placed['side']} {placed['quantity']} {placed['symbol']} "
        f"({placed['status']})"
    )

    final = wait_for_fill(session, placed["client_order_id"], args.timeout)
    for fill in final["fills"]:
        print(
            f"fill {fill['exec_id']}: {fill['side']} {fill['quantity']} {fill['symbol']} @ {fill['price']} "
            f"at {fill['executed_at']}"
        )
    print(
        f"order {final['client_order_id']} is {final['status']}: filled {final['filled_quantity']} "
        f"at average {final['average_fill_price']}"
    )
    if final.get("reject_code") or final.get("reject_reason"):
        print(f"rejected ({final.get('reject_code')}): {final.get('reject_reason')}")
    if final["status"] == "FILLED":
        return 0
    return 1 if final["status"] in FINAL else 2


if __name__ == "__main__":
    sys.exit(main())
