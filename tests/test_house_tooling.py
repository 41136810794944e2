"""The house lint passes on the whole tree: ruff's rules (configured in pyproject.toml), from the
README's test command. mypy, strict on the contracts and the stage interfaces, takes half a minute
on this machine, so `.ci/run` runs it beside the test command rather than inside it."""

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

