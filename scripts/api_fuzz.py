"""A long Schemathesis campaign against the API as a Trader, on a real server (issue 15's criterion).

The suite's ``tradeconsole/tests/test_api_schema.py`` runs a few examples per operation in
process; this runs the Procfile's ``api`` server (gunicorn, production settings, behind a
pretended TLS proxy) on a free 127.0.0.1 port, against a fresh private database
(``<DATABASE_URL's name>_bench_api_fuzz``) seeded with the demo desk, a Trader who is a member
of DU0000001 only (DU0000002 is another desk's account for him), orders on both accounts, a
scheduled order and alerts (one desk-wide), and runs the Schemathesis CLI for ``--seconds``
(default 300) with every check of the criterion: no 5xx, and every answer as the schema says
(status, content type, headers, body), and malformed input refused.

Usage::

    DATABASE_URL=postgres://root@127.0.0.1:5432/tc_h3 REDIS_URL=redis://127.0.0.1:6379/5 \
    TRADECONSOLE_STREAM_PREFIX=tch3 .venv/bin/python scripts/api_fuzz.py --seconds 300

Exits with Schemathesis' status (0: nothing found). The report (JUnit and NDJSON) is written to
``--report-dir`` (default ``.run/api-fuzz``).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from datetime import time as dt_time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# What the criterion asks: no 5xx (a documented broker outage aside, scripts/api_fuzz_checks.py),
# no schema violation, bad input refused.
CHECKS = (
    "not_a_server_error_but_a_broker_outage",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
PRODUCTION_ENV = {
    "TRADECONSOLE_MODE": "production",
    "SECRET_KEY": "api-fuzz-" + "x" * 50,
    "ALLOWED_HOSTS": "127.0.0.1",
    "TRADECONSOLE_LOG_LEVEL": "WARNING",
}


def _seed() -> str:
    """Create the desk the campaign runs on; return the Trader's token."""
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from knox.models import AuthToken

    from accounts.models import AccountMembership, Alert, BrokerAccount, Role, User
    from accounts.services import alert_raise
    from orders import services as order_services
    from orders.models import Instrument, OrderSource
    from orders.services import scheduled_order_create

    call_command("seed_demo", verbosity=0)
    mine, theirs = BrokerAccount.objects.get(code="DU0000001"), BrokerAccount.objects.get(code="DU0000002")
    trader, _ = User.objects.get_or_create(username="fuzz-trader")
    trader.groups.add(Group.objects.get(name=Role.TRADER))
    AccountMembership.objects.get_or_create(user=trader, account=mine)
    spy = Instrument.objects.get(symbol="SPY")
    for account in (mine, theirs):
        for quantity in (1, 2, 3):
            order_services.order_submit(
                actor=None,
                account=account,
                instrument=spy,
                side="BUY",
                quantity=quantity,
                order_type="LMT",
                limit_price=Decimal("499.00"),
                source=OrderSource.API,
                via="fuzz",
            )
    scheduled_order_create(
        actor=None,
        account=mine,
        via="fuzz",
        name="fuzz open",
        instrument=spy,
        side="BUY",
        quantity=Decimal("1"),
        time_of_day=dt_time(9, 35),
    )
    alert_raise(key="fuzz.desk", kind="fuzz.desk", message="A desk-wide alert.", severity=Alert.Severity.INFO)
    alert_raise(key="fuzz.account", kind="fuzz.account", message="An account alert.", account=mine)
    AuthToken.objects.filter(user=trader).delete()
    return AuthToken.objects.create(user=trader)[1]


def _start_server(port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, **PRODUCTION_ENV}
    command = [sys.executable, "-m", "gunicorn", "tradeconsole.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers), "--worker-class", "gthread", "--threads", "4", "--log-level", "warning"]
    # The request-line limit (gunicorn's 414, an HTML page) belongs to the server in front of the
    # API, not to its contract: off here, so the fuzzer's long query strings reach the API.
    command += ["--limit-request-line", "0"]
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def _wait_ready(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the API server did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=300, help="time budget of the campaign (default 300)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--seed", type=int, default=None, help="Schemathesis' random seed (default: random)")
    parser.add_argument("--report-dir", default=str(ROOT / ".run" / "api-fuzz"))
    args = parser.parse_args(argv)

    from bench.api_server import stop
    from bench.database import setup_django
    from bench.live_rig import free_port

    setup_django("api_fuzz")
    token = _seed()
    port = free_port()
    server = _start_server(port, args.workers)
    try:
        _wait_ready(port, 60)
        command = [sys.executable, "-m", "schemathesis.cli", "run", f"http://127.0.0.1:{port}/api/v1/schema/"]
        command += ["--url", f"http://127.0.0.1:{port}/", "--max-time", str(args.seconds)]
        command += ["-H", f"Authorization: Token {token}", "-H", "X-Forwarded-Proto: https"]
        command += ["--checks", ",".join(CHECKS), "--workers", "2", "--request-timeout", "30"]
        # The campaign's own credential must survive it: revoking it would turn the rest into 401s.
        command += ["--exclude-operation-id", "auth_tokens_destroy"]
        command += ["--suppress-health-check", "all", "--report", "junit,ndjson", "--report-dir", args.report_dir]
        if args.seed is not None:
            command += ["--seed", str(args.seed)]
        # Bounded twice: Schemathesis' own budget, then a hard stop well after it.
        hooks = {**os.environ, "SCHEMATHESIS_HOOKS": "scripts.api_fuzz_checks", "PYTHONPATH": str(ROOT)}
        return subprocess.run(command, cwd=ROOT, env=hooks, timeout=args.seconds + 600).returncode
    finally:
        stop(server)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
