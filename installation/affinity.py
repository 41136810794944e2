"""CPU cores for the two heavy threads: the render loop (the generator) and perception (MediaPipe).

Measured on this project's 2-core machine (benchmarks/README.md, contention, five paired runs):
with both threads free to run anywhere, the generator's p95 frame time beside MediaPipe was
1.2–1.8 × its time alone; with the loop on one core and MediaPipe (and the threads its graphs
start) on the other, 1.0–1.2 ×, and MediaPipe got through as many frames. The scheduler otherwise moves them about and
they collide. Linux only (``os.sched_setaffinity``); elsewhere, or with one core, nothing is pinned.

Threads inherit the cores of the thread that starts them, so MediaPipe is pinned by building it
(and starting the perception worker) inside ``pinned(plan.perception)``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CorePlan:
    loop: frozenset[int]  # the render loop's thread: generator, tracking, display
    perception: frozenset[int]  # the perception worker and MediaPipe's own threads


def perception_core_count(cores: int) -> int:
    """How many of ``cores`` go to perception: the last half, at least one (the loop keeps the
    rest). The thread plan (``installation.load_scheduler``) sizes the loop's threads to the rest."""
    return max(1, cores // 2)


def core_plan(enabled: bool = True) -> CorePlan | None:
    """Split the cores this process may use: the last half (at least one) for perception, the rest
    for the loop. None when pinning is off, unsupported, or there is only one core."""
    if not enabled or not hasattr(os, "sched_getaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None
    split = len(cores) - perception_core_count(len(cores))
    return CorePlan(loop=frozenset(cores[:split]), perception=frozenset(cores[split:]))


@contextlib.contextmanager
def pinned(cores: frozenset[int] | None) -> Iterator[None]:
    """Run the calling thread (and every thread it starts meanwhile) on ``cores``; restores the
    thread's previous cores afterwards. ``None`` leaves everything as it is."""
    if not cores or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, cores)
    except OSError as error:  # a container may forbid it: run unpinned
        log.info("cannot pin to cores %s: %s", sorted(cores), error)
        yield
        return
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
