"""The loop's own behaviour: commands at frame boundaries, blackout, freeze, listeners."""

from __future__ import annotations

import numpy as np

from installation.app import build_stages
from installation.clock import FixedStepClock
from installation.config import load_config
from installation.control import ControlCommand
from installation.display import HeadlessDisplay, NullSink
from installation.file_sources import VideoFileSource
from installation.report import FrameReport
from installation.runtime import Runtime


class Recorder:
    def __init__(self) -> None:
        self.reports: list[FrameReport] = []
        self.closed = False

    def on_frame(self, report: FrameReport) -> None:
        self.reports.append(report)

    def close(self) -> None:
        self.closed = True


class Shown:
    """A display that keeps what it was asked to show."""

    def __init__(self) -> None:
        self.images: list[np.ndarray] = []
        self.inner = HeadlessDisplay((64, 36), "cover", NullSink())

    def show(self, image, hud, recording=False):
        self.images.append(image.copy())
        return self.inner.show(image, hud, recording)

    def pace(self, idle, wall):
        self.inner.pace(idle, wall)

    def close(self):
        self.inner.close()


def runtime_on(media, clip: str = "yes.mkv") -> tuple[Runtime, Recorder, Shown]:
    source = VideoFileSource(media / "video" / "intel_asl" / clip)
    shown, recorder = Shown(), Recorder()
    stages = build_stages(load_config(), source, shown)
    stages.listeners.append(recorder)
    return Runtime(stages, FixedStepClock(), lockstep=True), recorder, shown


def test_listeners_get_one_report_per_frame_in_order_and_are_closed(media):
    runtime, recorder, _ = runtime_on(media)
    stats = runtime.run(max_frames=10)
    assert [r.frame_index for r in recorder.reports] == list(range(10))
    assert all(r.observation is not None and r.observation.has_pose for r in recorder.reports)
    assert recorder.closed and stats.rendered_frames == 10


def test_blackout_and_freeze_apply_at_the_next_frame_boundary(media):
    runtime, recorder, shown = runtime_on(media)
    runtime.stages.generator.warm_up()
    for _ in range(3):
        runtime.step()
    runtime.inbox.put(ControlCommand("blackout", ("on",), origin="test"))
    runtime.step()
    assert shown.images[-1].max() == 0  # black
    runtime.inbox.put(ControlCommand("blackout", ("off",), origin="test"))
    runtime.step()
    runtime.inbox.put(ControlCommand("freeze", (True,), origin="test"))
    runtime.step()
    runtime.step()
    assert np.array_equal(shown.images[-1], shown.images[-2])  # held
    assert np.array_equal(recorder.reports[-1].state.z, recorder.reports[-2].state.z)
    runtime.inbox.put(ControlCommand("freeze", ("toggle",), origin="test"))
    runtime.step()
    assert not np.array_equal(shown.images[-1], shown.images[-2])  # moving again
    runtime.close()


def test_unknown_commands_are_counted_not_fatal(media):
    runtime, _, _ = runtime_on(media)
    runtime.inbox.put(ControlCommand("explode", origin="test"))
    stats = runtime.run(max_frames=2)
    assert stats.errors["unknown_commands"] == 1


def test_quit_command_stops_the_loop(media):
    runtime, _, _ = runtime_on(media)
    runtime.inbox.put(ControlCommand("quit", origin="test"))
    stats = runtime.run(max_frames=50)
    assert stats.rendered_frames == 0
