"""Health for unattended runs: a JSON health file a venue's monitoring can read, and the
heartbeat the kiosk supervisor watches.

Both advance only from the frame loop: a loop that hangs stops its heartbeat, which is exactly
what the supervisor needs to see.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from installation.report import FrameReport

log = logging.getLogger(__name__)

# Set by the supervisor for the child it starts, so the health file can say why it restarted.
RESTARTS_ENV = "INSTALLATION_RESTARTS"
RESTART_REASON_ENV = "INSTALLATION_RESTART_REASON"


class HealthWriter:
    """Rewrites ``path`` atomically every ``interval_s`` of wall time with uptime, fps, latency,
    error counters, the last restart and why, and ``osc_receiver``: None without OSC control,
    else ``{"alive": bool, "restarts": int, "hung": int}`` (``OscReceiver.health``; a supervisor
    may restart a run whose receiver stays not alive)."""

    def __init__(self, path: Path, interval_s: float = 2.0,
                 osc_receiver: Callable[[], dict | None] | None = None) -> None:
        self.path, self.interval_s = path, interval_s
        self.osc_receiver = osc_receiver
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
            "state": status.state,
            "presence": round(status.presence, 3),
            "errors": status.errors,
            "restarts": self.restarts,
            "last_restart_reason": self.restart_reason,
            "osc_receiver": self.osc_receiver() if self.osc_receiver is not None else None,
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
    """Rewrites ``path`` with ``BEATS FRAMES`` at most every ``interval_s``. The frame loop calls
    ``beat`` every tick, asleep outside the opening hours too, so only a stuck loop goes silent;
    the kiosk supervisor reads it (``installation.restart_policy.HeartbeatWatch``). As a frame
    listener its ``close`` (the loop has ended) writes ``ending FRAMES``: closing the camera,
    MediaPipe and the recording takes seconds with no beats, and is no hang. A beat ends in
    `` osc-down`` while ``osc_alive`` says the OSC receiver is down (its own watchdog failed to
    bring it back): the supervisor restarts a runtime whose control stays deaf."""

    def __init__(self, path: Path, interval_s: float = 0.25, osc_alive: Callable[[], bool] | None = None) -> None:
        self.path, self.interval_s = path, interval_s
        self.osc_alive = osc_alive
        self._next = 0.0
        self._showing = False
        self._frames = 0
        self.beats = 0
        self.failures = 0

    def on_frame(self, report: FrameReport) -> None:
        """Nothing per frame: beats come from the loop's ticks (``beat``), frames shown or not; the
        heartbeat is a listener only so that the loop's end closes it (``ending``)."""

    def close(self) -> None:
        self._write(f"ending {self._frames}\n")

    def beat(self, frames: int) -> None:
        """``frames``: frames rendered so far (the first one tells the supervisor we are showing)."""
        now = time.monotonic()
        first_frame = frames > 0 and not self._showing  # said at once: the supervisor times restarts by it
        if now < self._next and not first_frame:
            return
        self._next, self._showing, self._frames = now + self.interval_s, frames > 0, frames
        self.beats += 1
        osc_down = self.osc_alive is not None and not self.osc_alive()
        self._write(f"{self.beats} {frames}{' osc-down' if osc_down else ''}\n")

    def _write(self, text: str) -> None:
        try:
            self.path.write_text(text, encoding="utf-8")
        except OSError as error:  # the supervisor will see the silence and restart us
            self.failures += 1
            if self.failures in (1, 100):
                log.warning("cannot write heartbeat %s: %s", self.path, error)
