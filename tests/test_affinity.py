"""CPU cores: the render loop and MediaPipe each on their own, restored afterwards."""

from __future__ import annotations

import os

import pytest

from installation.affinity import core_plan, pinned
from installation.config import PerceptionConfig
from installation.perceiver import Perceiver
from installation.perception import ThreadedPerception

needs_two_cores = pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                                     reason="needs Linux and two or more cores")


@needs_two_cores
def test_the_plan_splits_the_cores_and_pinning_is_undone():
    plan = core_plan(True)
    cores = os.sched_getaffinity(0)
    assert plan.loop and plan.perception and not plan.loop & plan.perception
    assert plan.loop | plan.perception == cores
    with pinned(plan.loop):
        assert os.sched_getaffinity(0) == plan.loop
    assert os.sched_getaffinity(0) == cores
    assert core_plan(False) is None


@needs_two_cores
def test_the_perception_worker_and_mediapipes_threads_run_on_the_perception_cores():
    plan = core_plan(True)
    before = set(os.listdir("/proc/self/task"))
    schedule = ThreadedPerception(lambda: Perceiver(PerceptionConfig(hands=False)), cores=plan.perception)
    try:
        started = set(os.listdir("/proc/self/task")) - before  # the worker and MediaPipe's graph threads
        assert started
        assert all(os.sched_getaffinity(int(tid)) == plan.perception for tid in started)
        assert os.sched_getaffinity(0) == plan.loop | plan.perception, "the caller is left as it was"
    finally:
        schedule.close()
