"""A runtime with its staff page, for the browser test and docs/render_staff_page.py: ``main.py run``
on a real clip, headless but paced like a live run, looping, with a known staff password."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from . import waiting

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_PASSWORD = "gallery-operator-7"
VIEWER_PASSWORD = "gallery-viewer-7"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout_s: float, what: str, every_s: float = 0.2):
    """Poll ``condition`` until it is truthy and return that (``helpers.waiting``); the timeout only guards a failure."""
    return waiting.wait_for(condition, what, timeout_s, every_s)


def staff_config(folder: Path, port: int, record: bool = False) -> Path:
    """config.toml with the staff page on ``port``, passwords set, painting off (CPU time)."""
    from installation.staff.auth import hash_secret

    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    replacements = {
        r'(?m)^listen = "127\.0\.0\.1:8765".*$': f'listen = "127.0.0.1:{port}"',
        r'(?m)^password_hash = "".*$': f'password_hash = "{hash_secret(OPERATOR_PASSWORD)}"',
        r'(?m)^viewer_password_hash = "".*$': f'viewer_password_hash = "{hash_secret(VIEWER_PASSWORD)}"',
        r'(?m)^listen = "127\.0\.0\.1:9000".*$': 'listen = ""',  # no OSC port: runs beside other runs
    }
    for pattern, value in replacements.items():
        text, count = re.subn(pattern, value.replace("\\", "\\\\"), text, count=1)
        assert count == 1, pattern
    text = re.sub(r"(?ms)^(\[paint\].*?^enabled = )true", r"\1false", text, count=1)
    if record:
        text = re.sub(r"(?ms)^(\[record\].*?^enabled = )false", r"\1true", text, count=1)
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@contextmanager
def running_runtime(clip: Path, folder: Path, port: int | None = None):
    """Yields (base URL, health file path) while ``main.py run`` plays ``clip`` in a loop."""
    port = port or free_port()
    config, health = staff_config(folder, port), folder / "health.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", SDL_VIDEODRIVER="dummy")
    command = [sys.executable, str(ROOT / "main.py"), "run", "--config", str(config), "--source", str(clip),
               "--headless", "--realtime", "--loop", "--size", "640x360", "--health", str(health)]
    log = (folder / "runtime.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: process.poll() is not None or _answers(base), 180, "the staff page to answer")
        assert process.poll() is None, (folder / "runtime.log").read_text()[-3000:]
        yield base, health
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def health_scene(health: Path) -> str | None:
    try:
        return json.loads(health.read_text(encoding="utf-8"))["scene"]
    except (OSError, ValueError, KeyError):
        return None


def _answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/login", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
