"""Replaying a recorded session: ``python main.py replay SESSION [--with-perception] [--out FILE.mp4]``.

From the recorded observations (fast, the default) the run is reproduced exactly: every rendered
frame is driven by its recorded time, its recorded observation (or none) and the control commands
applied at it, through the same loop, scene and generator, so a complete session gives the same
frames and the same OSC output as the live run: the live run's own decisions that change pixels
(adaptive quality's sizes, the painter's timing) are recorded too, and taken again here
(``installation.decisions``). ``--with-perception`` instead re-runs MediaPipe on the recorded
camera segments. A session cut short by a crash replays what was written; the segment that was
open at the crash has no index, and is skipped with a note.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from installation.clock import FixedStepClock, wall_s
from installation.config import Config, config_from_dict, override
from installation.contracts import Frame, Hand, Observation, Side
from installation.control import CommandInbox, ControlCommand
from installation.decisions import DecisionFollower
from installation.display import HeadlessDisplay, open_sink
from installation.errors import SourceError
from installation.file_sources import VideoFileSource
from installation.preflight import check_out, check_output_file, write_stats
from installation.run_stats import ReplayCheck, RunStats
from installation.runtime import Runtime

log = logging.getLogger(__name__)

NOT_REPLAYED = ("record", "quit")  # a replay must not start recording itself, nor stop early


@dataclass(frozen=True)
class ReplayOptions:
    session: Path
    with_perception: bool = False
    out: str | None = None  # FILE.mp4 or a folder of PNGs
    size: tuple[int, int] | None = None
    stats: Path | None = None
    progress: bool = True
    osc_out: tuple[str, ...] = ()  # send the replayed bundles here (the session's own targets are not used)


def read_lines(path: Path) -> list[dict]:
    """The whole JSON lines of a file; a torn last line (a killed run) is dropped."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s: skipping an incomplete line (the run was cut short)", path.name)
    return records


def load_session_config(session: Path) -> Config:
    """The configuration the session was recorded with. Raises SourceError if it isn't a session."""
    if not (session / "observations.jsonl").is_file() or not (session / "config.json").is_file():
        raise SourceError(f"not a recorded session (no observations.jsonl and config.json): {session}")
    config = config_from_dict(json.loads((session / "config.json").read_text()), source_name=f"{session.name}/config.json")
    return override(config, "perception", cache="")  # a folder of the recording machine's, not this one's


def readable_segments(session: Path) -> list[Path]:
    """The session's camera segments that can be read, in order. The last one may be torn (the run
    was killed while writing it, before its index): it is skipped with a note. Raises SourceError
    for an unreadable earlier one: that is damage, not a crash."""
    paths = sorted((session / "frames").glob("segment_*.mp4"))
    for index, path in enumerate(paths):
        if _plays(path):
            continue
        if index < len(paths) - 1:
            raise SourceError(f"{path} cannot be read: the session is damaged (only the last segment can be torn, "
                              "by a crash)")
        log.warning("%s cannot be read (the run was cut short while writing it): skipped, its frames replay "
                    "without their camera pictures", path.name)
        return paths[:-1]
    return paths


def _plays(path: Path) -> bool:
    capture = cv2.VideoCapture(str(path))
    try:
        return capture.isOpened() and capture.grab()
    finally:
        capture.release()


class SegmentFrames:
    """The camera frames of a session's readable segments, one after another."""

    def __init__(self, session: Path) -> None:
        self.paths = readable_segments(session)
        self._frames = self._iterate()

    def _iterate(self) -> Iterator[np.ndarray]:
        for path in self.paths:
            capture = cv2.VideoCapture(str(path))
            while True:
                ok, image = capture.read()
                if not ok:
                    break
                yield image
            capture.release()

    def next(self) -> np.ndarray | None:
        return next(self._frames, None)


class SessionSource:
    """Frames at the recorded times. With an inbox, it also queues each frame's recorded
    commands, so they are applied at the same frame boundary as in the live run."""

    def __init__(self, session: Path, inbox: CommandInbox | None = None) -> None:
        self.records = read_lines(session / "observations.jsonl")
        self.description = f"session {session.name}"
        self.fps, self.inbox = 30.0, inbox
        self.before_frame: Callable[[dict], None] | None = None  # takes the record's live decisions
        self._commands = _commands_by_time(session / "osc_in.jsonl")
        self._segments = SegmentFrames(session)
        self._image = np.zeros((480, 640, 3), np.uint8)
        first = self._segments.next()
        if first is not None:
            self._image, self._first_pending = first, True
        else:
            self._first_pending = False
        self.frame_size = (self._image.shape[1], self._image.shape[0])
        self.position = -1  # index of the current record

    @property
    def current(self) -> dict:
        return self.records[self.position]

    def read(self) -> Frame | None:
        self.position += 1
        if self.position >= len(self.records):
            return None
        record = self.current
        if record.get("new_frame"):
            self._advance_image()
        for command in self._commands.get(record["t"], ()):
            if self.inbox is not None:
                self.inbox.put(command)
        if self.before_frame is not None:
            self.before_frame(record)
        index = record["frame"] if record["frame"] is not None else -1
        return Frame(index, record["t"], wall_s(), self._image)

    def _advance_image(self) -> None:
        if self._first_pending:
            self._first_pending = False
            return
        image = self._segments.next()
        if image is not None:
            self._image = image

    def latest(self) -> Frame | None:
        return self.read()

    def close(self) -> None:
        pass


class RecordedPerception:
    """Hands the loop each record's observation instead of running MediaPipe."""

    def __init__(self, source: SessionSource) -> None:
        self.source = source
        self.errors = self.dropped = self.restarts = 0

    def submit(self, frame: Frame) -> None:
        pass

    def counters(self) -> dict[str, int]:
        """Nothing is dropped here: the recorded observations are what the live run kept."""
        return {}

    def wait(self) -> Observation | None:
        record = self.source.current
        if record["pose"] is None:
            return None  # no new observation at this frame in the live run
        pose = np.asarray(record["pose"], np.float32).reshape(-1, 4)
        hands = tuple(Hand(np.asarray(h["landmarks"], np.float32), Side(h["side"]), h.get("score", 1.0))
                      for h in record["hands"])
        return Observation(record["frame"], record.get("observed_t", record["t"]), wall_s(), pose, hands)

    poll = wait

    def close(self) -> None:
        pass


def _commands_by_time(path: Path) -> dict[float, list[ControlCommand]]:
    commands: dict[float, list[ControlCommand]] = {}
    if not path.is_file():
        return commands
    for record in read_lines(path):
        if record["command"] in NOT_REPLAYED:
            continue
        command = ControlCommand(record["command"], tuple(record["args"]), f"replay ({record['origin']})")
        commands.setdefault(record["t"], []).append(command)
    return commands


class Progress:
    """One line on stderr, rewritten as the replay goes."""

    def __init__(self, total: int) -> None:
        self.total, self.count = max(1, total), 0

    def on_frame(self, report) -> None:
        self.count += 1
        if self.count % 10 == 0 or self.count == self.total:
            filled = int(30 * self.count / self.total)
            sys.stderr.write(f"\rreplay [{'#' * filled}{'.' * (30 - filled)}] {self.count}/{self.total} frames")
            if self.count >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    def close(self) -> None:
        pass


def replay_session(options: ReplayOptions) -> RunStats:
    """Replay a session headless; returns the run's stats (and writes them to ``options.stats``,
    also when the replay fails). Raises InstallationError on a bad session or output path."""
    from installation.app import build_stages  # app imports this module's callers; keep it lazy
    from installation.links import RunLinks
    from installation.osc import OscBridge

    # the replay talks to nobody unless asked: the venue's sound system must not hear a rerun
    config = override(load_session_config(options.session), "osc", listen="", targets=tuple(options.osc_out),
                      wekinator="", mediapipe_osc="")
    if options.stats is not None:
        check_output_file(options.stats, "--stats")
    if options.out is not None:
        check_out(options.out)
    config = dataclasses.replace(config, record=dataclasses.replace(config.record, enabled=False))
    size = options.size or (config.headless.width, config.headless.height)
    display = HeadlessDisplay(size, config.display.fit, open_sink(options.out, size, config.headless.video_fps))
    links = RunLinks()
    links.osc = OscBridge(config.osc, links.inbox, listen="")  # out only, to --osc-out's targets
    follower: DecisionFollower | None = None
    if options.with_perception:
        source = _segments_source(options.session)
        stages = build_stages(config, source, display, links=links)
        total = None
    else:
        source = SessionSource(options.session)
        source.inbox = links.inbox  # the session's recorded commands, at their frames
        stages = build_stages(config, source, display, links=links)
        stages.perception.close()
        stages.perception = RecordedPerception(source)
        follower = DecisionFollower(stages, source.records)
        source.before_frame = follower.before_frame
        stages.listeners.append(follower)
        total = len(source.records)
    if total is not None and options.progress:
        stages.listeners.append(Progress(total))
    runtime = Runtime(stages, FixedStepClock(), lockstep=True)
    try:
        stats = runtime.run()
    except Exception as error:  # the statistics so far are kept, with what ended the replay
        write_stats(options.stats, runtime.summary(), ended_by=error)
        raise
    if follower is not None:
        stats = dataclasses.replace(stats, replay=ReplayCheck(follower.present, follower.divergences))
    write_stats(options.stats, stats)
    return stats


def _segments_source(session: Path) -> _ConcatenatedVideo:
    segments = readable_segments(session)
    if not segments:
        raise SourceError(f"{session} has no readable camera segments to perceive")
    return _ConcatenatedVideo(segments)


class _ConcatenatedVideo:
    """Several video files read as one, with times continuing across them."""

    def __init__(self, paths: list[Path]) -> None:
        self.sources = [VideoFileSource(path) for path in paths]
        self.fps, self.frame_size = self.sources[0].fps, self.sources[0].frame_size
        self.description = f"{len(paths)} recorded segments"
        self._current, self._index, self._offset, self._last = 0, 0, 0.0, 0.0

    def read(self) -> Frame | None:
        while self._current < len(self.sources):
            frame = self.sources[self._current].read()
            if frame is not None:
                self._last = self._offset + frame.timestamp_s
                self._index += 1
                return Frame(self._index - 1, self._last, frame.wall_s, frame.image_bgr)
            self._offset = self._last + 1.0 / self.fps
            self._current += 1
        return None

    def latest(self) -> Frame | None:
        return self.read()

    def close(self) -> None:
        for source in self.sources:
            source.close()
