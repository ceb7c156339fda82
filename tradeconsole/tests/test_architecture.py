"""The architecture is a checked contract: import-linter's rules in pyproject.toml hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_of_pyproject_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout, result.stdout[-4000:]


def test_a_contract_breach_is_reported(tmp_path):
    # The contract is not vacuous: the same rules over a copy of one worker module that imports
    # Django are broken.
    package = tmp_path / "execution_worker"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "probe.py").write_text("import django\n")
    config = tmp_path / "contract.toml"
    config.write_text(
        "[tool.importlinter]\n"
        'root_packages = ["execution_worker"]\n'
        "include_external_packages = true\n"
        "[[tool.importlinter.contracts]]\n"
        'name = "no django"\n'
        'type = "forbidden"\n'
        'source_modules = ["execution_worker"]\n'
        'forbidden_modules = ["django"]\n'
    )
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), str(config), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout + result.stderr
