"""Telemetry: per-stage times, end-to-end latency, frame rate, counters, and digests for the run's stats.

Every sample window is bounded (the newest ``WINDOW`` samples), so weeks of uptime never grow
memory. The stats also carry digests of what the run produced (landmarks, latents, output frames),
which do not depend on wall time: two replays of the same clip must give the same digests.
"""

from __future__ import annotations

import collections
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from installation.clock import Clock
from installation.contracts import Observation
from installation.run_stats import Digests, Percentiles

WINDOW = 20_000
RECENT_S = 10.0  # the window of the frame rate shown live (status line, overlay, /status)
STAGES = ("capture", "perception", "tracking", "scene", "generate", "paint", "display")


@dataclass
class Telemetry:
    rendered_frames: int = 0
    frames: int = 0  # source frames that went through perception
    frames_with_pose: int = 0
    frames_with_hands: int = 0
    errors: collections.Counter = field(default_factory=collections.Counter)
    _stage_ms: dict[str, collections.deque] = field(default_factory=dict)
    _latency_ms: collections.deque = field(default_factory=lambda: collections.deque(maxlen=WINDOW))
    _first_wall: float | None = None
    _last_wall: float | None = None
    _recent_walls: collections.deque = field(default_factory=lambda: collections.deque(maxlen=WINDOW))
    _landmarks: Any = field(default_factory=hashlib.sha256)
    _latents: Any = field(default_factory=hashlib.sha256)
    _outputs: Any = field(default_factory=hashlib.sha256)

    def stage(self, name: str, milliseconds: float) -> None:
        self._stage_ms.setdefault(name, collections.deque(maxlen=WINDOW)).append(milliseconds)

    def observed(self, observation: Observation) -> None:
        self.frames += 1
        self.frames_with_pose += observation.has_pose
        self.frames_with_hands += bool(observation.hands)
        self._landmarks.update(np.int64(observation.frame_index).tobytes())
        self._landmarks.update(np.ascontiguousarray(observation.pose).tobytes())
        for hand in observation.hands:
            self._landmarks.update(hand.side.value.encode() + np.ascontiguousarray(hand.landmarks).tobytes())

    def rendered(self, wall_now: float, latent: np.ndarray, image: np.ndarray, latency_ms: float | None) -> None:
        self.rendered_frames += 1
        if self._first_wall is None:
            self._first_wall = wall_now
        self._last_wall = wall_now
        self._recent_walls.append(wall_now)
        while wall_now - self._recent_walls[0] > RECENT_S:
            self._recent_walls.popleft()
        if latency_ms is not None:
            self._latency_ms.append(latency_ms)
        self._latents.update(np.ascontiguousarray(latent, np.float32).tobytes())
        self._outputs.update(np.ascontiguousarray(image).tobytes())

    def recent_ms(self, name: str) -> float:
        """The latest sample of a stage (or 'latency'), 0 if none yet; for the overlay."""
        samples = self._latency_ms if name == "latency" else self._stage_ms.get(name)
        return float(samples[-1]) if samples else 0.0

    @property
    def render_fps(self) -> float:
        if self._first_wall is None or self._last_wall is None or self.rendered_frames < 2:
            return 0.0
        span = self._last_wall - self._first_wall
        return (self.rendered_frames - 1) / span if span > 0 else 0.0

    @property
    def recent_fps(self) -> float:
        """Frames a second over the last ``RECENT_S`` seconds: unlike the run's average
        (``render_fps``), a slowdown after hours of smooth running shows at once."""
        walls = self._recent_walls
        if len(walls) < 2 or walls[-1] <= walls[0]:
            return 0.0
        return float((len(walls) - 1) / (walls[-1] - walls[0]))

    def latency(self) -> Percentiles:
        """End-to-end latency over the window (``RunStats.latency_ms``)."""
        return Percentiles.of(self._latency_ms)

    def stage_times(self) -> dict[str, Percentiles]:
        """Every stage's time over the window, in the frame's order, zeros for one never timed."""
        return {name: Percentiles.of(self._stage_ms.get(name, ())) for name in STAGES}

    def digests(self) -> Digests:
        return Digests(self._landmarks.hexdigest(), self._latents.hexdigest(), self._outputs.hexdigest())


class StageTimer:
    """Wall-clock milliseconds of each stage of one frame, into the telemetry."""

    def __init__(self, clock: Clock, telemetry: Telemetry) -> None:
        self.clock, self.telemetry = clock, telemetry
        self.started = self.mark = clock.wall()
        self.marks: dict[str, float] = {}  # stage -> wall time it ended

    def lap(self, stage: str) -> float:
        now = self.clock.wall()
        self.telemetry.stage(stage, (now - self.mark) * 1000.0)
        self.marks[stage] = self.mark = now
        return now

    def skip(self) -> None:
        """Start the next stage's time from here (what came between is not a stage's)."""
        self.mark = self.clock.wall()
