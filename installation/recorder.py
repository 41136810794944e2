"""Session recording: off by default (privacy); started from config, the R key or OSC.

A session is a folder ``<folder>/<YYYYmmdd-HHMMSS>/``:

    config.json           the configuration the run used
    frames/segment_0000.mp4, segment_0001.mp4 ...   the camera frames, in short segments
    observations.jsonl    per rendered frame: landmarks, features, latent (the --trace format)
    osc_in.jsonl          the control commands applied, with the frame they took effect at
    osc_out.jsonl         the OSC messages sent for each frame

Crash-safe: every JSON line is written whole and flushed, so after a kill the files are intact up
to their last complete line; a segment is closed every ``segment_s`` seconds of media time, and
every closed segment is a complete, readable video. A full or unwritable disk stops the recording
cleanly (logged and counted); the show goes on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import IO, Any, Callable

import cv2

from installation.config import Config
from installation.report import FrameReport, TraceWriter

log = logging.getLogger(__name__)


class SessionRecorder:
    """A frame listener that writes a session while ``recording`` is on."""

    def __init__(self, folder: Path, config: Config, segment_s: float = 10.0, video_fps: float = 30.0) -> None:
        self.folder, self.config, self.segment_s, self.video_fps = folder, config, segment_s, video_fps
        self.session: Path | None = None
        self.failures = 0
        self.sessions_started = 0
        self._trace: TraceWriter | None = None
        self._osc_in: IO[str] | None = None
        self._osc_out: IO[str] | None = None
        self._writer: cv2.VideoWriter | None = None
        self._segment_index = 0
        self._segment_start_t = 0.0
        self.osc_out: Callable[[], list] | None = None  # the OSC messages sent this frame, if any

    @property
    def recording(self) -> bool:
        return self.session is not None

    def start(self) -> None:
        """Open a new session folder. A disk error is logged and counted; nothing is raised."""
        if self.recording:
            return
        session = self.folder / time.strftime("%Y%m%d-%H%M%S")
        suffix = 1
        while session.exists():
            session = self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{suffix}"
            suffix += 1
        try:
            (session / "frames").mkdir(parents=True)
            (session / "config.json").write_text(json.dumps(dataclasses.asdict(self.config), indent=2) + "\n")
            self._trace = TraceWriter(session / "observations.jsonl", exact=True)
            self._osc_in = (session / "osc_in.jsonl").open("w", encoding="utf-8")
            self._osc_out = (session / "osc_out.jsonl").open("w", encoding="utf-8")
        except OSError as error:
            self._fail(f"cannot start recording in {session}: {error.strerror or error}")
            return
        self.session, self._segment_index, self._writer = session, 0, None
        self.sessions_started += 1
        log.info("recording to %s", session)

    def stop(self) -> None:
        """Close the session: the open segment is finished, the files closed."""
        if not self.recording:
            return
        log.info("recording stopped: %s", self.session)
        self._close_files()

    def on_frame(self, report: FrameReport) -> None:
        if not self.recording:
            return
        try:
            if report.frame is not None:
                self._write_frame(report)
            self._trace.on_frame(report)
            for command in report.commands:
                self._line(self._osc_in, {"t": report.t, "command": command.name,
                                          "args": [_plain(a) for a in command.args], "origin": command.origin})
            messages = self.osc_out() if self.osc_out is not None else []
            if messages:
                self._line(self._osc_out, {"t": round(report.t, 6), "messages": messages})
        except OSError as error:  # disk full or gone: stop cleanly, keep what is written
            self._fail(f"recording stopped, cannot write to {self.session}: {error.strerror or error}")

    def _write_frame(self, report: FrameReport) -> None:
        frame = report.frame
        if self._writer is None or report.t - self._segment_start_t >= self.segment_s:
            self._next_segment(frame.image_bgr.shape[1], frame.image_bgr.shape[0], report.t)
        self._writer.write(frame.image_bgr)

    def _next_segment(self, width: int, height: int, t: float) -> None:
        if self._writer is not None:
            self._writer.release()  # closing makes the segment a complete, readable file
        path = self.session / "frames" / f"segment_{self._segment_index:04d}.mp4"
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), self.video_fps, (width, height))
        if not self._writer.isOpened():
            raise OSError(f"cannot write {path}")
        self._segment_index += 1
        self._segment_start_t = t

    def _line(self, file: IO[str], record: dict) -> None:
        file.write(json.dumps(record) + "\n")
        file.flush()

    def _fail(self, message: str) -> None:
        self.failures += 1
        log.error(message)
        self._close_files()

    def _close_files(self) -> None:
        for closer in (self._writer.release if self._writer is not None else None,
                       self._trace.close if self._trace is not None else None,
                       self._osc_in.close if self._osc_in is not None else None,
                       self._osc_out.close if self._osc_out is not None else None):
            if closer is None:
                continue
            try:
                closer()
            except OSError:
                self.failures += 1
        self._writer = self._trace = self._osc_in = self._osc_out = None
        self.session = None

    def close(self) -> None:
        self.stop()


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
