"""A ``main.py kiosk`` run and how to read it (its health file and its log): for tests/test_kiosk.py
and benchmarks/restart.py, which time what the tests only check."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from . import waiting

ROOT = Path(__file__).resolve().parents[2]


def start_kiosk(health: Path, logs: Path, hang_timeout_s: float, run_args: list[str], standby: bool = True,
                env: dict | None = None) -> subprocess.Popen:
    """``main.py kiosk`` with ``run_args`` for its runtimes, writing ``health`` and its log in
    ``logs`` (``kiosk.log``), headless (``env``: by default this one's, with no window)."""
    command = [sys.executable, str(ROOT / "main.py"), "kiosk", *run_args, "--health", str(health),
               "--hang-timeout", str(hang_timeout_s), "--log-dir", str(logs)]
    if not standby:
        command.append("--no-standby")
    return subprocess.Popen(command, env=env if env is not None else dict(os.environ, SDL_VIDEODRIVER="dummy"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(predicate, what: str, guard_s: float = 120.0, poll_s: float = 0.05):
    """Poll ``predicate`` until it returns something true; returns it (``helpers.waiting``, with
    a kiosk's longer guard)."""
    return waiting.wait_for(predicate, what, guard_s, poll_s)


def read_json(path: Path) -> dict | None:
    """The health file's record; None while there is none or it is caught half written."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def logged_pids(log: Path, pattern: str) -> list[int]:
    """The pids ``pattern``'s group matches in the kiosk's log, in order."""
    text = log.read_text() if log.exists() else ""
    return [int(pid) for pid in re.findall(pattern, text)]


def standby_ready(log: Path, after: set[int]):
    """A predicate: the first warm standby logged ready that is not in ``after``, else None."""
    return lambda: next((p for p in logged_pids(log, r"standby pid (\d+) ready") if p not in after), None)
