"""Perception schedules: when, and on which thread, a ``Perceiver`` turns frames into observations.

Two schedules share one interface (``submit`` a frame, ``poll``/``wait`` for its observation):
``InlinePerception`` runs MediaPipe in the caller's thread; ``ThreadedPerception`` runs it on a
worker thread fed through newest-wins slots, so the render loop never waits for it, and watches
that worker (a hang, failures in a row) from the loop's thread. ``build_perception`` picks one
from the configuration. What a Perceiver does with a frame is ``installation.perceiver``.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from typing import Protocol

from installation.affinity import pinned
from installation.clock import Clock, MonotonicClock
from installation.config import PerceptionConfig
from installation.contracts import Frame, Observation
from installation.perceiver import Perceiver
from installation.slots import NewestSlot

log = logging.getLogger(__name__)

FRESH_WAIT_S = 0.05  # threaded, max_frame_age_ms: how long to wait for a newer frame (1.5 camera frames at 30 fps)


class FramePerceiver(Protocol):
    """What a schedule runs: ``installation.perceiver.Perceiver``, the audience stage's
    CrowdPerceiver, or either behind ``installation.perception_cache``."""

    errors: int
    consecutive_errors: int

    def process(self, frame: Frame) -> Observation: ...

    def counters(self) -> dict[str, int]: ...

    def close(self) -> None: ...


class PerceptionSchedule(Protocol):
    errors: int
    dropped: int
    restarts: int

    def submit(self, frame: Frame) -> None: ...

    def counters(self) -> dict[str, int]: ...

    def poll(self) -> Observation | None: ...

    def wait(self) -> Observation | None: ...

    def idle(self, timeout_s: float, sleep: Callable[[float], None]) -> None:
        """The loop's pacing wait: up to ``timeout_s``, or less if a new observation wakes it;
        ``sleep`` is the loop clock's, for a schedule nothing can wake."""
        ...

    def close(self) -> None: ...


class _EveryKth:
    """Lets through every ``every``-th submitted frame, counting the others (not dropped: skipped
    by choice, ``installation.load_scheduler``)."""

    def __init__(self) -> None:
        self.every, self.skipped, self._since = 1, 0, 0

    def take(self) -> bool:
        self._since += 1
        if self._since < self.every:
            self.skipped += 1
            return False
        self._since = 0
        return True


class InlinePerception:
    """Runs MediaPipe in the render loop's thread: ``submit`` does the work."""

    inline = True  # its time is the loop's (installation.load_scheduler.frame_costs)

    def __init__(self, perceiver: FramePerceiver) -> None:
        self.perceiver = perceiver
        self.dropped = 0
        self.restarts = 0  # a hang here blocks the loop itself: the kiosk supervisor restarts the process
        self._result: Observation | None = None
        self._every = _EveryKth()

    @property
    def errors(self) -> int:
        return self.perceiver.errors

    def counters(self) -> dict[str, int]:
        """The perceiver's counters (``Perceiver.counters``)."""
        return self.perceiver.counters()

    @property
    def skipped(self) -> int:
        return self._every.skipped

    def set_perceive_every(self, frames: int) -> None:
        """Perceive every ``frames``-th submitted frame only (``installation.load_scheduler``); the
        others are not looked at, and the smoother holds the visitor meanwhile."""
        self._every.every = max(1, int(frames))

    def submit(self, frame: Frame) -> None:
        if self._every.take():
            self._result = self.perceiver.process(frame)

    def poll(self) -> Observation | None:
        result, self._result = self._result, None
        return result

    def wait(self) -> Observation | None:
        return self.poll()

    def idle(self, timeout_s: float, sleep: Callable[[float], None]) -> None:
        """Sleep ``timeout_s`` on the loop's clock: nothing can arrive while its own thread sleeps."""
        sleep(timeout_s)

    def close(self) -> None:
        self.perceiver.close()


class ThreadedPerception:
    """Runs MediaPipe on its own thread. Frames and observations pass through newest-wins slots:
    if perception falls behind, the older waiting frame is dropped (and counted), never queued.

    A watchdog, run from the loop's thread in ``poll``/``wait``, replaces the worker with a fresh
    Perceiver when one frame has taken longer than ``hang_timeout_s`` (a hung graph: its thread is
    abandoned, since a thread can't be killed) or after ``restart_after_errors`` failures in a row.
    Meanwhile the loop keeps rendering from the last observation.
    """

    inline = False

    def __init__(self, make_perceiver: Callable[[], FramePerceiver], hang_timeout_s: float = 5.0,
                 restart_after_errors: int = 10, max_frame_age_s: float = 0.0,
                 cores: frozenset[int] | None = None, clock: Clock | None = None) -> None:
        """``max_frame_age_s`` > 0: a frame that has waited longer than this by the time the worker is
        free is swapped for the next one to arrive (within ``FRESH_WAIT_S``), so what is perceived
        is as new as possible; the old frame is used if none comes. ``cores``: the CPU cores the
        worker and MediaPipe's own threads run on (``installation.affinity``); None = any.
        ``clock``: its ``wall()`` measures a frame's age (against ``Frame.wall_s``) and how long
        the worker has been busy (the hang watch); None = a MonotonicClock."""
        self._make, self.hang_timeout_s, self.restart_after_errors = make_perceiver, hang_timeout_s, restart_after_errors
        self.max_frame_age_s, self.cores = max_frame_age_s, cores
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self.stale_swapped = 0  # frames given up for a newer one (counted in dropped too)
        self._every = _EveryKth()
        self.restarts = 0
        self._retired_errors = self._retired_dropped = 0
        self._retired_counters: collections.Counter[str] = collections.Counter()  # of the perceivers replaced
        with pinned(cores):  # MediaPipe's graph threads start in the constructor and inherit the cores
            self._start_worker(make_perceiver())

    def _start_worker(self, perceiver: FramePerceiver) -> None:
        self.perceiver = perceiver
        self._inbox: NewestSlot[Frame] = NewestSlot()
        self._outbox: NewestSlot[Observation] = NewestSlot()
        self._stop = threading.Event()
        self._busy_since: float | None = None
        self._pending = False  # a frame was submitted and its observation not yet put out
        self._thread = threading.Thread(target=self._work, args=(perceiver, self._inbox, self._outbox, self._stop),
                                        name="perception", daemon=True)
        self._thread.start()

    @property
    def errors(self) -> int:
        return self._retired_errors + self.perceiver.errors

    @property
    def dropped(self) -> int:
        return self._retired_dropped + self._inbox.overwritten + self.stale_swapped

    def counters(self) -> dict[str, int]:
        """The perceivers' counters (``Perceiver.counters``), those of replaced ones included. Read
        from the loop's thread while the worker counts on: each value is a whole int, never torn."""
        total = collections.Counter(self._retired_counters)
        total.update(self.perceiver.counters())
        return dict(total)

    def _work(self, perceiver: FramePerceiver, inbox: NewestSlot, outbox: NewestSlot, stop: threading.Event) -> None:
        while not stop.is_set():
            frame = inbox.take(timeout_s=0.1)
            if frame is None:
                continue
            frame = self._freshest(frame, inbox)
            self._busy_since = self._clock.wall()
            observation = perceiver.process(frame)
            if stop.is_set():
                return  # replaced while it worked: this worker is retired
            self._busy_since = None
            outbox.put(observation)
            if not inbox.holds_item:
                self._pending = False  # after the put: a waiter sees the result or pending work

    def _freshest(self, frame: Frame, inbox: NewestSlot) -> Frame:
        """``frame``, or the next one if ``frame`` waited too long while the worker was busy: a
        frame taken late would be old before its observation is even made."""
        if self.max_frame_age_s <= 0 or self._clock.wall() - frame.wall_s <= self.max_frame_age_s:
            return frame
        newer = inbox.take(timeout_s=FRESH_WAIT_S)
        if newer is None:
            return frame
        self.stale_swapped += 1
        return newer

    def _check(self) -> bool:
        """Restart a hung or failing worker; returns True if it did."""
        busy = self._busy_since
        if busy is not None and self._clock.wall() - busy > self.hang_timeout_s:
            return self._restart(f"no result for {self.hang_timeout_s:.0f} s (hung)")
        if self.perceiver.consecutive_errors >= self.restart_after_errors:
            return self._restart(f"{self.perceiver.consecutive_errors} failures in a row")
        return False

    def _restart(self, why: str) -> bool:
        with pinned(self.cores):
            try:
                fresh = self._make()
            except Exception:  # can't build one now: keep the old worker, try again at the next check
                log.exception("perception %s, and a new one could not be started", why)
                return False
            self.restarts += 1
            log.error("perception %s: restarted it (restart #%d)", why, self.restarts)
            self._stop.set()
            self._retired_errors += self.perceiver.errors
            self._retired_dropped += self._inbox.overwritten
            self._retired_counters.update(self.perceiver.counters())
            if not self._thread.is_alive():  # it died (a hung one is left: closing could block on its graph)
                self.perceiver.close()
            self._start_worker(fresh)
        return True

    @property
    def skipped(self) -> int:
        return self._every.skipped

    def set_perceive_every(self, frames: int) -> None:
        """Hand the worker at most every ``frames``-th submitted frame (``installation.load_scheduler``):
        MediaPipe's core is freed for the rest, and the smoother holds the visitor meanwhile."""
        self._every.every = max(1, int(frames))

    def submit(self, frame: Frame) -> None:
        self._check()  # a failing worker is replaced before it is given another frame
        if not self._every.take():
            return
        self._pending = True
        self._inbox.put(frame)

    def poll(self) -> Observation | None:
        self._check()
        return self._outbox.take(timeout_s=0.0)

    def wait(self) -> Observation | None:
        """Block until the observation of the last submitted frame is ready (lockstep replay);
        None if the worker had to be restarted meanwhile (that frame is lost)."""
        if self._check():
            return None
        while True:
            observation = self._outbox.take(timeout_s=0.2)
            if observation is not None:
                return observation
            if self._check() or not self._thread.is_alive():
                return None
            if not self._pending:
                return self._outbox.take(timeout_s=0.0)  # nothing pending: nothing more will come

    def idle(self, timeout_s: float, sleep: Callable[[float], None]) -> None:
        """Wait up to ``timeout_s``, returning as soon as a new observation is ready (the loop's
        pacing wait: new content is drawn at once rather than at the next tick). The worker runs
        in real time, so this waits real time whatever the loop's clock."""
        self._outbox.wait_for_item(timeout_s)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():
            self.perceiver.close()


def build_perception(config: PerceptionConfig, make: Callable[[], FramePerceiver] | None = None,
                     cores: frozenset[int] | None = None, clock: Clock | None = None) -> PerceptionSchedule:
    """The schedule named by ``config.schedule`` around perceivers from ``make`` (default: a
    Perceiver of ``config``); a threaded one runs on ``cores`` (None = any) and reads wall time
    from ``clock`` (None = a MonotonicClock)."""
    if make is None:
        make = lambda: Perceiver(config)  # noqa: E731
    if config.schedule == "threaded":
        return ThreadedPerception(make, config.hang_timeout_s, config.restart_after_errors,
                                  config.max_frame_age_ms / 1000.0, cores, clock=clock)
    return InlinePerception(make())
