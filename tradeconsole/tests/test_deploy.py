"""Deployment: production mode passes ``check --deploy``; ``scripts/run.sh`` starts and stops the desk."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest
import redis
import requests

ROOT = Path(__file__).resolve().parents[2]


def _check_deploy(**overrides: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}}
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_nothing_in_production_mode():
    result = _check_deploy(
        TRADECONSOLE_MODE="production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="desk.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_on_the_development_defaults():
    # The same check must be able to fail, or the test above proves nothing.
    result = _check_deploy(TRADECONSOLE_MODE="development")
    assert result.returncode != 0
    assert "security.W" in result.stdout + result.stderr


def test_production_mode_refuses_to_start_without_a_secret_key():
    result = _check_deploy(TRADECONSOLE_MODE="production", ALLOWED_HOSTS="desk.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_until(predicate, *, timeout: float, what: str, output: list[str]):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; run.sh said:\n" + "".join(output[-60:]))


def _ready(base: str) -> bool:
    try:
        return requests.get(f"{base}/health/ready", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def _csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


@pytest.fixture
def run_dir():
    """A run directory the ``postgres`` user can reach (pytest's own is private to this user):
    as root, the private PostgreSQL runs as ``postgres``."""
    parent = Path(tempfile.mkdtemp(prefix="tc-run-"))
    parent.chmod(0o755)
    yield parent / "run"
    shutil.rmtree(parent, ignore_errors=True)


def _postmaster_pid(run_dir: Path) -> int:
    return int((run_dir / "pg" / "data" / "postmaster.pid").read_text().split()[0])


@pytest.mark.slow
def test_run_script_serves_the_admin_where_an_entered_order_is_new_and_stops_cleanly(run_dir):
    """The quick start as a new user meets it: a private PostgreSQL and Redis, the printed password."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY"}}
    env.update(
        TRADECONSOLE_MODE="development",
        PORT=str(port),
        # A "real" TWS is configured, so no simulator starts; only the web process is needed here.
        TWS_HOST="127.0.0.1",
        TWS_PORT=str(_free_port()),
        TRADECONSOLE_PROCESSES="web",
        TRADECONSOLE_RUN_DIR=str(run_dir),
        TRADECONSOLE_STREAM_PREFIX="tcruntest",
    )
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "run.sh")], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    redis_pid = postgres_pid = None
    try:
        _wait_until(lambda: _ready(base), timeout=180, what="the web process", output=output)
        printed = "".join(output)
        password = re.search(r"trader\s+password: (\S+)", printed).group(1)
        redis_pid = int((run_dir / "redis.pid").read_text())
        assert _alive(redis_pid)
        assert "redis: private redis-server on 127.0.0.1:" in printed
        # The private Redis requires the generated password, kept for this user only and never printed.
        password_file = run_dir / "redis.password"
        redis_password = password_file.read_text().strip()
        assert len(redis_password) >= 32 and password_file.stat().st_mode & 0o777 == 0o600
        assert (run_dir / "redis.conf").stat().st_mode & 0o777 == 0o600
        assert redis_password not in printed
        redis_port = int(re.search(r"private redis-server on 127\.0\.0\.1:(\d+)", printed).group(1))
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=redis_port).ping()
        assert redis.Redis(port=redis_port, password=redis_password).ping()

        # The private PostgreSQL likewise: its own generated password, never printed.
        postgres_pid = _postmaster_pid(run_dir)
        assert _alive(postgres_pid)
        postgres_password_file = run_dir / "postgres.password"
        postgres_password = postgres_password_file.read_text().strip()
        assert len(postgres_password) >= 32 and postgres_password_file.stat().st_mode & 0o777 == 0o600
        assert postgres_password not in printed
        postgres_port = int(re.search(r"private PostgreSQL on 127\.0\.0\.1:(\d+)", printed).group(1))
        database_url = f"postgres://tradeconsole:{postgres_password}@127.0.0.1:{postgres_port}/tradeconsole"
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(f"postgres://tradeconsole:wrong@127.0.0.1:{postgres_port}/tradeconsole").close()

        session = requests.Session()
        login = session.get(f"{base}/admin/login/", timeout=10)
        page = session.post(
            f"{base}/admin/login/?next=/admin/",
            data={"csrfmiddlewaretoken": _csrf(login.text), "username": "trader", "password": password},
            headers={"Referer": f"{base}/admin/login/"},
            timeout=10,
        )
        assert 'id="desk-summary"' in page.text
        form = session.get(f"{base}/admin/orders/order/add/", timeout=10).text
        client_order_id = re.search(r'name="client_order_id" value="([^"]+)"', form).group(1)
        account = re.search(r'<option value="(\d+)"[^>]*>DU0000001</option>', form).group(1)
        aapl = re.search(r'<option value="(\d+)">AAPL</option>', form).group(1)
        entered = session.post(
            f"{base}/admin/orders/order/add/",
            data={
                "csrfmiddlewaretoken": _csrf(form),
                "client_order_id": client_order_id,
                "account": account,
                "instrument": aapl,
                "side": "BUY",
                "quantity": "10",
                "order_type": "LMT",
                "limit_price": "189.50",
                "tif": "DAY",
                "_save": "Save",
            },
            headers={"Referer": f"{base}/admin/orders/order/add/"},
            timeout=10,
        )
        assert entered.status_code == 200 and "/change/" in entered.url, entered.text[-2000:]

        with psycopg.connect(database_url) as db:
            ((order_id, status),) = db.execute(
                "SELECT id, status FROM orders_order WHERE client_order_id = %s", (client_order_id,)
            ).fetchall()
            events = db.execute("SELECT kind FROM orders_orderevent WHERE order_id = %s", (order_id,)).fetchall()
            audits = db.execute(
                "SELECT action FROM accounts_auditlog WHERE object_type = 'orders.order' AND object_id = %s",
                (str(order_id),),
            ).fetchall()
        assert status == "NEW"
        assert events == [("submitted",)]
        assert audits == [("order.submit",)]

        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does
        assert process.wait(timeout=60) == 0, "".join(output[-40:])
        _wait_until(lambda: not _alive(redis_pid), timeout=10, what="the private Redis to stop", output=output)
        assert not (run_dir / "redis.pid").exists()
        _wait_until(lambda: not _alive(postgres_pid), timeout=10, what="the private PostgreSQL to stop", output=output)
        assert not (run_dir / "pg" / "data" / "postmaster.pid").exists()
        # Its data stays for the next run.
        assert (run_dir / "pg" / "data" / "PG_VERSION").exists()
        assert not _ready(base)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        if redis_pid and _alive(redis_pid):
            os.kill(redis_pid, signal.SIGTERM)
        if postgres_pid and _alive(postgres_pid):
            os.kill(postgres_pid, signal.SIGTERM)


def test_run_script_stops_at_once_when_redis_url_refuses_its_password(tmp_path):
    """A configured Redis that refuses the password is a setting to fix: no private Redis instead."""
    from execution_worker.tests.private_redis import private_redis

    with private_redis(tmp_path) as server:
        # DATABASE_URL stays (the test database): the script stops before anything is written.
        env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
        env.update(
            TRADECONSOLE_MODE="development",
            REDIS_URL=server.url(password="wrong-one"),
            PORT=str(_free_port()),
            TWS_HOST="127.0.0.1",
            TRADECONSOLE_RUN_DIR=str(tmp_path / "run"),
        )
        done = subprocess.run(
            [str(ROOT / "scripts" / "run.sh")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 1
    assert f"redis://:***@127.0.0.1:{server.port}/0 refuses REDIS_URL's credentials" in done.stderr
    assert "wrong-one" not in done.stdout + done.stderr
    assert not (tmp_path / "run" / "redis.pid").exists()
