"""Session recording: started and stopped over OSC, readable segments, intact JSON lines after a
kill, a clean stop when the disk can't be written or fills (at the failing frame, the open segment
closed playable), and the on-screen indicator."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import cv2
import numpy as np
import pygame
import pytest

from installation.app import build_stages
from installation.clock import FixedStepClock
from installation.config import config_from_dict
from installation.control import ControlCommand
from installation.display import Compositor, HeadlessDisplay, NullSink
from installation.file_sources import VideoFileSource
from installation.osc import OscBridge
from installation.recorder import RESERVE_BYTES, Mp4vSegment
from installation.replay import ReplayOptions, replay_session
from installation.runtime import Runtime
from tests.helpers.killed_run import killed_recording

ROOT = Path(__file__).resolve().parents[1]


def recording_runtime(media, folder: Path, segment_s: float = 0.5):
    config = config_from_dict({"record": {"folder": str(folder), "segment_s": segment_s}, "osc": {"listen": ""}})
    source = VideoFileSource(media / "video" / "intel_asl" / "walk.mkv")
    stages = build_stages(config, source, HeadlessDisplay((64, 36), "cover", NullSink()))
    return Runtime(stages, FixedStepClock(), lockstep=True), config


def segment_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    return count


def test_record_start_and_stop_write_a_complete_session(media, tmp_path):
    runtime, config = recording_runtime(media, tmp_path)
    bridge = OscBridge(config.osc, runtime.inbox, targets=("127.0.0.1:9",))  # out, so osc_out has lines
    runtime.stages.listeners.insert(0, bridge)
    runtime.stages.recorder.osc_out = lambda: bridge.sender.last_messages
    runtime.stages.generator.warm_up()
    for _ in range(3):
        runtime.step()
    runtime.inbox.put(ControlCommand("record", ("start",), "osc 127.0.0.1:1"))
    for _ in range(40):
        runtime.step()
    runtime.inbox.put(ControlCommand("record", ("stop",), "osc 127.0.0.1:1"))
    runtime.step()
    runtime.close()

    (session,) = list(tmp_path.iterdir())
    assert json.loads((session / "config.json").read_text())["record"]["segment_s"] == 0.5
    segments = sorted((session / "frames").glob("segment_*.mp4"))
    assert len(segments) >= 2  # 40 frames at 30 fps in 0.5 s segments
    assert sum(segment_frames(s) for s in segments) == 40
    observations = [json.loads(line) for line in (session / "observations.jsonl").read_text().splitlines()]
    assert [o["frame"] for o in observations] == list(range(3, 43))
    commands = [json.loads(line) for line in (session / "osc_in.jsonl").read_text().splitlines()]
    assert commands[0]["command"] == "record" and commands[0]["args"] == ["start"]
    sent = [json.loads(line) for line in (session / "osc_out.jsonl").read_text().splitlines()]
    assert len(sent) == 40 and sent[0]["messages"][0][0] == "/frame"


def test_an_unwritable_folder_stops_recording_cleanly_and_the_show_goes_on(media, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    runtime, _ = recording_runtime(media, blocker / "sessions")
    runtime.inbox.put(ControlCommand("record", ("start",), "test"))
    stats = runtime.run(max_frames=10)
    assert stats.rendered_frames == 10
    assert stats.errors["recording_failures"] == 1
    assert not runtime.stages.recorder.recording


class FillingDisk:
    """The real segment writer on a disk that fills at the ``full_at``-th frame: that write raises
    ENOSPC, as a full disk does; or, with ``low_space``, the free space drops under the recorder's
    reserve before that frame instead."""

    def __init__(self, full_at: int, low_space: bool) -> None:
        self.full_at, self.low_space, self.written = full_at, low_space, 0

    def open_segment(self, path: Path, fps: float, size: tuple[int, int]):
        real, disk = Mp4vSegment(path, fps, size), self

        class Segment:
            def write(self, image) -> None:
                if disk.written == disk.full_at and not disk.low_space:
                    raise OSError(errno.ENOSPC, "No space left on device")
                real.write(image)
                disk.written += 1

            def close(self) -> None:
                real.close()

        return Segment()

    def free_space(self, folder: Path) -> int:
        return RESERVE_BYTES - 1 if self.low_space and self.written == self.full_at else 10 * RESERVE_BYTES


@pytest.mark.parametrize("low_space", [False, True], ids=["the write fails", "the free space runs low"])
def test_a_full_disk_stops_recording_at_that_frame_and_the_open_segment_plays(media, tmp_path, low_space):
    runtime, _ = recording_runtime(media, tmp_path, segment_s=1.0)
    disk = FillingDisk(full_at=40, low_space=low_space)
    recorder = runtime.stages.recorder
    recorder.open_segment, recorder.free_space = disk.open_segment, disk.free_space
    recorder.start()
    stats = runtime.run(max_frames=60)
    assert stats.rendered_frames == 60  # the show went on
    assert stats.errors["recording_failures"] == 1 and not recorder.recording
    (session,) = list(tmp_path.iterdir())
    segments = sorted((session / "frames").glob("segment_*.mp4"))
    assert [segment_frames(s) for s in segments] == [30, 10]  # the segment open when the disk filled plays
    assert len((session / "observations.jsonl").read_text().splitlines()) == 40  # nothing after the failing frame
    assert replay_session(ReplayOptions(session, progress=False)).rendered_frames == 40


def test_a_killed_run_leaves_readable_segments_and_whole_json_lines(media, tmp_path):
    session = killed_recording(media / "video" / "intel_asl" / "book.mkv", tmp_path)
    segments = sorted((session / "frames").glob("segment_*.mp4"))
    assert len(segments) >= 3
    assert all(segment_frames(s) > 0 for s in segments[:-1])  # every closed segment plays
    lines = (session / "observations.jsonl").read_text().splitlines()
    assert len(lines) > 10
    assert all(isinstance(json.loads(line)["t"], float) for line in lines)  # no torn line


def test_the_indicator_shows_while_recording():
    image = np.full((32, 32, 3), 255, np.uint8)
    compositor = Compositor((320, 180), "cover")
    width, height = 320, 180
    plain = np.frombuffer(pygame.image.tobytes(compositor.compose(image, None), "RGB"), np.uint8).reshape(height, width, 3).copy()
    marked = np.frombuffer(pygame.image.tobytes(compositor.compose(image, None, recording=True), "RGB"), np.uint8).reshape(height, width, 3)
    corner = marked[:40, -40:].reshape(-1, 3)
    assert plain[:40, -40:].min() == 255
    assert any((r > 200 and g < 60 and b < 60) for r, g, b in corner)


@pytest.mark.parametrize("action", ["start", "stop", "toggle"])
def test_record_commands_without_a_recorder_are_rejected_not_fatal(media, action):
    source = VideoFileSource(media / "video" / "intel_asl" / "yes.mkv")
    stages = build_stages(config_from_dict({"osc": {"listen": ""}}), source, HeadlessDisplay((64, 36), "cover", NullSink()))
    stages.recorder = None
    stages.listeners.clear()
    runtime = Runtime(stages, FixedStepClock(), lockstep=True)
    runtime.inbox.put(ControlCommand("record", (action,), "test"))
    stats = runtime.run(max_frames=2)
    assert stats.errors["rejected_commands"] == 1
