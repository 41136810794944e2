"""A recording run that is SIGKILLed part-way, as a crash would end it: for the recorder's and
the replay's tests of what a crashed session leaves behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from .waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
RECORDING = """[record]
enabled = true
folder = "{folder}"
segment_s = 1.0

[osc]
listen = ""

[staff]
listen = ""
"""


def killed_recording(clip: Path, tmp_path: Path, segments: int = 3, guard_s: float = 300.0) -> Path:
    """Record ``clip`` (looping, realtime, headless) until ``segments`` segments have been closed,
    SIGKILL the run, and return its session folder. ``guard_s`` only bounds a run that never gets
    there (a failure, not a timing): the test waits for the files, not for seconds."""
    config = tmp_path / "config.toml"
    config.write_text(RECORDING.format(folder=tmp_path / "s"))
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "--config", str(config), "--source", str(clip), "--loop",
         "--headless", "--realtime", "--size", "64x36"],
        env=dict(os.environ, SDL_VIDEODRIVER="dummy"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:  # the last segment is the open one
        wait_for(lambda: process.poll() is not None or len(list((tmp_path / "s").glob("*/frames/segment_*.mp4"))) > segments,
                 f"{segments} segments written", guard_s, poll_s=0.2)
        if process.poll() is not None:
            raise AssertionError(f"the recording run ended by itself: {process.stderr.read().decode()[-500:]}")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    (session,) = list((tmp_path / "s").iterdir())
    return session
