"""Health for unattended runs: a JSON health file a venue's monitoring can read, and the
heartbeat the kiosk supervisor watches.

Both are frame listeners, so they only advance while frames are being shown: a loop that hangs
stops its heartbeat, which is exactly what the supervisor needs to see.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from installation.report import FrameReport

log = logging.getLogger(__name__)

# Set by the supervisor for the child it starts, so the health file can say why it restarted.
RESTARTS_ENV = "INSTALLATION_RESTARTS"
RESTART_REASON_ENV = "INSTALLATION_RESTART_REASON"


class HealthWriter:
    """Rewrites ``path`` atomically every ``interval_s`` of wall time with uptime, fps, latency,
    error counters, and the last restart and why."""

    def __init__(self, path: Path, interval_s: float = 2.0) -> None:
        self.path, self.interval_s = path, interval_s
        self._next = 0.0
        self.failures = 0
        self.restarts = int(os.environ.get(RESTARTS_ENV, "0") or 0)
        self.restart_reason = os.environ.get(RESTART_REASON_ENV) or None

    def on_frame(self, report: FrameReport) -> None:
        now = time.monotonic()
        if now < self._next or report.status is None:
            return
        self._next = now + self.interval_s
        status = report.status
        record = {
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "pid": os.getpid(),
            "uptime_s": round(status.uptime_s, 1),
            "fps": round(status.fps, 2),
            "latency_ms": round(status.latency_ms, 1),
            "frames": status.frames,
            "scene": status.scene,
            "presence": round(status.presence, 3),
            "errors": status.errors,
            "restarts": self.restarts,
            "last_restart_reason": self.restart_reason,
        }
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:  # write then rename: a reader never sees half a file
            temporary.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as error:
            self.failures += 1
            if self.failures in (1, 10, 100):
                log.warning("cannot write health file %s: %s", self.path, error)

    def close(self) -> None:
        pass


class Heartbeat:
    """Touches ``path`` at most every ``interval_s`` while frames are shown."""

    def __init__(self, path: Path, interval_s: float = 0.5) -> None:
        self.path, self.interval_s = path, interval_s
        self._next = 0.0
        self.failures = 0

    def on_frame(self, report: FrameReport) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.interval_s
        try:
            self.path.write_text(f"{time.time():.3f}\n", encoding="utf-8")
        except OSError as error:  # the supervisor will see the silence and restart us
            self.failures += 1
            if self.failures in (1, 100):
                log.warning("cannot touch heartbeat %s: %s", self.path, error)

    def close(self) -> None:
        pass
