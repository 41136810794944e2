"""The staff page's view of the runtime in this process (``main.py run``).

It is a frame listener: the loop hands it each ``FrameReport``, and it does O(1) work per frame
(two numbers into bounded deques). Twice a second it builds the page's snapshot, once a second a
chart sample, and, only while someone has asked for a thumbnail in the last few seconds, a small
copy of the picture a few times a second. The server's thread reads what was built last (a
reference swap: newest wins) and never waits for the loop; the JPEG is encoded on its side.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from collections.abc import Callable

import cv2
import numpy as np

from installation import run_summary
from installation.config import Config
from installation.control import ControlCommand
from installation.health import RESTART_REASON_ENV, RESTARTS_ENV
from installation.report import FrameReport
from installation.runtime import Runtime
from installation.staff.controls import ACTIONS
from installation.staff.status import EMPTY_SNAPSHOT, History, LogTail, percentile
from installation.telemetry import STAGES

SNAPSHOT_EVERY_S = 0.5
SAMPLE_EVERY_S = 1.0
STALE_AFTER_S = 2.0  # no frame this long (asleep: the loop shows black without reports): state read directly
THUMBNAIL_WATCHED_S = 3.0  # a thumbnail asked for this recently: someone is watching, keep making them
RECENT_FRAMES = 300  # latency quantiles over the newest observations (10 s at 30 fps)
INSET_SHARE = 0.28  # the camera inset's width, as a share of the thumbnail's


class RuntimeSource:
    """``StatusSource`` for ``runtime``; add it to the loop's listeners (``serve_runtime`` does)."""

    def __init__(self, runtime: Runtime, config: Config, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        """``clock``: monotonic seconds (throttling); ``wall``: Unix seconds (the charts' time axis)."""
        self.runtime, self.config, self.clock, self.wall = runtime, config, clock, wall
        self.on_close: list[Callable[[], None]] = []  # the server stops with the loop
        self._history = History()
        self._log = LogTail()
        logging.getLogger().addHandler(self._log)
        self._latency: collections.deque[float] = collections.deque(maxlen=RECENT_FRAMES)
        self._perception: collections.deque[float] = collections.deque(maxlen=RECENT_FRAMES)
        self._restarts = int(os.environ.get(RESTARTS_ENV, "0") or 0)
        self._restart_reason = os.environ.get(RESTART_REASON_ENV) or None
        self._scenes = runtime.stages.scenes.library.names()  # listed once: a directory scan is no per-frame work
        no_painter = ("restart",) if runtime.stages.painter is not None else ("restart", "style_set")
        self._snapshot = dict(EMPTY_SNAPSHOT, controls=[a for a in ACTIONS if a not in no_painter])
        self._built_at = -float("inf")
        self._next_snapshot = self._next_sample = self._next_thumbnail = 0.0
        self._watched_until = -float("inf")  # written by the server's thread, read by the loop's
        self._thumbnail: tuple[int, np.ndarray | None] = (0, None)
        self._camera: np.ndarray | None = None  # the newest camera frame (BGR), for the inset

    # the loop's side
    def on_frame(self, report: FrameReport) -> None:
        now = self.clock()
        if report.observation is not None and report.status is not None:
            self._latency.append(report.status.latency_ms)
            self._perception.append(report.observation.perception_ms)
        if report.frame is not None:
            self._camera = report.frame.image_bgr
        if now < self._watched_until and now >= self._next_thumbnail and report.picture is not None:
            self._next_thumbnail = now + 1.0 / self.config.staff.thumbnail_fps
            self._thumbnail = (self._thumbnail[0] + 1, self._small(report.picture))
        if now >= self._next_snapshot and report.status is not None:
            self._next_snapshot = now + SNAPSHOT_EVERY_S
            self._snapshot, self._built_at = self._build(report, now), now

    def close(self) -> None:
        logging.getLogger().removeHandler(self._log)
        for stop in self.on_close:
            stop()

    # the server's side
    def snapshot(self) -> dict:
        snapshot = self._snapshot
        if self.clock() - self._built_at > STALE_AFTER_S:  # no frames (asleep, or stuck): what can be read
            snapshot = dict(snapshot, state=self.runtime.mode(), fps=0.0, switches=self._switches(),
                            log=self._log.lines())
        return snapshot

    def history(self) -> list[list[float]]:
        return self._history.samples()

    def thumbnail(self) -> tuple[int, np.ndarray | None]:
        self._watched_until = self.clock() + THUMBNAIL_WATCHED_S
        return self._thumbnail

    def send(self, command: ControlCommand) -> str | None:
        if not self.runtime.inbox.put(command):
            return "the command inbox is full: try again"
        return None

    def restart(self, who: str) -> str | None:
        return "restart needs the kiosk supervisor (python main.py kiosk)"

    # building, on the loop's thread at a few hertz
    def _build(self, report: FrameReport, now: float) -> dict:
        runtime, status = self.runtime, report.status
        latency = list(self._latency)
        perception = percentile(list(self._perception), 0.5)
        p50 = percentile(latency, 0.5)
        sample = None
        if now >= self._next_sample:
            self._next_sample = now + SAMPLE_EVERY_S
            sample = [round(self.wall(), 1), round(status.fps, 2), round(p50, 1), round(perception, 1)]
            self._history.add(sample)
        painter = runtime.stages.painter
        return {
            "state": status.state,
            "uptime_s": round(status.uptime_s, 1),
            "restarts": self._restarts,
            "last_restart_reason": self._restart_reason,
            "fps": round(status.fps, 2),
            "latency_ms": {"p50": round(p50, 1), "p95": round(percentile(latency, 0.95), 1)},
            "perception_ms": round(perception, 1),
            "stage_ms": {name: round(runtime.telemetry.recent_ms(name), 2) for name in STAGES},
            "frames": status.frames,
            "dropped_frames": run_summary.dropped_frames(runtime),
            "scene": status.scene,
            "scenes": self._scenes,
            "style": painter.style if painter is not None else None,
            "styles": list(self.config.paint.styles) if painter is not None else [],
            "model": runtime.stages.scenes.scene.MODEL or self.config.generator.model,  # a scene may draw with its own
            "presence": round(status.presence, 3),
            "visitors": _visitors(report),
            "errors": status.errors,
            "switches": self._switches(),
            "controls": self._snapshot["controls"],
            "log": self._log.lines(),
            "source": runtime.stages.source.description,
            "sample": sample if sample is not None else self._snapshot.get("sample"),
        }

    def _switches(self) -> dict[str, bool]:
        show = self.runtime.show
        return {"blackout": show.blackout, "freeze": show.freeze, "sleep": show.sleep, "test_pattern": show.test_pattern}

    def _small(self, picture: np.ndarray) -> np.ndarray:
        """The picture as the screen crops it, ``thumbnail_width`` wide, with the camera inset when
        recording consent is on (``record.enabled``); a new array, so the loop may reuse its own."""
        aspect = self.runtime.stages.screen_aspect or picture.shape[1] / picture.shape[0]
        height, width = picture.shape[:2]
        if width / height > aspect:  # crop as the display's "cover" fit does
            keep = round(height * aspect)
            picture = picture[:, (width - keep) // 2 : (width - keep) // 2 + keep]
        else:
            keep = round(width / aspect)
            picture = picture[(height - keep) // 2 : (height - keep) // 2 + keep]
        size = (self.config.staff.thumbnail_width, max(1, round(self.config.staff.thumbnail_width / aspect)))
        small = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)  # (h, w, 3) RGB
        if self.config.record.enabled and self._camera is not None:  # visitors' privacy: only with consent
            camera = self._camera
            inset_w = round(size[0] * INSET_SHARE)
            inset_h = max(1, round(inset_w * camera.shape[0] / camera.shape[1]))
            inset = cv2.cvtColor(cv2.resize(camera, (inset_w, inset_h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
            small[-inset_h - 4 : -4, -inset_w - 4 : -4] = inset
        return small


def _visitors(report: FrameReport) -> int:
    """People seen now: the audience stage's (coasting ones left out), else one while a body is there."""
    audience = report.audience
    if audience is not None:
        return sum(1 for person in getattr(audience, "people", ()) if getattr(person, "missed", 0) == 0)
    return int(report.body.pose_presence >= 0.5)
