"""Recorded sessions replay: a complete session gives the same frames and OSC output as the live
run, also when the live run's own decisions (adaptive quality, the painter thread) changed its
pixels; a session cut short by a kill replays what was written; MediaPipe can be re-run on it,
its torn last segment skipped."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from pythonosc.osc_packet import OscPacket

from installation.app import build_stages
from installation.clock import FixedStepClock
from installation.config import config_from_dict
from installation.control import ControlCommand
from installation.display import HeadlessDisplay, NullSink
from installation.file_sources import VideoFileSource
from installation.osc import OscBridge
from installation.replay import ReplayOptions, read_lines, replay_session
from installation.run_stats import ReplayCheck
from installation.runtime import Runtime
from tests.helpers.killed_run import killed_recording
from tests.helpers.shown import shown_frames

ROOT = Path(__file__).resolve().parents[1]


class Listener:
    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.socket.bind(("127.0.0.1", 0))
        self.target = f"127.0.0.1:{self.socket.getsockname()[1]}"

    def bundles(self) -> list[list]:
        """Everything queued: the runs send on their own thread, and on loopback a datagram is in
        this socket's queue when ``sendto`` returns."""
        found = []
        while True:
            try:
                data = self.socket.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return found
            found.append([[m.message.address, *m.message.params] for m in OscPacket(data).messages])


def live_run_with_recording(media, tmp_path, listener):
    # the session's config says the output size, as `main.py run --headless --size 64x36` records it:
    # the painting (never larger than the screen) is painted again at that size on replay
    config = config_from_dict({"record": {"folder": str(tmp_path / "sessions"), "segment_s": 1.0},
                               "osc": {"listen": "", "targets": [listener.target]},
                               "headless": {"width": 64, "height": 36}})
    source = VideoFileSource(media / "video" / "intel_asl" / "sorry.mkv", mirror=config.source.mirror)
    stages = build_stages(config, source, HeadlessDisplay((64, 36), "cover", NullSink()))
    runtime = Runtime(stages, FixedStepClock(), lockstep=True)
    bridge = OscBridge(config.osc, runtime.inbox)
    stages.listeners.insert(0, bridge)
    stages.recorder.osc_out = lambda: bridge.sender.last_messages
    stages.recorder.start()
    runtime.stages.generator.warm_up()
    for index in range(1000):
        if index == 20:  # a performer acts mid-run: the replay must apply these at the same frame
            runtime.inbox.put(ControlCommand("scene", ("set", "dream_drift"), "osc test"))
            runtime.inbox.put(ControlCommand("tempo", (100.0,), "osc test"))
        if index == 40:
            runtime.inbox.put(ControlCommand("scene_param", ("pulse", 1.5), "osc test"))
        runtime.step()
        if not runtime.running:
            break
    runtime.close()
    (session,) = list((tmp_path / "sessions").iterdir())
    return runtime.summary(), session


@pytest.fixture(scope="module")
def recorded(media, tmp_path_factory):
    """One recorded live run, shared by the tests that replay it: (its summary, the session
    folder, the OSC bundles it sent). A test that damages the session copies it first."""
    listener = Listener()
    live, session = live_run_with_recording(media, tmp_path_factory.mktemp("recorded"), listener)
    return live, session, listener.bundles()


def test_a_complete_session_replays_to_the_same_frames_and_osc_output(recorded):
    live, session, live_bundles = recorded
    replay_listener = Listener()
    replayed = replay_session(ReplayOptions(session, osc_out=(replay_listener.target,), progress=False))
    replay_bundles = replay_listener.bundles()
    assert replayed.rendered_frames == live.rendered_frames == 73
    assert replayed.digests == live.digests  # landmarks, latents and frames, bit for bit
    assert len(replay_bundles) == len(live_bundles) == 73
    assert replay_bundles == live_bundles  # the same OSC output, message for message
    scenes = [next(m[1] for m in bundle if m[0] == "/scene") for bundle in replay_bundles]
    assert scenes[19] == "body_latent" and scenes[20] == "dream_drift"


def test_a_killed_session_replays_what_was_written(media, tmp_path):
    session = killed_recording(media / "video" / "intel_asl" / "book.mkv", tmp_path)
    written = read_lines(session / "observations.jsonl")
    stats = replay_session(ReplayOptions(session, progress=False))
    assert stats.rendered_frames == len(written) > 10
    assert stats.frames_with_pose > 0.9 * stats.frames


def test_replay_with_perception_reruns_mediapipe_on_the_recorded_frames(recorded, tmp_path):
    _, session, _ = recorded
    out = tmp_path / "export.mp4"
    stats = replay_session(ReplayOptions(session, with_perception=True, out=str(out), size=(160, 90), progress=False))
    assert stats.frames == 73 and stats.frames_with_pose >= 70
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 73
    assert int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 160


def test_with_perception_skips_the_torn_segment_of_a_crashed_session(recorded, tmp_path, caplog):
    session = Path(shutil.copytree(recorded[1], tmp_path / "session"))  # this test tears it
    segments = sorted((session / "frames").glob("segment_*.mp4"))
    intact = sum(int(cv2.VideoCapture(str(s)).get(cv2.CAP_PROP_FRAME_COUNT)) for s in segments[:-1])
    torn = segments[-1].read_bytes()
    segments[-1].write_bytes(torn[:len(torn) // 2])  # killed while writing it: no index at its end yet
    with caplog.at_level(logging.WARNING, logger="installation.replay"):
        perceived = replay_session(ReplayOptions(session, with_perception=True, progress=False))
    assert perceived.frames == intact == 60 and perceived.frames_with_pose >= 57
    assert f"{segments[-1].name} cannot be read (the run was cut short while writing it): skipped" in caplog.text
    assert replay_session(ReplayOptions(session, progress=False)).rendered_frames == 73  # every record still


def test_replay_command_line_exports_with_a_progress_bar(recorded, tmp_path):
    _, session, _ = recorded
    out = tmp_path / "piece.mp4"
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "replay", str(session), "--out", str(out),
                             "--size", "320x180"], capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, SDL_VIDEODRIVER="dummy"))
    assert result.returncode == 0, result.stderr[-1000:]
    assert "73/73 frames" in result.stderr
    assert out.is_file()
    bad = subprocess.run([sys.executable, str(ROOT / "main.py"), "replay", str(tmp_path)], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "not a recorded session" in bad.stderr


def test_torn_last_lines_are_dropped(tmp_path):
    path = tmp_path / "observations.jsonl"
    path.write_text('{"t": 0.0}\n{"t": 0.03')
    assert read_lines(path) == [{"t": 0.0}]


class ForcedQuality:
    """Adaptive quality told when to step (``steps``: frame number -> new size) instead of timing
    the frames, so the test says when it acts and reads no clock."""

    def __init__(self, resolution: int, steps: dict[int, int]) -> None:
        self.resolution, self.steps, self.changes, self._frames = resolution, steps, 0, 0

    def update(self, work_ms: float, generate_ms: float, wall_now: float) -> int | None:
        self._frames += 1
        size = self.steps.get(self._frames)
        if size is not None:
            self.resolution, self.changes = size, self.changes + 1
        return size


def live_run_deciding_for_itself(media, tmp_path, frames: int = 70):
    """A live (not lockstep) run, recorded: threaded perception and a painter thread that paints
    at its own pace, adaptive quality that changes the generator's size three times, the painter's
    own size changing once, and a performer's style change. Time is stepped by the test."""
    config = config_from_dict({"record": {"folder": str(tmp_path / "sessions"), "segment_s": 1.0},
                               "osc": {"listen": ""}, "headless": {"width": 64, "height": 36}})
    source = VideoFileSource(media / "video" / "intel_asl" / "sorry.mkv", mirror=config.source.mirror)
    stages = build_stages(config, source, HeadlessDisplay((64, 36), "cover", NullSink()), lockstep=False)
    stages.quality = ForcedQuality(stages.generator.resolution, {12: 216, 30: 184, 50: 224})
    clock = FixedStepClock()
    runtime = Runtime(stages, clock, lockstep=False)
    stages.recorder.start()
    stages.scenes.generators.warm_up()
    for index in range(frames):
        clock.advance_to(index / 30.0)
        if index == 25:
            runtime.inbox.put(ControlCommand("style_set", ("wave",), "osc test"))
        if index == 35:
            stages.painter.size = 48  # as the painter thread's own adaptive quality would
        runtime.step()
    runtime.close()
    (session,) = list((tmp_path / "sessions").iterdir())
    return session


def test_a_live_session_with_adaptive_quality_and_a_painter_thread_replays_bit_for_bit(media, tmp_path, monkeypatch):
    digests = shown_frames(monkeypatch)
    session = live_run_deciding_for_itself(media, tmp_path)
    live = list(digests)
    records = read_lines(session / "observations.jsonl")
    assert sorted({r["live"]["resolution"] for r in records}) == [184, 216, 224, 256]  # adaptive quality acted
    paint = [r["live"]["paint"] for r in records]
    assert {size for _, size, _ in paint} == {48, 64}
    assert any(shown is not None and shown < frame for frame, _, shown in paint)  # the thread's paintings came late

    digests.clear()
    stats = replay_session(ReplayOptions(session, progress=False))
    assert stats.replay == ReplayCheck(live_decisions=True, divergences=0)
    assert len(digests) == len(live) == 70
    assert digests == live  # every frame, bit for bit

    # the same session without its recorded decisions (as recorded before they were): not exact
    lines = [json.loads(line) for line in (session / "observations.jsonl").read_text().splitlines()]
    (session / "observations.jsonl").write_text("".join(json.dumps({k: v for k, v in r.items() if k != "live"}) + "\n"
                                                         for r in lines))
    digests.clear()
    replay_session(ReplayOptions(session, progress=False))
    differing = sum(a != b for a, b in zip(digests, live))
    assert differing > 30, differing
