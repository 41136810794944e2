"""Adaptive quality: the loop holds its frame rate by drawing fewer pixels when it falls behind,
one small step at a time; and the generator reuses its last frame when the latent barely moves."""

from __future__ import annotations

import numpy as np

from installation.app import build_stages
from installation.clock import ManualClock
from installation.config import GeneratorConfig, load_config, override
from installation.contracts import LatentState
from installation.display import HeadlessDisplay, NullSink
from installation.file_sources import VideoFileSource
from installation.generator import GeneratorHost
from installation.quality import AdaptiveQuality
from installation.runtime import Runtime
from tests.helpers.stand_ins import NoPerception


def feed(quality: AdaptiveQuality, cost_ms, seconds: float, fps: float = 30.0, start: float = 0.0):
    """Frames at ``fps`` whose generator time is ``cost_ms(resolution)``; returns the changes."""
    changes = []
    for i in range(int(seconds * fps)):
        now = start + i / fps
        generate = cost_ms(quality.resolution)
        new = quality.update(generate + 5.0, generate, now)
        if new is not None:
            changes.append((now, new))
    return changes


def test_behind_the_budget_it_steps_down_one_small_step_a_second_until_it_fits():
    quality = AdaptiveQuality(target_fps=30.0, resolution=256, min_resolution=64, max_resolution=256)
    changes = feed(quality, lambda r: 60.0 * (r / 256) ** 2, seconds=10.0)
    sizes = [256] + [size for _, size in changes]
    assert all(0.8 <= b / a < 1.0 for a, b in zip(sizes, sizes[1:])), sizes
    assert all(b - a >= 1.0 for (a, _), (b, _) in zip(changes, changes[1:]))
    assert 60.0 * (quality.resolution / 256) ** 2 + 5.0 <= 1000 / 30, "it fits the budget now"
    assert quality.resolution >= 144, "and does not give away more than it must"


def test_with_headroom_it_climbs_back_and_never_oscillates():
    quality = AdaptiveQuality(target_fps=30.0, resolution=256, min_resolution=64, max_resolution=256)
    feed(quality, lambda r: 60.0 * (r / 256) ** 2, seconds=10.0)
    low = quality.resolution
    changes = feed(quality, lambda r: 15.0 * (r / 256) ** 2, seconds=10.0, start=10.0)  # the load went away
    assert quality.resolution == 256 and all(size > low for _, size in changes)
    steady = feed(quality, lambda r: 15.0 * (r / 256) ** 2, seconds=10.0, start=20.0)
    assert steady == [], "at the top with room to spare: no more changes"


def test_it_keeps_the_resolution_when_the_time_goes_elsewhere():
    quality = AdaptiveQuality(target_fps=60.0, resolution=256, min_resolution=64, max_resolution=256)
    changes = []
    for i in range(300):  # 25 ms of work a frame, of which the generator is 3 ms: fewer pixels can't fix it
        new = quality.update(25.0, 3.0, i / 40.0)
        if new is not None:
            changes.append(new)
    assert changes == [] and quality.resolution == 256


def test_it_stays_within_its_bounds():
    quality = AdaptiveQuality(target_fps=60.0, resolution=128, min_resolution=96, max_resolution=128)
    feed(quality, lambda r: 500.0, seconds=10.0)
    assert quality.resolution == 96


def test_the_generator_reuses_its_last_frame_while_the_latent_barely_moves():
    host = GeneratorHost(GeneratorConfig(model="cppn", resolution=32, latent_dim=8, seed=7, device="cpu",
                                         torch_threads=0, reuse_below=1e-3))
    z = np.linspace(-1, 1, 8).astype(np.float32)
    first = host.render(LatentState(z))
    again = host.render(LatentState(z + 5e-4))
    assert again is first and host.reused_frames == 1
    moved = host.render(LatentState(z + 0.05))
    assert moved is not first and not np.array_equal(moved, first) and host.reused_frames == 1
    assert not first.flags.writeable, "a frame that may be shown again cannot be painted over"
    host.set_resolution(48)
    assert host.render(LatentState(z + 0.05)).shape == (48, 48, 3), "a new size is drawn, not reused"


def test_with_a_slowed_generator_the_live_loop_returns_to_its_frame_rate(media):
    """The live loop on an injected clock: the slowed generator moves the clock on by what it
    would cost (80 ms at 256 px, scaling with the pixel count: far over a 50 ms budget), the
    display's pacing waits on the same clock; nothing waits for, or measures, real seconds."""
    target = 20.0
    config = override(override(load_config(), "osc", listen=""), "display", target_fps=target)
    config = override(config, "generator", resolution=256, min_resolution=64, reuse_below=0.0)
    clock = ManualClock()
    clip = media / "video" / "tfjs_pose_squats.mp4"
    display = HeadlessDisplay((64, 36), "cover", NullSink(), pace_fps=target)
    stages = build_stages(config, VideoFileSource(clip, mirror=True, loop=True), display, lockstep=False)
    stages.perception.close()
    stages.perception = NoPerception()  # the generator's cost is the one measured
    host = stages.scenes.generator
    real_forward = host._runner._forward

    def slowed(condition):
        clock.advance(0.080 * (host.resolution / 256) ** 2)
        return real_forward(condition)

    host._runner._forward = slowed
    shown: list[tuple[float, int]] = []

    class Watch:
        def on_frame(self, report):
            shown.append((clock.wall(), host.resolution))

        def close(self):
            pass

    stages.listeners.insert(0, Watch())
    runtime = Runtime(stages, clock, lockstep=False)
    while not shown or shown[-1][0] - shown[0][0] < 12.0:  # 12 s of loop time
        runtime.step()
    runtime.close()

    start = shown[0][0]
    sizes = [size for _, size in shown]
    steps = [(b, a) for a, b in zip(sizes, sizes[1:]) if a != b]
    assert steps and all(0.8 <= new / old <= 1.25 for new, old in steps), f"small steps only: {steps}"
    assert min(sizes) < 256
    last_two_s = [t for t, _ in shown if t >= shown[-1][0] - 2.0]
    fps = (len(last_two_s) - 1) / (last_two_s[-1] - last_two_s[0])
    first_fps_at_first_size = sum(1 for _, s in shown if s == 256) / max(1e-9, max(t for t, s in shown if s == 256) - start)
    assert first_fps_at_first_size < 0.8 * target, "the slowed generator really was behind at first"
    assert fps >= 0.95 * target, f"{fps:.1f} fps in the last two seconds, target {target}"
    settled = next(t for t, s in shown if s == sizes[-1]) - start
    assert settled < 8.0, f"settled after {settled:.1f} s of loop time"
