"""The sign-in lockout across the desk's two servers: daphne (``web``) and gunicorn (``api``) count into
one store (PostgreSQL), so failures on one lock the other out."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from accounts.models import AuditLog
from accounts.tests.factories import UserFactory
from tradeconsole.tests.database import database_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def servers(tmp_path):
    """daphne and gunicorn (two workers) on the test database, as the Procfile runs them."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "TRADECONSOLE_STREAM_PREFIX": settings.STREAM_PREFIX,
        "TRADECONSOLE_MODE": "test",
        "TRADECONSOLE_LOGIN_FAILURE_LIMIT": "5",
        "TRADECONSOLE_LOGIN_COOLOFF_MINUTES": "15",
        "PYTHONUNBUFFERED": "1",
    }
    web_port, api_port = free_port(), free_port()
    commands = {
        "web": [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(web_port),
            "tradeconsole.asgi:application",
        ],
        "api": [
            sys.executable,
            "-m",
            "gunicorn",
            "tradeconsole.wsgi:application",
            "--bind",
            f"127.0.0.1:{api_port}",
            "--workers",
            "2",
        ],
    }
    processes = {}
    try:
        for name, command in commands.items():
            log = tmp_path / f"{name}.log"
            with log.open("wb") as out:
                processes[name] = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        urls = {"web": f"http://127.0.0.1:{web_port}", "api": f"http://127.0.0.1:{api_port}"}
        for name, url in urls.items():
            wait_until_serving(f"{url}/health/live", processes[name], tmp_path / f"{name}.log")
        yield urls
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def admin_login(base: str, password: str) -> requests.Response:
    session = requests.Session()
    page = session.get(f"{base}/admin/login/", timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session.post(
        f"{base}/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": csrf, "username": "trader", "password": password},
        allow_redirects=False,
        timeout=30,
    )


def token_request(base: str, password: str) -> requests.Response:
    return requests.post(f"{base}/api/v1/auth/tokens/", json={}, auth=("trader", password), timeout=30)


def test_failures_on_daphne_and_gunicorn_add_up_and_both_refuse_the_right_password(servers):
    trader = UserFactory(username="trader")
    # The servers run the real settings' hasher (the test process hashes with MD5).
    trader.password = PBKDF2PasswordHasher().encode("password", PBKDF2PasswordHasher().salt())
    trader.save(update_fields=["password"])

    assert [admin_login(servers["web"], "wrong").status_code for _ in range(3)] == [200, 200, 200]
    assert [token_request(servers["api"], "wrong").status_code for _ in range(2)] == [401, 429]

    on_web = admin_login(servers["web"], "password")
    on_api = token_request(servers["api"], "password")

    assert on_web.status_code == 429 and 0 < int(on_web.headers["Retry-After"]) <= 900
    assert on_api.status_code == 429 and 0 < int(on_api.headers["Retry-After"]) <= 900
    assert on_api.headers["Content-Type"] == "application/problem+json"
    assert on_api.json()["code"] == "auth.locked_out"
    assert "sessionid" not in on_web.cookies
    assert AuditLog.objects.filter(action="login.locked_out", via="api").count() == 1
