"""Every process's log lines on one clock: UTC in ISO 8601 with the zone written, whatever the local zone.

Each process is started as the Procfile (or ``make run``) starts it, in a local zone that is
neither UTC nor the desk's, and its lines are read back: Django sets its own processes' zone to
the desk's (``TZ=TIME_ZONE``), which is how ``make run`` came to mix New York time and UTC.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# A zone far from both UTC and New York, so a line on either local clock is caught.
LOCAL_ZONE = "Asia/Tokyo"
STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) ")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TZ=LOCAL_ZONE,
        PYTHONUNBUFFERED="1",
        REDIS_URL=settings.REDIS_URL,
        TRADECONSOLE_STREAM_PREFIX=settings.STREAM_PREFIX,
        TRADECONSOLE_MODE="test",
        TRADECONSOLE_LOG_FORMAT="json",
    )
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _procfile(name: str, **values: str) -> list[str]:
    """The Procfile's command of process ``name``, ``${VAR:-default}`` replaced by ``values`` or the default."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith(f"{name}:"))
    command = line.split(":", 1)[1]
    command = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda match: values.get(match[1], match[2]), command)
    words = shlex.split(command)
    # Programs of the virtualenv (gunicorn, celery) as make run finds them on its PATH.
    program = Path(sys.executable).parent / words[0]
    return [sys.executable if words[0] == "python" else str(program) if program.exists() else words[0], *words[1:]]


def _assert_utc(line: str, started: float) -> None:
    """``line`` is stamped in UTC (``…Z``) at a moment while the process ran: a JSON line's ``ts``
    (``logclock.structured``), or the text line's first word."""
    if line.startswith("{"):
        text = json.loads(line)["ts"]
        assert text.endswith("Z"), f"not stamped in UTC with the zone written: {line!r}"
    else:
        found = STAMP.match(line)
        assert found, f"not stamped in UTC with the zone written: {line!r}"
        text = found[1]
    stamp = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert started - 5 <= stamp.timestamp() <= time.time() + 5, f"{line!r} is not UTC now"


def _run_until(command: list[str], *, ready: str, env: dict, then=None, timeout: float = 60) -> list[str]:
    """Start ``command``, wait for an output line containing ``ready``, call ``then()``, stop it (SIGTERM).

    Returns every line it wrote (stdout and stderr together).
    """
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if ready in line:
                if then is not None:
                    then()
                break
        else:
            pytest.fail(f"{command[:3]} did not say {ready!r} within {timeout} s:\n" + "\n".join(lines))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            rest, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            rest, _ = process.communicate()
    lines += rest.splitlines()
    assert any(ready in line for line in lines), "\n".join(lines)
    return lines


def _fields(line: str) -> tuple[str, str, str]:
    """A JSON line's level, logger and message (the test processes log JSON, the default)."""
    found = json.loads(line)
    return found["level"], found["logger"], found["event"]


def _log_lines(lines: list[str], *needles: str) -> list[str]:
    found = [line for line in lines if any(needle in line for needle in needles)]
    assert found, "\n".join(lines)
    return found


def _delete_keys(pattern: str) -> None:
    from streams.redis_client import get_redis

    client = get_redis()
    for key in client.scan_iter(match=pattern):
        client.delete(key)


@pytest.mark.parametrize("kind", ["json", "console"])
def test_a_django_process_logs_in_utc_not_in_the_desks_zone(kind):
    started = time.time()
    code = "import django; django.setup(); import logging; logging.getLogger('probe').warning('probe line')"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(DJANGO_SETTINGS_MODULE="tradeconsole.settings", TRADECONSOLE_LOG_FORMAT=kind),
        capture_output=True,
        text=True,
        timeout=60,
    )
    (line,) = _log_lines(result.stderr.splitlines(), "probe line")
    _assert_utc(line, started)
    if kind == "json":
        assert _fields(line) == ("warning", "probe", "probe line")
    else:
        assert line.endswith(" WARNING probe probe line")


def test_web_daphne_logs_and_its_access_log_are_in_utc(transactional_db):
    from streams.tests.stack import process_env

    started = time.time()
    port = _free_port()
    env = {**process_env(), "TZ": LOCAL_ZONE, "TRADECONSOLE_LOG_FORMAT": "json"}

    def get() -> None:
        assert requests.get(f"http://127.0.0.1:{port}/health/live", timeout=10).status_code == 200

    lines = _run_until(_procfile("web", PORT=str(port)), ready="Listening on TCP address", env=env, then=get)
    for line in _log_lines(lines, "Listening on TCP address", "GET /health/live"):
        _assert_utc(line, started)
    assert any('"GET /health/live" 200' in _fields(line)[2] for line in lines if line.startswith("{")), lines


def test_api_gunicorn_logs_in_utc():
    started = time.time()
    port = _free_port()
    # The Procfile's line, with one worker and its start-up lines (INFO) shown.
    command = [*_procfile("api", TRADECONSOLE_API_PORT=str(port), TRADECONSOLE_API_WORKERS="1"), "--log-level", "info"]
    lines = _run_until(command, ready="Booting worker", env=_env())
    for line in _log_lines(lines, "Starting gunicorn", "Listening at", "Booting worker"):
        _assert_utc(line, started)


def test_celery_beat_logs_in_utc_through_djangos_logging(tmp_path):
    started = time.time()
    command = _procfile("beat")
    command = [word for word in command if not word.startswith("--schedule")] + [f"--schedule={tmp_path}/beat"]
    try:
        lines = _run_until(command, ready="beat: Starting", env=_env())
    finally:
        _delete_keys(f"{settings.STREAM_PREFIX}:celery:*")
    (line,) = _log_lines(lines, "beat: Starting")
    _assert_utc(line, started)


def test_the_celery_worker_configures_its_logging_from_djangos(tmp_path):
    # The worker and beat both configure logging through app.log.setup (a worker takes too long to
    # start here); the signal hands it to settings.LOGGING.
    started = time.time()
    code = (
        "from tradeconsole.celery import app; app.log.setup(loglevel='INFO', redirect_stdouts=False); "
        "import logging; logging.getLogger('celery.worker').info('probe line')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60
    )
    (line,) = _log_lines(result.stderr.splitlines(), "probe line")
    _assert_utc(line, started)
    assert _fields(line) == ("info", "celery.worker", "probe line")


def test_the_execution_worker_logs_in_utc(tmp_path):
    started = time.time()
    closed = _free_port()
    command = [*_procfile("execution"), "--tws-port", str(closed), "--prefix", f"{settings.STREAM_PREFIX}logclock"]
    try:
        lines = _run_until(command, ready="gateway disconnected", env=_env())
    finally:
        _delete_keys(f"{settings.STREAM_PREFIX}logclock:*")
    for line in _log_lines(lines, "gateway connecting", "shutting down"):
        _assert_utc(line, started)


def test_the_simulator_logs_in_utc(tmp_path):
    started = time.time()
    command = [sys.executable, "-m", "tws_simulator", "--host", "127.0.0.1", "--port", "0", "--accounts", "DU0000001"]
    lines = _run_until(command, ready="tws_simulator listening", env=_env())
    (line,) = _log_lines(lines, '"logger":"tws_simulator","event":"stopped"')
    _assert_utc(line, started)


def test_make_runs_honcho_prefixes_lines_with_utc_and_the_zone(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("probe: echo probe line\n")
    run_sh = (ROOT / "scripts" / "run.sh").read_text()
    launcher = re.search(r'"\$PY" (-m logclock\.honcho) start', run_sh)
    assert launcher, "scripts/run.sh does not start honcho through logclock.honcho"
    before = datetime.now(UTC)
    result = subprocess.run(
        [sys.executable, "-m", "logclock.honcho", "start", "--procfile", str(procfile), "--no-colour"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    after = datetime.now(UTC)
    (line,) = _log_lines(result.stdout.splitlines(), "| probe line")
    found = re.match(r"(\d\d:\d\d:\d\d)Z probe\.1\s+\| probe line$", line)
    assert found, line
    moment = datetime.combine(before.date(), datetime.strptime(found[1], "%H:%M:%S").time(), tzinfo=UTC)
    if moment < before - timedelta(hours=12):  # the run crossed UTC midnight
        moment += timedelta(days=1)
    assert before - timedelta(seconds=2) <= moment <= after + timedelta(seconds=1), (line, before, after)
