"""The documents a desk user reads name what the product does: every refusal code the worker sends."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _worker_refusal_codes() -> set[str]:
    """The codes of ``order.rejected`` the worker sends itself (``broker.*`` codes are TWS's)."""
    source = "\n".join(path.read_text() for path in (ROOT / "execution_worker").glob("*.py"))
    return set(re.findall(r'"((?:risk|worker)\.(?!heartbeat|failed)[a-z_]+)"', source))


def test_the_api_document_names_every_refusal_code_of_the_worker():
    codes = _worker_refusal_codes()
    api = (ROOT / "docs" / "api.md").read_text()

    assert {"risk.duplicate", "risk.no_limits", "worker.not_cancellable"} <= codes
    assert sorted(code for code in codes if f"`{code}`" not in api) == []


def test_the_readme_says_an_identical_order_within_two_seconds_is_refused():
    readme = (ROOT / "README.md").read_text()

    assert "`risk.duplicate`" in readme and "2 s" in readme
