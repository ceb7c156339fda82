"""An interpreter with ibapi-stable 10.x for the tests that run IB's newer client against the simulator.

``ibapi-stable`` installs under the same package name as ``ibapi`` 9.81, so it lives in a venv of its
own: ``$TC_IBAPI10_PYTHON`` if set, else ``.venv-ibapi10/`` at the repository root (``make
.venv-ibapi10``), else a throwaway ``/tmp/tc-ibapi10-venv`` built here on first use.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

IBAPI10 = "ibapi-stable==10.50.2"
ROOT = Path(__file__).resolve().parents[2]
THROWAWAY = Path("/tmp/tc-ibapi10-venv")


def _works(python: Path) -> bool:
    check = "import ibapi.server_versions as s, ibapi.order_cancel; assert s.MAX_CLIENT_VER >= 157"
    try:
        return subprocess.run([str(python), "-c", check], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ibapi10_python() -> Path:
    """Return an interpreter with ibapi-stable 10.x, building the throwaway venv if needed.

    :raises pytest.skip.Exception: no such interpreter can be had here.
    """
    candidates = [Path(p) for p in [os.environ.get("TC_IBAPI10_PYTHON", "")] if p]
    candidates += [ROOT / ".venv-ibapi10" / "bin" / "python", THROWAWAY / "bin" / "python"]
    for python in candidates:
        if python.exists() and _works(python):
            return python
    try:
        subprocess.run([sys.executable, "-m", "venv", str(THROWAWAY)], check=True, capture_output=True, timeout=60)
        subprocess.run(
            [str(THROWAWAY / "bin" / "pip"), "install", "-q", IBAPI10], check=True, capture_output=True, timeout=180
        )
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot build a venv with {IBAPI10}: {exc}")
    python = THROWAWAY / "bin" / "python"
    if not _works(python):
        pytest.skip(f"{IBAPI10} installed but does not import")
    return python
