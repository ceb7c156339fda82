"""One order's correlation id in the web, relay, worker and bridge logs (issue 21, logs).

The desk runs as separate processes writing JSON lines (the default), the relay and the bridge
apart: an order is posted to the API of the web process with an ``X-Request-ID``; that id is found
in each process's lines about the order, and every such line names no other id.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from decimal import Decimal

import pytest
import requests
from knox.models import AuthToken

from accounts.models import Role
from accounts.tests.factories import BrokerAccountFactory, UserFactory
from orders.services import risk_limits_publish
from orders.tests.factories import InstrumentFactory, RiskLimitFactory
from streams import keys
from streams.redis_client import get_redis
from streams.tests.stack import Stack, _wait_http, _wait_port, free_port, process_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ACCOUNT = "DU0000001"
PROCESSES = ("web", "relay", "execution", "bridge")


def _start(stack: Stack) -> str:
    """Start the simulator, the worker, the relay, the bridge and daphne; return daphne's base URL."""
    env = {**process_env(), "TRADECONSOLE_LOG_FORMAT": "json"}
    tws_port = free_port()
    python = sys.executable
    tws = ["-m", "tws_simulator", "--host", "127.0.0.1", "--port", str(tws_port), "--accounts", ACCOUNT]
    stack._spawn("tws", [python, *tws, "--seed", "1", "--instruments", "AAPL=100", "--fill-delay", "0.1"], env)
    _wait_port(tws_port, 20)
    worker = ["-m", "execution_worker", "--tws-port", str(tws_port), "--tws-client-id", "7", "--fast-timers"]
    stack._spawn(
        "execution", [python, *worker, "--consumer", "execution-correlation-test", "--md-symbols", "AAPL"], env
    )
    stack._spawn("relay", [python, "manage.py", "stream_bridge", "--relay-only", "--poll", "0.2"], env)
    stack._spawn("bridge", [python, "manage.py", "stream_bridge", "--bridge-only"], env)
    web_port = free_port()
    web = ["-m", "tradeconsole.web", "-b", "127.0.0.1", "-p", str(web_port), "tradeconsole.asgi:application"]
    stack._spawn("web", [python, *web], env)
    url = f"http://127.0.0.1:{web_port}"
    _wait_http(url + "/health/live", 30)
    return url


def _lines(stack: Stack, name: str) -> list[dict]:
    text = (stack.logs / f"{name}.log").read_text(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _about(lines: list[dict], client_order_id: str) -> list[dict]:
    return [line for line in lines if client_order_id in line["event"]]


def test_one_orders_correlation_id_is_in_the_web_relay_worker_and_bridge_lines(tmp_path):
    account = BrokerAccountFactory(code=ACCOUNT)
    RiskLimitFactory(account=account)
    # The worker refuses an account whose limits the relay has not published (risk.no_limits).
    risk_limits_publish(account=account)
    InstrumentFactory(symbol="AAPL", con_id=265598, last_price=Decimal("100.00"))
    trader = UserFactory(username="correlated", roles=[Role.TRADER], accounts=[account])
    _, token = AuthToken.objects.create(user=trader)
    request_id = f"order-{uuid.uuid4().hex[:12]}"

    stack = Stack(tmp_path)
    try:
        url = _start(stack)
        # The relay publishes the limits, the worker reads them within a second (limits_interval)
        # and checks the price collar against AAPL's last price from its market data.
        deadline = time.monotonic() + 60
        while not (
            get_redis().exists(keys.risk_limits_key(ACCOUNT)) and get_redis().exists(keys.market_data_stream("AAPL"))
        ):
            assert time.monotonic() < deadline, (stack.log("relay"), stack.log("execution"))
            time.sleep(0.2)
        time.sleep(1.5)
        response = requests.post(
            f"{url}/api/v1/orders/",
            json={
                "account": ACCOUNT,
                "symbol": "AAPL",
                "side": "BUY",
                "quantity": "3",
                "order_type": "LMT",
                "limit_price": "101",
            },
            headers={
                "Authorization": f"Token {token}",
                "X-Request-ID": request_id,
                "Idempotency-Key": uuid.uuid4().hex,
            },
            timeout=30,
        )
        assert response.status_code == 201, response.text
        assert response.headers["X-Request-ID"] == request_id
        client_order_id = response.json()["client_order_id"]

        deadline = time.monotonic() + 60
        while not any("order.filled" in line["event"] for line in _about(_lines(stack, "bridge"), client_order_id)):
            assert time.monotonic() < deadline, {name: stack.log(name) for name in (*PROCESSES, "tws")}
            time.sleep(0.2)
    finally:
        stack.stop()

    about = {name: _about(_lines(stack, name), client_order_id) for name in PROCESSES}
    for name, lines in about.items():
        assert lines, f"no {name} line about {client_order_id}:\n{stack.log(name)}"
        # grep of the id shows the order's path: every line of it names the one id.
        assert {line.get("correlation_id") for line in lines} == {request_id}, (name, lines)
        assert all(line["ts"].endswith("Z") for line in lines)
    assert any(line["event"].startswith("queued order.place") for line in about["web"])
    assert any(line["event"].startswith("published order.place") for line in about["relay"])
    assert any(line["event"].startswith("order.place") for line in about["execution"])
    applied = {line["event"].split()[1] for line in about["bridge"]}
    assert {"order.accepted", "order.filled"} <= applied, applied
