"""Session recording: off by default (privacy); started from config, the R key or OSC.

A session is a folder ``<folder>/<YYYYmmdd-HHMMSS>/``:

    config.json           the configuration the run used
    frames/segment_0000.mp4, segment_0001.mp4 ...   the camera frames, in short segments
    observations.jsonl    per rendered frame: landmarks, features, latent (the --trace format)
    osc_in.jsonl          the control commands applied, with the frame they took effect at
    osc_out.jsonl         the OSC messages sent for each frame

Each line of observations.jsonl also carries the frame's live decisions that change pixels
(``installation.decisions``), so the replay draws the very same frames.

Crash-safe: every JSON line is written whole and flushed, so after a kill the files are intact up
to their last complete line; a segment is closed every ``segment_s`` seconds of media time, and
every closed segment is a complete, readable video (the one open at a kill has no index yet: its
replay skips it). A full or unwritable disk stops the recording cleanly at the frame whose write
fails (logged and counted) and closes the open segment playable; the show goes on. OpenCV's video
writer does not report a full disk, so before each frame the recorder checks that
``RESERVE_BYTES`` are still free, room enough to close the segment and the files.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

import cv2
import numpy as np

from installation.config import Config
from installation.report import FrameReport, TraceWriter

log = logging.getLogger(__name__)

RESERVE_BYTES = 64 << 20  # kept free on the recording's disk: room to close the open segment and the files


class SegmentWriter(Protocol):
    """One video segment being written. ``write`` raises OSError when the frame cannot be written."""

    def write(self, image_bgr: np.ndarray) -> None: ...

    def close(self) -> None: ...


class Mp4vSegment:
    """A segment written by OpenCV (MPEG-4 part 2): readable by OpenCV and FFmpeg once closed."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        """Raises OSError when the file cannot be opened for writing."""
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self._writer.isOpened():
            raise OSError(errno.EIO, f"cannot write {path}")

    def write(self, image_bgr: np.ndarray) -> None:
        self._writer.write(image_bgr)

    def close(self) -> None:
        self._writer.release()  # writes the index: only now is the segment a readable file


def free_bytes(folder: Path) -> int:
    """Bytes free on the disk that holds ``folder``."""
    return shutil.disk_usage(folder).free


class SessionRecorder:
    """A frame listener that writes a session while ``recording`` is on. ``open_segment`` and
    ``free_space`` are the disk, replaceable (tests simulate a full one)."""

    def __init__(self, folder: Path, config: Config, segment_s: float = 10.0, video_fps: float = 30.0,
                 open_segment: Callable[[Path, float, tuple[int, int]], SegmentWriter] = Mp4vSegment,
                 free_space: Callable[[Path], int] = free_bytes, osc_out: Callable[[], list] | None = None,
                 live_decisions: Callable[[], dict] | None = None) -> None:
        self.folder, self.config, self.segment_s, self.video_fps = folder, config, segment_s, video_fps
        self.open_segment, self.free_space = open_segment, free_space
        self.session: Path | None = None
        self.failures = 0
        self.sessions_started = 0
        self._trace: TraceWriter | None = None
        self._osc_in: IO[str] | None = None
        self._osc_out: IO[str] | None = None
        self._writer: SegmentWriter | None = None
        self._segment_index = 0
        self._segment_start_t = 0.0
        self.osc_out = osc_out  # the OSC messages sent this frame, if any
        self.live_decisions = live_decisions  # this frame's decisions (installation.decisions)

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
        # asked every frame, recording or not: the probe counts what changed since the last frame
        live = self.live_decisions() if self.live_decisions is not None else None
        if not self.recording:
            return
        try:
            free = self.free_space(self.session)
            if free < RESERVE_BYTES:
                raise OSError(errno.ENOSPC, f"the disk is nearly full ({free >> 20} MB left)")
            if report.frame is not None:
                self._write_frame(report)
            self._trace.on_frame(report, {"live": live} if live is not None else None)
            for command in report.commands:
                self._line(self._osc_in, {"t": report.t, "command": command.name,
                                          "args": [_plain(a) for a in command.args], "origin": command.origin})
            messages = self.osc_out() if self.osc_out is not None else []
            if messages:
                self._line(self._osc_out, {"t": round(report.t, 6), "messages": messages})
        except OSError as error:  # disk full or gone: stop at this frame, close what is written
            self._fail(f"recording stopped at t = {report.t:.2f} s, cannot write to {self.session}: "
                       f"{error.strerror or error}; the files and the segment written so far are closed")

    def _write_frame(self, report: FrameReport) -> None:
        frame = report.frame
        if self._writer is None or report.t - self._segment_start_t >= self.segment_s:
            self._next_segment(frame.image_bgr.shape[1], frame.image_bgr.shape[0], report.t)
        self._writer.write(frame.image_bgr)

    def _next_segment(self, width: int, height: int, t: float) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()  # closing makes the segment a complete, readable file
        path = self.session / "frames" / f"segment_{self._segment_index:04d}.mp4"
        self._writer = self.open_segment(path, self.video_fps, (width, height))
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
        for closer in (self._writer.close if self._writer is not None else None,
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
