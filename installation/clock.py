"""Clocks: the one place the loop's time comes from.

Every clock gives two readings:
- ``now()``: the show's time, which scenes, smoothing, gestures and schedules see. Live runs count
  it from the clock's creation; replay takes it from the media's own timestamps
  (``FixedStepClock``), so a replay is the same every time.
- ``wall()``: monotonic seconds for measurements only (stage times, latency, frame age, pacing,
  hang watches). Nothing a picture depends on reads it.

Stages are handed a clock (or the times it gives) rather than reading ``time`` themselves, so a
test drives both readings with ``ManualClock`` and never waits on, or asserts on, real seconds.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def wall(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """Seconds since the clock was made, from the monotonic performance counter."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self._start

    def wall(self) -> float:
        return time.perf_counter()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class FixedStepClock:
    """Media time for replay: advanced by the loop to each frame's timestamp, never by itself.
    Its wall reading is real (replays still measure how long their stages took)."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return time.perf_counter()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def advance_to(self, timestamp_s: float) -> None:
        """Move forward to ``timestamp_s``; time never runs backwards (a looped clip keeps counting)."""
        self._now = max(self._now, timestamp_s)


class ManualClock(FixedStepClock):
    """Both readings driven by hand, for tests: ``advance(s)`` moves show time and wall time
    together; ``advance_to`` (the replay loop's call) moves show time only."""

    def __init__(self, start_s: float = 0.0, wall_start_s: float = 1000.0) -> None:
        super().__init__(start_s)
        self._wall = wall_start_s

    def wall(self) -> float:
        return self._wall

    def sleep(self, seconds: float) -> None:
        """Waiting passes no real time: the clock moves on instead."""
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._wall += seconds

    def advance_wall(self, seconds: float) -> None:
        self._wall += seconds


def wall_s() -> float:
    """Monotonic wall time in seconds, for code outside the loop's reach (worker threads'
    own timings); inside the loop, ask the clock it was given."""
    return time.perf_counter()
