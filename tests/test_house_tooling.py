"""The house tooling passes on the whole tree: ruff's lint rules and mypy, strict on the
contracts and the stage interfaces (all configured in pyproject.toml). Run from the README's test
command, so CI checks them with everything else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the tools are installed beside the tests' Python (requirements-dev.lock)


def tool(name: str, *args: str) -> subprocess.CompletedProcess:
    executable = BIN / name
    if not executable.exists():
        pytest.fail(f"{name} is not installed beside {sys.executable}: pip install -r requirements-dev.lock")
    return subprocess.run([str(executable), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint_passes() -> None:
    result = tool("ruff", "check", ".")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_mypy_passes_on_the_contracts_and_stage_interfaces() -> None:
    result = tool("mypy")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Success: no issues found in" in result.stdout
