"""The load scheduler: on few cores painting gives way first, then perception, one step at a time,
and both come back with headroom; the painter and perception follow its decisions without the
display ever waiting. Time and stage costs are injected: no sleeps, no wall clock."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import numpy as np
import pytest

from installation.clock import ManualClock
from installation.config import Config, ConfigError, PaintConfig, config_from_dict
from installation.contracts import Frame, Observation
from installation.load_scheduler import (
    LoadDecision,
    LoadScheduler,
    StageCosts,
    ThreadPlan,
    apply_decision,
    frame_costs,
    free_cores,
    schedule_frame,
    thread_plan,
    with_threads,
)
from installation.painting import Painter, StyleLibrary
from installation.perception import InlinePerception, ThreadedPerception
from installation.telemetry import StageTimer, Telemetry
from models.style_networks import StyleCode

FPS = 30.0  # target and simulated frame rate: 33.3 ms a frame, on one core unless said

Costs = Callable[[int, int], tuple[float | None, float | None]]  # (paint_every, frame) -> (paint ms, perception ms)


def run(scheduler: LoadScheduler, costs: Costs, seconds: float, start: float = 0.0,
        generate_ms: float = 10.0, other_ms: float = 3.0) -> list[tuple[float, LoadDecision]]:
    """Frames at FPS whose painting and perception costs come from ``costs``; returns the changes."""
    changes = []
    for i in range(int(seconds * FPS)):
        now = start + i / FPS
        paint_ms, perception_ms = costs(scheduler.paint.every, int(round(now * FPS)))
        decision = scheduler.update(StageCosts(perception_ms, generate_ms, paint_ms, other_ms), now)
        if decision is not None:
            changes.append((now, decision))
    return changes


class Every:
    """Runs a stage as the Painter does: when ``every`` frames have passed since it last ran."""

    def __init__(self) -> None:
        self.last: int | None = None

    def due(self, every: int, frame: int) -> bool:
        if self.last is not None and frame - self.last < every:
            return False
        self.last = frame
        return True


def painting(run_ms: float | Callable[[int], float], perception_ms: float | None = None) -> Costs:
    """A painting of ``run_ms`` (or ``run_ms(paint_every)``) every paint_every-th frame; perception every frame."""
    schedule = Every()
    cost = run_ms if callable(run_ms) else (lambda every: run_ms)
    return lambda every, frame: (cost(every) if schedule.due(every, frame) else None, perception_ms)


def test_painting_over_its_budget_paints_every_kth_frame_stepping_up_one_at_a_time():
    scheduler = LoadScheduler(FPS, cores=1)
    changes = run(scheduler, painting(110.0), seconds=15.0)
    steps = [1] + [d.paint_every for _, d in changes]
    assert steps == list(range(1, 7)), steps  # one step at a time
    assert all(b - a >= 1.0 for (a, _), (b, _) in zip(changes, changes[1:])), "at most one change a second"
    assert all(d.perceive_every == 1 for _, d in changes), "perception is left alone"
    assert 10.0 + 3.0 + 110.0 / 6 <= 1000 / FPS < 10.0 + 3.0 + 110.0 / 5, "it fits now, and would not with less"
    assert run(scheduler, painting(110.0), seconds=30.0, start=15.0) == [], "settled: no more changes"
    assert "paint every 5 -> 6" in changes[-1][1].reason


def test_with_headroom_painting_comes_back_and_never_oscillates():
    scheduler = LoadScheduler(FPS, cores=1)
    run(scheduler, painting(110.0), seconds=15.0)
    high = scheduler.paint.every
    back = run(scheduler, painting(8.0), seconds=15.0, start=15.0)  # a smaller painting, or the load went away
    assert scheduler.paint.every == 1 and [d.paint_every for _, d in back] == list(range(high - 1, 0, -1))
    assert run(scheduler, painting(8.0), seconds=30.0, start=30.0) == []


def test_noisy_costs_near_the_budget_do_not_flip_the_schedule():
    rng = np.random.default_rng(0)
    scheduler = LoadScheduler(FPS, cores=1)
    changes = run(scheduler, painting(lambda every: 110.0 * rng.uniform(0.8, 1.2)), seconds=120.0)
    steps = [d.paint_every for _, d in changes]
    assert steps == sorted(steps), f"only ever up, never back and forth: {steps}"


def stages(scheduler: LoadScheduler, paint_ms: float, perception_ms: float) -> Costs:
    """Painting and perception each run on their scheduler's every k-th frame."""
    paints, perceives = Every(), Every()
    return lambda every, frame: (paint_ms if paints.due(every, frame) else None,
                                 perception_ms if perceives.due(scheduler.perception.every, frame) else None)


def test_perception_gives_way_after_painting_and_comes_back_first():
    scheduler = LoadScheduler(FPS, cores=1, max_paint_every=4)
    changes = run(scheduler, stages(scheduler, 60.0, 24.0), seconds=15.0)  # painting 15 ms a frame even at its most skipped
    order = [(d.paint_every, d.perceive_every) for _, d in changes]
    assert order == [(2, 1), (3, 1), (4, 1), (4, 2), (4, 3)], order  # painting first, to its limit, then perception
    back = run(scheduler, stages(scheduler, 6.0, 4.0), seconds=20.0, start=15.0)  # lighter: room for both again
    order = [(d.paint_every, d.perceive_every) for _, d in back]
    assert order == [(4, 2), (4, 1), (3, 1), (2, 1), (1, 1)], order  # perception back first
    assert run(scheduler, stages(scheduler, 6.0, 4.0), seconds=20.0, start=35.0) == []


def test_perception_on_cores_of_its_own_is_not_skipped_to_make_room_for_the_loop():
    """Pinned (installation.affinity), perception's core is its own: skipping it would free
    nothing for the generator and painting, so a full loop core skips painting only; and a
    MediaPipe slower than the camera is not skipped either (its newest-wins slot already takes
    only what it can perceive: skipping more would only lose fresh frames)."""
    shared, pinned = LoadScheduler(FPS, cores=2, max_paint_every=4), LoadScheduler(FPS, cores=2, max_paint_every=4,
                                                                                   perception_cores=1)
    # the loop's core full: 33 ms + painting 15 ms a frame at its most skipped
    on_shared, on_pinned = (run(each, stages(each, 60.0, 28.0), seconds=15.0, generate_ms=30.0)
                            for each in (shared, pinned))
    assert on_shared[-1][1].perceive_every > 1, "shared cores: perception gives way too"
    assert [(d.paint_every, d.perceive_every) for _, d in on_pinned] == [(2, 1), (3, 1), (4, 1)]
    assert pinned.budgets_ms == pytest.approx({"perception": 33.33, "generate": 20.0, "paint": 13.33}, abs=0.01)
    heavy = LoadScheduler(FPS, cores=2, perception_cores=1)  # MediaPipe slower than the camera on its core
    assert run(heavy, stages(heavy, 1.0, 45.0), seconds=10.0) == []
    assert heavy.budgets_ms["perception"] == pytest.approx(33.33, abs=0.01)  # its core: reported, not enforced


def test_time_spent_in_the_generator_is_not_fixed_by_skipping_the_others():
    scheduler = LoadScheduler(FPS, cores=1)
    assert run(scheduler, painting(2.0, perception_ms=5.0), seconds=10.0, generate_ms=40.0) == []


def test_a_step_back_that_does_not_hold_is_tried_again_ever_more_rarely():
    """Painting every frame costs three times as much per painting (the cores thrash): each step
    back is predicted to fit and does not; it is undone at once, and tried again less and less."""
    scheduler = LoadScheduler(FPS, cores=1)
    changes = run(scheduler, painting(lambda every: 30.0 if every == 1 else 10.0), seconds=300.0)
    backs = [now for now, d in changes if d.paint_every == 1]
    gaps = [b - a for a, b in zip(backs, backs[1:])]
    assert len(changes) <= 12 and len(backs) <= 4, changes
    assert all(b > 1.8 * a for a, b in zip(gaps, gaps[1:])) and gaps[0] >= 30.0, gaps


def test_more_free_cores_leave_more_room():
    one, two = LoadScheduler(FPS, cores=1), LoadScheduler(FPS, cores=2)
    assert run(one, painting(50.0), seconds=10.0) != []
    assert run(two, painting(50.0), seconds=10.0) == []  # 13 + 50 ms on two cores' 66.7 ms
    assert two.budgets_ms == pytest.approx({"perception": 20.0, "generate": 33.33, "paint": 13.33}, abs=0.01)


# -- the thread plan


def test_free_cores_are_the_allowed_ones_less_the_others_load():
    assert free_cores(allowed=2, load=0.1, total=2) == 2
    assert free_cores(allowed=2, load=1.0, total=2) == 1  # a training run on one core
    assert free_cores(allowed=2, load=4.3, total=2) == 1  # never none
    assert free_cores(allowed=4, load=4.0, total=16) == 3  # the load spread over all 16 cores
    assert 1 <= free_cores() <= (len(__import__("os").sched_getaffinity(0)))


def test_thread_counts_are_set_together_from_the_free_cores():
    assert thread_plan(1) == thread_plan(2) == ThreadPlan(torch=1, onnxruntime=1, mediapipe=1)
    assert thread_plan(4) == ThreadPlan(torch=1, onnxruntime=1, mediapipe=2)  # as affinity.core_plan splits them
    plan = thread_plan(16)
    assert plan == ThreadPlan(torch=6, onnxruntime=2, mediapipe=8) and sum(dataclasses.astuple(plan)) == 16
    config = with_threads(Config(), ThreadPlan(torch=3, onnxruntime=2, mediapipe=1))
    assert (config.generator.torch_threads, config.paint.threads) == (3, 2)


def test_the_load_section_is_checked_like_the_rest():
    assert config_from_dict({"load": {"paint_share": 0.3}}).load.paint_share == 0.3
    with pytest.raises(ConfigError, match="load.paint_share \\+ load.perception_share"):
        config_from_dict({"load": {"paint_share": 0.6, "perception_share": 0.5}})
    with pytest.raises(ConfigError, match="load.threads"):
        config_from_dict({"load": {"threads": "many"}})


# -- the appliers: the real Painter and perception schedules


class CountingNetworks:
    """Style networks that paint by inverting the picture and count their calls; ``gate`` (when
    set) holds every painting until it is opened, like a painting far slower than the loop."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls, self.gate = 0, gate

    def paint(self, rgb: np.ndarray, code: StyleCode) -> np.ndarray:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(timeout=60.0)  # a bound for a stuck test, not a timing
        return 255 - rgb


def pictures(count: int) -> list[np.ndarray]:
    """A bright square moving across a dark picture (64 x 64 RGB)."""
    frames = []
    for i in range(count):
        frame = np.full((64, 64, 3), 20, np.uint8)
        frame[20:40, 4 + 2 * i:24 + 2 * i] = 230
        frames.append(frame)
    return frames


def test_the_inline_painter_paints_every_kth_frame_and_carries_the_painting_between():
    networks = CountingNetworks()
    painter = Painter(PaintConfig(size=64, style="builtin:0"), StyleLibrary(networks), None, threaded=False)
    apply_decision(LoadDecision(paint_every=3), painter, object())
    shown = []
    for i, picture in enumerate(pictures(9)):
        shown.append(painter.paint(picture))
        assert networks.calls == i // 3 + 1, "painted on frames 0, 3 and 6 only"
        assert (painter.painted_ms is not None) == (i % 3 == 0)
        assert (painter.last_step.shown == i) == (i % 3 == 0)
    assert all(frame.shape == (64, 64, 3) and frame.mean() > 128 for frame in shown), "all painted (inverted)"
    painter.set_paint_every(1)
    painter.paint(pictures(1)[0])
    assert networks.calls == 4


def test_the_threaded_painter_is_asked_every_kth_frame_and_the_display_never_waits():
    gate = threading.Event()
    networks = CountingNetworks(gate)
    painter = Painter(PaintConfig(size=64, style="builtin:0", adaptive=False, target_fps=240.0),
                      StyleLibrary(networks), None, threaded=True)
    painter.set_paint_every(4)
    asked = []
    try:
        for i, picture in enumerate(pictures(12)):
            put_before = painter._jobs.overwritten + painter._jobs.holds_item
            shown = painter.paint(picture)  # the painter thread is held inside its first painting: this must not wait
            asked.append(painter._jobs.overwritten + painter._jobs.holds_item > put_before or i == 0)
            assert np.array_equal(shown, picture), "nothing painted yet: the picture as it is, at once"
        assert networks.calls <= 1 and painter.paintings == 0
        assert [i for i, was in enumerate(asked) if was] == [0, 4, 8]
    finally:
        gate.set()
        painter.close()


class CountingPerceiver:
    errors = consecutive_errors = 0

    def __init__(self) -> None:
        self.seen: list[int] = []

    def process(self, frame: Frame):
        self.seen.append(frame.index)
        return frame.index

    def counters(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        pass


def frame(index: int) -> Frame:
    return Frame(index, index / 30.0, index / 30.0, np.zeros((4, 4, 3), np.uint8))


def test_inline_perception_looks_at_every_kth_frame_and_says_nothing_between():
    perceiver = CountingPerceiver()
    perception = InlinePerception(perceiver)  # type: ignore[arg-type]
    apply_decision(LoadDecision(perceive_every=3), None, perception)
    polled = []
    for i in range(9):
        perception.submit(frame(i))
        polled.append(perception.poll())
    assert perceiver.seen == [2, 5, 8] and polled == [None, None, 2, None, None, 5, None, None, 8]
    assert perception.skipped == 6 and perception.dropped == 0


def test_threaded_perception_is_handed_every_kth_frame():
    perceiver = CountingPerceiver()
    perception = ThreadedPerception(lambda: perceiver)  # type: ignore[arg-type,return-value]
    perception.set_perceive_every(2)
    try:
        for i in range(6):
            perception.submit(frame(i))
            if i % 2:
                assert perception.wait() == i  # lockstep: the frame handed over is the one perceived
        assert perceiver.seen == [1, 3, 5] and perception.skipped == 3 and perception.dropped == 0
    finally:
        perception.close()


def test_a_frame_s_costs_come_from_the_stage_timer_counting_inline_work_once():
    clock = ManualClock()
    timer = StageTimer(clock, Telemetry())
    for stage, ms in (("capture", 30.0), ("tracking", 2.0), ("scene", 1.0), ("generate", 12.0), ("paint", 50.0),
                      ("display", 4.0)):
        clock.advance_wall(ms / 1000.0)
        timer.lap(stage)
    observation = Observation(0, 0.0, 0.0, perception_ms=28.0)  # inline: most of the capture stage's 30 ms
    painter = Painter(PaintConfig(size=64, style="builtin:0"), StyleLibrary(CountingNetworks()), None, threaded=False)
    painter.painted_ms = 45.0  # the network's share of the paint stage's 50 ms; the rest is carrying it
    inline = InlinePerception(CountingPerceiver())  # type: ignore[arg-type]
    costs = frame_costs(timer, clock.wall(), observation, painter, inline)
    assert (costs.perception_ms, costs.paint_ms) == (28.0, 45.0) and costs.generate_ms == pytest.approx(12.0)
    assert costs.other_ms == pytest.approx(99.0 - 12.0 - 45.0 - 28.0)  # the inline stages counted once
    threaded = frame_costs(timer, clock.wall(), observation, painter, object())  # perception on its own thread
    assert threaded.other_ms == pytest.approx(99.0 - 12.0 - 45.0)


def test_the_runtime_s_one_call_measures_decides_and_applies():
    clock = ManualClock()
    load = LoadScheduler(FPS, cores=1)
    painter = Painter(PaintConfig(size=64, style="builtin:0"), StyleLibrary(CountingNetworks()), None, threaded=False)
    changes = []
    for i in range(300):  # an inline painting of 100 ms on every paint_every-th frame; 1 ms of carrying between
        timer = StageTimer(clock, Telemetry())
        painted = i % painter.paint_every == 0
        for stage, ms in (("scene", 1.0), ("generate", 2.0), ("paint", 100.0 if painted else 1.0)):
            clock.advance_wall(ms / 1000.0)
            timer.lap(stage)
        painter.painted_ms = 99.0 if painted else None
        decision = schedule_frame(load, timer, clock.wall(), None, painter, object())
        if decision is not None:
            changes.append(decision)
    assert [d.paint_every for d in changes] == [2, 3, 4] and painter.paint_every == 4  # 4 + 100 / 4 ms fits 33.3
