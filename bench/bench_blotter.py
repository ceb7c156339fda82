"""Orders blotter with 10,000 orders in the database: the page's server time (goal p99 <= 300 ms).

The database is filled with bulk inserts: 10,000 orders on 4 accounts and 25 instruments, in
every status, some of strategies' sessions, some rejected with a reason, over 30 days. A desk
member (not a superuser: the account scoping is part of the read) asks for the page through
Django's test client in this process, so a sample is the whole server side (middleware, the
reads, the template's 200 rows) without a network or a browser: the default page (newest
first), a search ("msft": the symbol and a strategy's name), a search of reject reasons
("buying power"), a sort by symbol and a sort by filled quantity. ``TC_BENCH_BLOTTER_REPEAT``
(60) requests of each, after 5 unmeasured ones, with DEBUG off (it would keep every query's
text). ``TC_BENCH_BLOTTER_ORDERS`` sets the number of orders.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from datetime import timedelta
from decimal import Decimal

from bench.database import setup_django
from bench.report import Figure, latency_figures

ORDERS = int(os.environ.get("TC_BENCH_BLOTTER_ORDERS", "10000"))
REPEAT = int(os.environ.get("TC_BENCH_BLOTTER_REPEAT", "60"))
WARMUP = 5
GOALS = {"p99": 300.0}
CASES = {
    "default page (newest first)": {},
    "search 'msft'": {"q": "msft"},
    "search 'buying power' (reject reasons)": {"q": "buying power"},
    "sort by symbol": {"sort": "symbol"},
    "sort by filled, largest first": {"sort": "-filled"},
}
SYMBOLS = ["AAPL", "MSFT", "GOOG", "AMZN", "META", "NVDA", "TSLA", "IBM", "ORCL", "INTC", "AMD", "NFLX", "ADBE"] + [
    f"BEN{i:02d}" for i in range(12)
]
REASONS = ["Order rejected: insufficient buying power", "Price off the tick", "Outside regular trading hours"]


def _fill(rng: random.Random) -> object:
    """Create the desk and its orders; return the member who reads the blotter."""
    from django.utils import timezone

    from accounts.models import AccountMembership, BrokerAccount, Role, User
    from accounts.services import roles_sync
    from orders.models import Instrument, Order, OrderStatus
    from strategies.models import Strategy, TradingSession

    roles_sync()
    accounts = [BrokerAccount.objects.create(code=f"DU{9000 + i}", name=f"Blotter {i}") for i in range(4)]
    instruments = [Instrument.objects.create(symbol=s, last_price=Decimal("100")) for s in SYMBOLS]
    strategies = [Strategy.objects.create(name=name) for name in ("MSFT momentum", "Mean reversion", "Pairs")]
    sessions = [
        TradingSession.objects.create(strategy=strategy, account=account, instrument=instruments[0])
        for strategy in strategies
        for account in accounts[:2]
    ]
    user = User.objects.create(username="bench-blotter", is_staff=True)
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name=Role.TRADER))
    for account in accounts:
        AccountMembership.objects.create(user=user, account=account)
    statuses = list(OrderStatus.values)
    now = timezone.now()
    orders = []
    for n in range(ORDERS):
        status = rng.choice(statuses)
        quantity = Decimal(rng.randrange(1, 50) * 10)
        orders.append(
            Order(
                client_order_id=uuid.UUID(int=rng.getrandbits(128)),
                account=rng.choice(accounts),
                instrument=rng.choice(instruments),
                side=rng.choice(["BUY", "SELL"]),
                quantity=quantity,
                order_type="LMT",
                limit_price=Decimal("100.00"),
                status=status,
                filled_quantity=quantity if status == OrderStatus.FILLED else Decimal("0"),
                reject_reason=rng.choice(REASONS) if status == OrderStatus.REJECTED else "",
                trading_session=rng.choice(sessions) if n % 5 == 0 else None,
                source="admin",
            )
        )
    Order.objects.bulk_create(orders, batch_size=2000)
    # created_at is auto_now_add: spread it over 30 days afterwards, so that the sort reads a real spread.
    spread = [(order.pk, now - timedelta(seconds=rng.randrange(30 * 86400))) for order in orders]
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {Order._meta.db_table} SET created_at = %s WHERE id = %s", [(t, pk) for pk, t in spread]
        )
        cursor.execute(f"ANALYZE {Order._meta.db_table}")
    return user


def _measure(client, params: dict) -> list[float]:
    samples = []
    for n in range(WARMUP + REPEAT):
        started = time.perf_counter()
        response = client.get("/live/orders/", params)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"/live/orders/ {params}: {response.status_code}")
        if n >= WARMUP:
            samples.append(elapsed)
    return samples


def main() -> list[Figure]:
    os.environ["DEBUG"] = "false"
    os.environ["TRADECONSOLE_STREAM_PREFIX"] = f"tcbench{uuid.uuid4().hex[:8]}"
    setup_django("blotter")
    from django.test import Client

    user = _fill(random.Random(22))
    client = Client()
    client.force_login(user)
    figures = []
    for name, params in CASES.items():
        rows = client.get("/live/orders/", params).content.count(b'<tr id="order-')
        label = f"blotter, {ORDERS:,} orders, {name} ({rows} rows)"
        figures += [
            f for f in latency_figures(label, _measure(client, params), GOALS) if f.name.endswith(("p50", "p99"))
        ]
    return figures


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
