"""Load scheduling: on few cores, skip the expendable work so the frame rate and the latency hold.

Three heavy stages share the machine: perception (MediaPipe), generation (torch) and painting
(onnxruntime style networks). Short of cores, all three slow down together, the display with
them. Instead, each gets a share of the frame's CPU time (``cores`` × 1 / ``target_fps``), its
budget, measured against its smoothed cost, and when the frame's work no longer fits the cores,
the stage over its budget that matters least gives way first:

1. **painting**: a new painting only every ``paint_every`` displayed frames; between them the last
   one is carried along the flow (``painting.FlowCarry``), so the texture still follows the body;
2. **perception**: every ``perceive_every``-th camera frame only; between them the smoother holds
   the visitor (``BodySmoother.tick``: held, not extrapolated, for ``smoothing.hold_s``).

Where perception runs pinned to cores of its own (``installation.affinity``), it is not skipped:
that would free its cores only, never the loop's, and where MediaPipe cannot keep up with the
camera there, its newest-wins slot already takes only the frames it can perceive (skipping more
would only lose fresh ones). Painting and the generator are weighed against the loop's cores.

The generator is never skipped here: its frames are what the display shows. It keeps its budget
by drawing fewer pixels (``installation.quality``) and by reusing its last frame when the latent
barely moved (``generator.reuse_below``).

Costs are per run (one painting, one perception pass) and arrive with the frame at which a run
finished; the scheduler learns how often runs finish, so a stage's cost per displayed frame is
its run cost ÷ frames between runs, whatever limits its rate (this schedule, the painter
thread's ``paint.target_fps``, MediaPipe's own speed). A painting's cost is its thread's CPU time
(the painter thread yields to the loop, so its wall time overstates it); the others' wall time
stands for CPU time: each runs one thread unless the thread plan below found cores to spare.

Like ``AdaptiveQuality``: a pure policy stage (costs and wall time are passed in), one step at a
time, at most one per ``SETTLE_S`` and only after ``SETTLE_S`` of the same evidence, and a wider
margin to step back than to step in. Where a step back is predicted to fit but does not (running
a stage more often can cost more per run: caches, contention), it is undone and the next try
waits ``UNDONE_WAIT_S``, then twice as long each time it fails again (up to ``MAX_WAIT_S``): a
probe now and then, never a flip-flop. Live runs only: a replay keeps its configured schedule.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from installation.affinity import perception_core_count
from installation.errors import ConfigError

if TYPE_CHECKING:  # installation.config imports LoadConfig from here: names for annotations only
    from installation.config import Config
    from installation.contracts import Observation
    from installation.painting import Painter
    from installation.telemetry import StageTimer

log = logging.getLogger(__name__)

BEHIND = 1.0  # smoothed work above this share of the cores' frame time = short of cores
ROOM = 0.75  # a step back must be predicted to leave the work under this share
SETTLE_S = 1.0  # wall seconds between changes, and of the same evidence before one
UNDO_WINDOW_S = 10.0  # a step in this soon after a step back of the same stage undoes it
UNDONE_WAIT_S = 30.0  # evidence of room needed before trying a step back again, after one was undone
MAX_WAIT_S = 600.0  # ... doubling each time it is undone again, up to this
EMA = 0.2  # weight of the newest sample in the smoothed costs


def _range(low: float | None = None, high: float | None = None) -> dict[str, Any]:
    return {"range": (low, high)}


def _choices(*options: str) -> dict[str, Any]:
    return {"choices": options}


@dataclass(frozen=True)
class LoadConfig:
    """``[load]`` in config.toml, declared like ``installation.config``'s sections (its loader checks it)."""

    enabled: bool = True  # live: paint every k-th frame, then perceive every k-th camera frame, when short of cores
    threads: str = field(default="auto", metadata=_choices("auto", "config"))  # auto: torch and onnxruntime threads
    # from the cores free at start-up; config: generator.torch_threads and paint.threads as written
    paint_share: float = field(default=0.2, metadata=_range(0.0, 0.9))  # of the frame's CPU time, before painting gives way
    perception_share: float = field(default=0.3, metadata=_range(0.0, 0.9))  # ... before perception gives way (after painting)
    max_paint_every: int = field(default=60, metadata=_range(1, 600))  # displayed frames between new paintings, at most
    max_perceive_every: int = field(default=3, metadata=_range(1, 30))  # camera frames between perceived ones, at most

    def __post_init__(self) -> None:
        if self.paint_share + self.perception_share > 0.9:
            raise ConfigError(f"load.paint_share + load.perception_share = {self.paint_share + self.perception_share:g}: "
                              "expected at most 0.9 (the generator needs the rest)")


@dataclass(frozen=True)
class StageCosts:
    """One displayed frame's measured costs, milliseconds."""

    perception_ms: float | None  # one perception pass that delivered at this frame (None: none did)
    generate_ms: float  # this frame's generator work
    paint_ms: float | None  # one painting that arrived at this frame, CPU time (None: none did)
    other_ms: float = 0.0  # the rest of the loop's work: capture, tracking, scene, carrying, display


@dataclass(frozen=True)
class LoadDecision:
    """How often the expendable stages run; the runtime hands it to ``apply_decision``."""

    paint_every: int = 1  # a new painting every this many displayed frames, carried along the flow between
    perceive_every: int = 1  # perceive every this many camera frames, the smoother holding between
    reason: str = ""  # one line for the log: what changed and why


class _Skippable:
    """One expendable stage's schedule and smoothed measurements."""

    def __init__(self, name: str, share: float, every: int, max_every: int, counts_displayed_frames: bool) -> None:
        self.name, self.share, self.every, self.max_every = name, share, every, max(1, max_every)
        self.counts_displayed_frames = counts_displayed_frames  # else its own frames (perception: camera frames)
        self.run_ms: float | None = None  # smoothed cost of one run
        self.interval = 1.0  # smoothed displayed frames between runs
        self.since = 0  # displayed frames since the last run
        self.wait_s = SETTLE_S  # evidence of room needed before stepping back (longer once one was undone)
        self.last_down_s: float | None = None

    def measure(self, run_ms: float | None) -> None:
        self.since += 1
        if run_ms is None:
            return
        if self.run_ms is None:
            self.run_ms, self.interval = run_ms, float(self.since)
        else:
            self.run_ms += EMA * (run_ms - self.run_ms)
            self.interval += EMA * (self.since - self.interval)
        self.since = 0

    @property
    def per_frame_ms(self) -> float:
        """Cost per displayed frame; it decays while runs stop coming (painting switched off)."""
        return 0.0 if self.run_ms is None else self.run_ms / max(1.0, self.interval, float(self.since))

    def step_in(self) -> int:
        """The next ``every`` up, from the rate the stage actually runs at when that is what it
        counts in (a painter held to ``paint.target_fps`` already skips frames by itself)."""
        base = max(self.every, round(self.interval)) if self.counts_displayed_frames else self.every
        return min(self.max_every, base + 1)

    def change(self, every: int) -> None:
        """Expect the new schedule's cost at once, as ``AdaptiveQuality`` expects a new size's.
        Counted in displayed frames, runs come every max(``every``, their own rate) frames; in
        camera frames (a fixed number of displayed frames each), in proportion to ``every``."""
        if not self.counts_displayed_frames:
            self.interval = max(1.0, self.interval * every / self.every)
        elif self.interval <= self.every + 0.5 or every > self.interval:  # the schedule sets the rate
            self.interval = float(every)
        self.every = every


class LoadScheduler:
    """Chooses ``paint_every`` and ``perceive_every`` to keep the frame's work on ``cores`` cores
    inside 1 / ``target_fps``. Shares are of the cores' frame time; the generator has the rest."""

    def __init__(self, target_fps: float, cores: int = 1, paint_share: float = 0.2, perception_share: float = 0.3,
                 max_paint_every: int = 60, max_perceive_every: int = 3, paint_every: int = 1,
                 perceive_every: int = 1, perception_cores: int | None = None) -> None:
        self.frame_ms = 1000.0 / target_fps
        self.cores = max(1, cores)
        # Perception pinned to cores of its own (installation.affinity): never skipped (see above);
        # painting is weighed against the loop's cores only.
        self.perception_cores = perception_cores
        self.paint = _Skippable("paint", paint_share, paint_every, max_paint_every, counts_displayed_frames=True)
        self.perception = _Skippable("perception", perception_share, perceive_every, max_perceive_every,
                                     counts_displayed_frames=False)
        self.changes = 0
        self._loop_ms: float | None = None  # generator and the rest of the loop, smoothed
        self._last_change_s = 0.0  # wall seconds (set at the first frame)
        self._pressure: tuple[int, str] = (0, "")  # (-1 step back | +1 step in | 0, stage) now wanted
        self._pressure_since = 0.0  # wall seconds since when

    @classmethod
    def from_config(cls, config: LoadConfig, target_fps: float, cores: int,
                    perception_cores: int | None = None) -> LoadScheduler:
        return cls(target_fps, cores, config.paint_share, config.perception_share, config.max_paint_every,
                   config.max_perceive_every, perception_cores=perception_cores)

    @property
    def capacity_ms(self) -> float:
        """CPU milliseconds per frame the cores give: the whole frame's budget."""
        return self.cores * self.frame_ms

    @property
    def budgets_ms(self) -> dict[str, float]:
        """Each stage's budget per displayed frame (the generator's is ``AdaptiveQuality``'s to keep)."""
        paint, perception = (s.share * self.capacity_ms for s in (self.paint, self.perception))
        if self.perception_cores is not None:  # its own cores, all of them; the generator the rest of the loop's
            return {"perception": self.perception_cores * self.frame_ms, "generate": self._loop_capacity_ms - paint,
                    "paint": paint}
        return {"perception": perception, "generate": self.capacity_ms - paint - perception, "paint": paint}

    @property
    def _loop_capacity_ms(self) -> float:
        """With perception on cores of its own: CPU milliseconds per frame the loop's cores give."""
        return max(1, self.cores - (self.perception_cores or 0)) * self.frame_ms

    @property
    def work_ms(self) -> float:
        """The smoothed CPU work of one displayed frame, every stage's share counted."""
        return (self._loop_ms or 0.0) + self.paint.per_frame_ms + self.perception.per_frame_ms

    @property
    def decision(self) -> LoadDecision:
        return LoadDecision(self.paint.every, self.perception.every)

    def update(self, costs: StageCosts, wall_now: float) -> LoadDecision | None:
        """Feed one displayed frame's costs at wall time ``wall_now`` (seconds); returns the new
        decision when the schedule should change, else None."""
        loop_ms = costs.generate_ms + costs.other_ms
        self.paint.measure(costs.paint_ms)
        self.perception.measure(costs.perception_ms)
        if self._loop_ms is None:
            self._loop_ms, self._last_change_s = loop_ms, wall_now
            return None
        self._loop_ms += EMA * (loop_ms - self._loop_ms)
        pressure = self._current_pressure()
        if pressure != self._pressure:
            self._pressure, self._pressure_since = pressure, wall_now
        direction, name = pressure
        if direction == 0:
            return None
        stage = self.paint if name == "paint" else self.perception
        if direction < 0 and stage.last_down_s is not None and wall_now - stage.last_down_s >= UNDO_WINDOW_S:
            stage.wait_s = SETTLE_S  # the last step back held: the next may follow at the usual pace
        wait_s = SETTLE_S if direction > 0 else stage.wait_s
        if wall_now - self._pressure_since < wait_s or wall_now - self._last_change_s < SETTLE_S:
            return None
        return self._step(stage, direction, wall_now)

    def _current_pressure(self) -> tuple[int, str]:
        """Short of cores: the first stage, painting before perception, over its budget that can
        still skip more. Room to spare: the first, perception before painting, whose step back is
        predicted to fit with margin. Perception on cores of its own is left alone, and painting
        weighed on the loop's cores."""
        whole = self.capacity_ms  # budgets are shares of the whole frame's CPU time, as configured
        if self.perception_cores is None:
            return _pressure(whole, self.work_ms, [(self.paint, self.paint.share * whole),
                                                   (self.perception, self.perception.share * whole)])
        loop_work = (self._loop_ms or 0.0) + self.paint.per_frame_ms
        return _pressure(self._loop_capacity_ms, loop_work, [(self.paint, self.paint.share * whole)])

    def _step(self, stage: _Skippable, direction: int, wall_now: float) -> LoadDecision:
        before, stage_ms = stage.every, stage.per_frame_ms
        work, capacity = self.work_ms, self.capacity_ms
        if self.perception_cores is not None:  # painting, weighed on the loop's cores
            work, capacity = (self._loop_ms or 0.0) + self.paint.per_frame_ms, self._loop_capacity_ms
        if direction > 0:
            if stage.last_down_s is not None and wall_now - stage.last_down_s < UNDO_WINDOW_S:
                stage.wait_s = min(MAX_WAIT_S, max(UNDONE_WAIT_S, 2.0 * stage.wait_s))  # the step back failed
            stage.last_down_s = None
            stage.change(stage.step_in())
        else:
            stage.change(stage.every - 1)
            stage.last_down_s = wall_now
        self.changes += 1
        self._last_change_s = wall_now
        self._pressure, self._pressure_since = (0, ""), wall_now
        unit = "displayed" if stage.counts_displayed_frames else "camera"
        reason = (f"{stage.name} every {before} -> {stage.every} {unit} frame(s): frame work {work:.1f} ms "
                  f"of {capacity:.1f} ms on {capacity / self.frame_ms:g} core(s), {stage.name} "
                  f"{stage_ms:.1f} ms a frame (budget {stage.share * self.capacity_ms:.1f} ms)")
        log.info("load: %s", reason)
        return dataclasses.replace(self.decision, reason=reason)


def _pressure(capacity: float, work: float, stages: list[tuple[_Skippable, float]]) -> tuple[int, str]:
    """One pool of cores: +1 for the first of ``stages`` (in skipping order, each with its budget)
    over its budget while the pool's ``work`` is over ``capacity``; -1 for the first, in reverse,
    whose step back is predicted to leave room; else 0."""
    if work > BEHIND * capacity:
        for stage, budget_ms in stages:
            if stage.per_frame_ms > budget_ms and stage.every < stage.max_every:
                return +1, stage.name
        return 0, ""  # the time goes to the generator: AdaptiveQuality's to fix
    for stage, _ in reversed(stages):
        if stage.every > 1:
            back = stage.per_frame_ms * stage.every / (stage.every - 1)
            if work - stage.per_frame_ms + back < ROOM * capacity:
                return -1, stage.name
    return 0, ""


def frame_costs(timer: StageTimer, finished_s: float, observation: Observation | None, painter: Painter | None,
                perception: object) -> StageCosts:
    """One frame's costs from the runtime's ``StageTimer`` (its marks are wall seconds at each
    stage's end), the observation that arrived (its ``perception_ms``) and the painting that did
    (``Painter.painted_ms``). Work done inline, on the loop's thread, is counted once: as its
    stage's, not again in ``other_ms``."""
    work_ms = (finished_s - timer.started) * 1000.0
    generate_ms = (timer.marks["generate"] - timer.marks["scene"]) * 1000.0
    perception_ms = observation.perception_ms if observation is not None else None
    paint_ms = painter.painted_ms if painter is not None else None
    inline = (perception_ms if getattr(perception, "inline", False) else None,
              paint_ms if painter is not None and not painter.threaded else None)
    other_ms = work_ms - generate_ms - sum(ms for ms in inline if ms is not None)
    return StageCosts(perception_ms, generate_ms, paint_ms, max(0.0, other_ms))


def schedule_frame(load: LoadScheduler, timer: StageTimer, finished_s: float, observation: Observation | None,
                   painter: Painter | None, perception: object) -> LoadDecision | None:
    """The runtime's one call a frame (live runs): measure the frame, decide, and apply a change."""
    decision = load.update(frame_costs(timer, finished_s, observation, painter, perception), finished_s)
    if decision is not None:
        apply_decision(decision, painter, perception)
    return decision


def apply_decision(decision: LoadDecision, painter: Painter | None, perception: object) -> None:
    """Hand a decision to the painter (``Painter.set_paint_every``) and to the perception schedule
    (``set_perceive_every``: inline and threaded have it; a recorded session's replay has not)."""
    if painter is not None:
        painter.set_paint_every(decision.paint_every)
    set_every = getattr(perception, "set_perceive_every", None)
    if set_every is not None:
        set_every(decision.perceive_every)


@dataclass(frozen=True)
class ThreadPlan:
    """Thread counts of the three heavy libraries, chosen together so they don't oversubscribe."""

    torch: int  # torch.set_num_threads (generator.torch_threads): the generator, on the display's path
    onnxruntime: int  # intra-op threads of the style networks' sessions (paint.threads)
    mediapipe: int  # cores left to perception. MediaPipe's legacy solutions (mp.solutions) have no
    # thread setting: its graph's threads run on the cores it is pinned to (installation.affinity)


def free_cores(allowed: int | None = None, load: float | None = None, total: int | None = None) -> int:
    """Cores this process may use (``os.sched_getaffinity``) less those other processes keep busy:
    the one-minute load average's share of them (``os.getloadavg``, spread over all ``total``
    cores). At least 1. Read at start-up, before this process's own threads add to the load; the
    load average lags by a minute, so it sees a training run or a benchmark, not a brief spike."""
    if allowed is None:
        allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    total = total or os.cpu_count() or allowed
    busy = load * allowed / max(total, allowed)
    return max(1, min(allowed, int(allowed - busy + 0.5)))


def thread_plan(cores_free: int) -> ThreadPlan:
    """Perception keeps its cores (``affinity.perception_core_count``: half); the generator and the
    painter thread share the loop's, the generator (every frame) two thirds, painting (carried
    along the flow between paintings) a third, one thread each at least. So on two free cores one
    thread each, as measured best here: two torch threads on two cores beside MediaPipe made the
    generator's p95 frame 5.7× slower (benchmarks/README.md, "Thread counts"). Not measured above
    two cores."""
    mediapipe = perception_core_count(cores_free) if cores_free > 1 else 1
    loop = max(1, cores_free - mediapipe)
    onnx = max(1, loop // 3)
    return ThreadPlan(torch=max(1, loop - onnx), onnxruntime=onnx, mediapipe=mediapipe)


def with_threads(config: Config, plan: ThreadPlan) -> Config:
    """``config`` with the plan's thread counts where the libraries take them: torch through
    ``generator.torch_threads`` (ModelRunner calls torch.set_num_threads), onnxruntime through
    ``paint.threads`` (the session options built in models.style_networks)."""
    log.info("threads from the cores free: torch %d, onnxruntime %d, MediaPipe on %d core(s)", plan.torch,
             plan.onnxruntime, plan.mediapipe)
    return dataclasses.replace(config, generator=dataclasses.replace(config.generator, torch_threads=plan.torch),
                               paint=dataclasses.replace(config.paint, threads=plan.onnxruntime))
