"""Attract mode: after a while with nobody there the attract scene shows; it ends within a second
of someone stepping in."""

from __future__ import annotations

from installation.app import build_stages
from installation.clock import FixedStepClock
from installation.config import load_config, override
from installation.display import HeadlessDisplay, NullSink
from installation.file_sources import VideoFileSource
from installation.report import FrameReport
from installation.runtime import Runtime
from installation.show import NobodyWatch
from tests.helpers.video import join_clips


class Scenes:
    def __init__(self) -> None:
        self.seen: list[tuple[float, str]] = []

    def on_frame(self, report: FrameReport) -> None:
        self.seen.append((report.t, report.scene))

    def close(self) -> None:
        pass


def replay(clip, attract_after_s: float, max_frames: int | None = None) -> list[tuple[float, str]]:
    config = override(override(load_config(), "osc", listen=""), "scene", attract_after_s=attract_after_s)
    stages = build_stages(config, VideoFileSource(clip, mirror=True), HeadlessDisplay((64, 36), "cover", NullSink()))
    scenes = Scenes()
    stages.listeners.insert(0, scenes)
    Runtime(stages, FixedStepClock(), lockstep=True).run(max_frames=max_frames)
    return scenes.seen


def changes(seen: list[tuple[float, str]]) -> list[tuple[float, str]]:
    return [(t, name) for i, (t, name) in enumerate(seen) if i == 0 or name != seen[i - 1][1]]


def test_nobody_there_starts_the_attract_scene_after_the_timeout(media):
    seen = changes(replay(media / "video" / "opencv_tree_nobody.avi", attract_after_s=2.0, max_frames=45))  # 3 s at 15 fps
    assert seen[0][1] == "body_latent"
    assert seen[1][1] == "dream_drift" and 2.0 <= seen[1][0] < 2.2


def test_someone_stepping_in_ends_it_within_a_second(media, tmp_path):
    tree, signer = media / "video" / "opencv_tree_nobody.avi", media / "video" / "intel_asl" / "again.mkv"
    clip = join_clips(tmp_path / "nobody_then_someone.mp4", [(tree, 55), (signer, 77)])  # before the tree's hand
    person_from = 55 / 30.0
    seen = changes(replay(clip, attract_after_s=1.0))
    names = [name for _, name in seen]
    assert names == ["body_latent", "dream_drift", "body_latent"]
    entered, left = seen[1][0], seen[2][0]
    assert entered < person_from and person_from <= left < person_from + 1.0


def test_nobody_watch_units():
    watch = NobodyWatch(after_s=5.0)
    assert watch.update(0.0, 0.0) is None
    assert watch.update(0.0, 4.9) is None
    assert watch.update(0.0, 5.0) == "enter"
    assert watch.update(0.2, 6.0) is None  # a fading presence is not someone
    assert watch.update(0.9, 7.0) == "leave"
    assert NobodyWatch(after_s=0.0).update(0.0, 1e6) is None  # off


def test_a_bound_gesture_switches_the_scene_in_replay(media):
    config = override(override(load_config(), "osc", listen=""), "scene", next_gesture="crouch")
    clip = media / "video" / "tfjs_pose_squats.mp4"  # three squats = three crouches
    stages = build_stages(config, VideoFileSource(clip, mirror=True), HeadlessDisplay((64, 36), "cover", NullSink()))
    scenes = Scenes()
    stages.listeners.insert(0, scenes)
    Runtime(stages, FixedStepClock(), lockstep=True).run()
    names = [name for _, name in changes(scenes.seen)]
    # next, next, next along the scenes in name order
    assert names == ["body_latent", "dream_drift", "face_mirror", "style_mirror"]
