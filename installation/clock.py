"""Clocks. Stages never read the wall clock themselves: the loop hands them the time.

Live runs use ``MonotonicClock``; replay uses ``FixedStepClock`` driven by the media's own
timestamps, so a replay is the same every time.
"""

from __future__ import annotations

import time


class MonotonicClock:
    """Seconds since the clock was made, from the monotonic performance counter."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self._start


class FixedStepClock:
    """Media time for replay: advanced by the loop to each frame's timestamp, never by itself."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s

    def now(self) -> float:
        return self._now

    def advance_to(self, timestamp_s: float) -> None:
        """Move forward to ``timestamp_s``; time never runs backwards (a looped clip keeps counting)."""
        self._now = max(self._now, timestamp_s)


def wall_s() -> float:
    """Monotonic wall time in seconds, for telemetry only (latency, stage times)."""
    return time.perf_counter()
