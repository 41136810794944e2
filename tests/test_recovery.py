"""Fault injection on real clips: the run completes, the right counter rises, the right fallback
shows. (A crashed or hung process is the supervisor's: tests/test_kiosk.py.)"""

from __future__ import annotations

import dataclasses
import errno
import threading

import numpy as np

from installation.app import build_stages
from installation.clock import FixedStepClock, ManualClock, MonotonicClock
from installation.config import PerceptionConfig, config_from_dict, load_config, override
from installation.contracts import LatentState
from installation.control import ControlCommand
from installation.display import HeadlessDisplay, NullSink
from installation.file_sources import VideoFileSource
from installation.live_sources import RealtimePlayback
from installation.perceiver import Perceiver
from installation.perception import ThreadedPerception
from installation.recovery import SourceWatch, repair_latent
from installation.report import FrameReport
from installation.runtime import Runtime


class Reports:
    def __init__(self) -> None:
        self.items: list[FrameReport] = []

    def on_frame(self, report: FrameReport) -> None:
        self.items.append(report)

    def close(self) -> None:
        pass


def make_runtime(media, clip="walk.mkv", config=None, live=False):
    config = config or override(load_config(), "osc", listen="")
    clock = MonotonicClock() if live else FixedStepClock()
    source = VideoFileSource(media / "video" / "intel_asl" / clip, loop=live)
    if live:
        source = RealtimePlayback(source, clock)
    stages = build_stages(config, source, HeadlessDisplay((64, 36), "cover", NullSink(), 30.0 if live else None))
    reports = Reports()
    stages.listeners.insert(0, reports)
    return Runtime(stages, clock, lockstep=not live), reports


class SilentStretchCamera:
    """A camera that delivers a frame every time the loop asks, goes silent (unplugged) for a
    stretch of the clock's show time, then delivers again. Frames are stamped by the clock, as a
    live camera's are, and the clip loops."""

    def __init__(self, clip, clock, silent_from_s: float, silent_until_s: float) -> None:
        self.inner, self.clock, self.silent = VideoFileSource(clip, loop=True), clock, (silent_from_s, silent_until_s)
        self.description, self.fps, self.frame_size = "flaky camera", self.inner.fps, self.inner.frame_size

    def latest(self):
        frame = self.inner.read()
        if self.silent[0] <= self.clock.now() < self.silent[1]:
            return None
        return dataclasses.replace(frame, timestamp_s=self.clock.now(), wall_s=self.clock.wall())

    def read(self):
        return self.latest()

    def close(self):
        self.inner.close()


def test_a_camera_that_goes_silent_shows_the_attract_scene_until_it_is_back(media):
    """A live run on a hand-driven clock: the loop's pacing sleep moves it 1/30 s a frame, so
    120 frames are 4 s of show time, silent from 1 s to 2.5 s (a stall after 0.5 s), however busy
    the machine."""
    clock = ManualClock()
    config = override(override(load_config(), "osc", listen=""), "perception", schedule="inline")
    config = override(override(config, "source", stall_s=0.5), "generator", resolution=64)
    camera = SilentStretchCamera(media / "video" / "intel_asl" / "walk.mkv", clock, 1.0, 2.5)
    stages = build_stages(override(config, "paint", enabled=False), camera,
                          HeadlessDisplay((64, 36), "cover", NullSink(), 30.0))
    reports = Reports()
    stages.listeners.insert(0, reports)
    stats = Runtime(stages, clock, lockstep=False).run(max_frames=120)
    scenes = [r.scene for r in reports.items]
    changes = [name for i, name in enumerate(scenes) if i == 0 or name != scenes[i - 1]]
    assert changes == ["body_latent", "dream_drift", "body_latent"]
    assert stats.errors["source_stalls"] == 1
    attract = [r for r in reports.items if r.scene == "dream_drift"]
    assert len(attract) > 20  # it kept rendering through the silence
    assert len({r.state.z.tobytes() for r in attract}) == len(attract)  # and kept moving


def hanging_factory(hang_on_call: int):
    """Perceivers whose first one hangs forever on its n-th frame (a wedged MediaPipe graph)."""
    made = []

    def make() -> Perceiver:
        perceiver = Perceiver(PerceptionConfig())
        if not made:
            real, calls, forever = perceiver.process, [0], threading.Event()

            def process(frame):
                calls[0] += 1
                if calls[0] == hang_on_call:
                    forever.wait()
                return real(frame)

            perceiver.process = process
        made.append(perceiver)
        return perceiver

    return make, made


class ReadingCount:
    """The hang watch's clock, counting its own readings instead of seconds: the loop reads it
    once a frame and the worker once a perceived frame, so "busy for 45" means "about 45 loop
    frames went by meanwhile", on a quiet machine or a loaded one alike (a real second, under
    load, is shorter than one slow MediaPipe frame)."""

    def __init__(self) -> None:
        self._lock, self._count = threading.Lock(), 0

    def wall(self) -> float:
        with self._lock:
            self._count += 1
            return float(self._count)

    now = wall

    def sleep(self, seconds: float) -> None:
        pass


def test_hung_perception_is_restarted_while_the_scene_keeps_animating(media):
    runtime, reports = make_runtime(media, live=True)
    make, made = hanging_factory(hang_on_call=8)
    runtime.stages.perception.close()
    runtime.stages.perception = ThreadedPerception(make, hang_timeout_s=45, clock=ReadingCount())
    stats = runtime.run(max_frames=210)  # seven seconds of a 30 fps display
    assert stats.errors["perception_restarts"] == 1 and len(made) == 2
    gaps, run = [], 0  # longest stretch of rendered frames with no new observation
    for report in reports.items:
        run = run + 1 if report.observation is None else 0
        gaps.append(run)
    assert max(gaps) > 15  # about a second of frames rendered while perception was stuck ...
    resumed_at = gaps.index(max(gaps)) + 1
    after = [r for r in reports.items[resumed_at:] if r.observation is not None]
    assert len(after) >= 5  # ... then the fresh perceiver's observations flowed again
    assert stats.frames_with_pose > 30


def test_failing_perception_is_counted_and_restarted(media):
    runtime, _ = make_runtime(media)
    failures = {"left": 12}
    made = []

    def make() -> Perceiver:
        perceiver = Perceiver(PerceptionConfig())
        if not made:
            real = perceiver._run_pose

            def broken(rgb, mirrored):
                if failures["left"] > 0:
                    failures["left"] -= 1
                    raise RuntimeError("graph failure")
                return real(rgb, mirrored)

            perceiver._run_pose = broken
        made.append(perceiver)
        return perceiver

    runtime.stages.perception.close()
    runtime.stages.perception = ThreadedPerception(make, restart_after_errors=10)
    stats = runtime.run()
    assert stats.rendered_frames == 89  # every frame of the clip was shown
    assert stats.errors["perception"] == 10 and stats.errors["perception_restarts"] == 1
    assert stats.frames_with_pose >= 70  # the fresh perceiver sees the signer again


def test_a_scene_that_raises_is_replaced_by_the_fallback_scene(media):
    runtime, reports = make_runtime(media)
    scene = runtime.stages.scenes.scene
    real, calls = scene.update, [0]

    def flaky(inputs):
        calls[0] += 1
        if calls[0] > 5:
            raise ZeroDivisionError("artist bug")
        return real(inputs)

    scene.update = flaky
    stats = runtime.run(max_frames=30)
    assert stats.rendered_frames == 30 and stats.errors["scene"] == 1
    assert [r.scene for r in reports.items][:5] == ["body_latent"] * 5
    assert {r.scene for r in reports.items[5:]} == {"dream_drift"}


def test_a_nan_latent_never_reaches_the_generator(media):
    runtime, reports = make_runtime(media)
    scene = runtime.stages.scenes.scene
    real = scene.update

    def poisoned(inputs):
        state = real(inputs)
        z = state.z.copy()
        if inputs.t > 0.3:
            z[::3] = np.nan
            z[1] = 1e9
        return LatentState(z, state.params)

    scene.update = poisoned
    stats = runtime.run(max_frames=20)
    assert stats.errors["latent_repaired"] > 5
    assert stats.errors["generator_nan_frames"] == 0
    assert all(np.isfinite(r.state.z).all() and np.abs(r.state.z).max() <= 8.0 for r in reports.items)


def test_a_full_disk_while_recording_stops_the_recording_and_the_show_goes_on(media, tmp_path):
    config = config_from_dict({"record": {"folder": str(tmp_path)}, "osc": {"listen": ""}})
    runtime, _ = make_runtime(media, config=config)
    runtime.inbox.put(ControlCommand("record", ("start",), "test"))
    recorder = runtime.stages.recorder
    real_write, written = recorder._write_frame, [0]

    def disk_fills(report):
        written[0] += 1
        if written[0] > 10:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(report)

    recorder._write_frame = disk_fills
    stats = runtime.run(max_frames=30)
    assert stats.rendered_frames == 30
    assert stats.errors["recording_failures"] == 1 and not recorder.recording
    (session,) = list(tmp_path.iterdir())
    assert len((session / "observations.jsonl").read_text().splitlines()) == 10  # whole lines, up to the failure


def test_source_watch_and_latent_repair_units():
    watch = SourceWatch(stall_s=1.0)
    assert watch.update(True, 0.0) is None
    assert watch.update(False, 0.5) is None
    assert watch.update(False, 1.6) == "stalled"
    assert watch.update(False, 5.0) is None
    assert watch.update(True, 5.1) == "resumed"
    z, repaired = repair_latent(np.array([np.nan, 2.0, 50.0], np.float32), np.array([0.5, 0.0, 0.0], np.float32), 8.0)
    assert repaired and z.tolist() == [0.5, 2.0, 8.0]


def test_a_model_producing_nan_is_replaced_by_the_cppn(media):
    config = override(override(load_config(), "osc", listen=""), "generator", model="vae_art64")
    runtime, reports = make_runtime(media, config=config)
    generator = runtime.stages.generator
    assert generator.fallback_reason is None  # the shipped VAE loaded
    model, calls = generator.model, [0]
    real_forward = model.forward

    def breaks_down(*args, **kwargs):
        calls[0] += 1
        image = real_forward(*args, **kwargs)
        return image * float("nan") if calls[0] > 6 else image

    model.forward = breaks_down
    stats = runtime.run(max_frames=20)
    assert stats.rendered_frames == 20
    assert stats.errors["generator_nan_frames"] == 3 and stats.errors["generator_fallback"] == 1
    assert "NaN" in stats.generator_fallback_reason
    assert runtime.stages.generator.model.__class__.__name__ == "CPPN"


def test_a_model_that_cannot_load_runs_on_the_cppn(media, tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 64)
    config = override(override(load_config(), "osc", listen=""), "generator", model=str(broken))
    runtime, _ = make_runtime(media, config=config)
    stats = runtime.run(max_frames=5)
    assert stats.rendered_frames == 5 and stats.errors["generator_fallback"] == 1
    assert "broken.safetensors" in stats.generator_fallback_reason
