"""Adaptive quality: hold the display's frame rate by changing how many pixels the generator draws.

The loop reports, each frame, how long the frame's own work took (everything but the display's
pacing wait) and how much of that was the generator. Behind the frame budget for a while: one
step down (about 15% fewer pixels a side), as long as the step buys back a tenth of the budget
(when the time goes elsewhere, fewer pixels would only cost sharpness). Comfortably inside it,
with the next size up predicted to fit: one step up. One step at a time, at most one a second,
with a wider margin for going up than down, so the size never jumps or oscillates; the display
scales the picture to the screen, so a step shows as a slight change of sharpness. Live runs
only: a replay draws at the configured size so it stays reproducible.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

STEP = 0.85  # each change scales the side by this (or its inverse)
BEHIND = 1.0  # smoothed work above this share of the budget = falling behind
ROOM_UP = 0.75  # the next size up must be predicted under this share of the budget
WORTH_IT = 0.1  # a step down must buy back at least this share of the budget (else the slowness is elsewhere)
SETTLE_S = 1.0  # wall seconds between changes, and of evidence before one
EMA = 0.2  # weight of the newest frame in the smoothed times
QUANTUM = 8  # sizes are multiples of this (friendly to convolutions and scaling)


class AdaptiveQuality:
    """Chooses the generator's resolution to keep each frame's work inside 1 / ``target_fps``."""

    def __init__(self, target_fps: float, resolution: int, min_resolution: int, max_resolution: int) -> None:
        self.budget_ms = 1000.0 / target_fps
        self.resolution = resolution
        self.min_resolution = min(min_resolution, resolution)
        self.max_resolution = max(max_resolution, resolution)
        self.changes = 0
        self._work_ms: float | None = None
        self._generate_ms = 0.0
        self._last_change_s: float | None = None
        self._pressure_since: float | None = None  # when the current run of "behind" (or "room") began
        self._pressure = 0  # -1 behind, +1 room to grow, 0 neither

    def update(self, work_ms: float, generate_ms: float, wall_now: float) -> int | None:
        """Feed one frame's work and generator times (ms) at wall time ``wall_now``; returns the new
        resolution when it should change, else None."""
        if self._work_ms is None:
            self._work_ms, self._generate_ms, self._last_change_s = work_ms, generate_ms, wall_now
            return None
        self._work_ms += EMA * (work_ms - self._work_ms)
        self._generate_ms += EMA * (generate_ms - self._generate_ms)
        pressure = self._current_pressure()
        if pressure != self._pressure:
            self._pressure, self._pressure_since = pressure, wall_now
        if pressure == 0:
            return None
        if wall_now - self._pressure_since < SETTLE_S or wall_now - self._last_change_s < SETTLE_S:
            return None
        wanted = self._next_size(pressure)
        if wanted == self.resolution:
            return None
        self._change_to(wanted, wall_now)
        return wanted

    def _current_pressure(self) -> int:
        if self._work_ms > BEHIND * self.budget_ms and self.resolution > self.min_resolution:
            saved = self._work_ms - self._predicted_ms(self._next_size(-1))
            return -1 if saved >= WORTH_IT * self.budget_ms else 0
        up = self._next_size(+1)
        if up > self.resolution and self._predicted_ms(up) < ROOM_UP * self.budget_ms:
            return +1
        return 0

    def _predicted_ms(self, resolution: int) -> float:
        """The frame's work at ``resolution``: the generator's share scales with the pixel count."""
        scale = (resolution / self.resolution) ** 2
        return self._work_ms - self._generate_ms + self._generate_ms * scale

    def _next_size(self, direction: int) -> int:
        side = self.resolution * (STEP if direction < 0 else 1.0 / STEP)
        side = int(round(side / QUANTUM)) * QUANTUM
        return max(self.min_resolution, min(self.max_resolution, side))

    def _change_to(self, resolution: int, wall_now: float) -> None:
        log.info("adaptive quality: %d -> %d px (frame work %.1f ms of %.1f ms)", self.resolution, resolution,
                 self._work_ms, self.budget_ms)
        scaled = self._generate_ms * (resolution / self.resolution) ** 2  # expect the new size's cost at once
        self._work_ms += scaled - self._generate_ms
        self._generate_ms = scaled
        self.resolution, self._last_change_s, self.changes = resolution, wall_now, self.changes + 1
        self._pressure, self._pressure_since = 0, None
