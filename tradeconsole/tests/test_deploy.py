"""Production mode passes Django's deployment checklist (``manage.py check --deploy``) cleanly."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

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
