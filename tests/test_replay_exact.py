"""A live run whose own adaptive quality acts (the real ``AdaptiveQuality``, fed frame times from
an injected wall clock that says every frame is far over budget) replays bit for bit: the sizes
it chose are recorded with the session and taken again by the replay."""

from __future__ import annotations

import itertools

from installation.app import build_stages
from installation.clock import FixedStepClock
from installation.config import config_from_dict
from installation.display import HeadlessDisplay, NullSink
from installation.file_sources import VideoFileSource
from installation.quality import AdaptiveQuality
from installation.replay import ReplayOptions, read_lines, replay_session
from installation.run_stats import ReplayCheck
from installation.runtime import Runtime
from tests.helpers.shown import shown_frames

WALL_TICK_S = 0.02  # each reading of the loop's wall clock is this much later: every frame is ~100 ms of work


class SlowMachineClock(FixedStepClock):
    """Media time stepped by the test; a wall reading that advances a fixed step per reading, as
    on a machine far too slow for the target rate, so adaptive quality steps down by itself,
    deterministically."""

    def __init__(self) -> None:
        super().__init__()
        self._ticks = itertools.count()

    def wall(self) -> float:
        return 1000.0 + next(self._ticks) * WALL_TICK_S


def live_run_on_a_slow_machine(media, tmp_path, frames: int = 60):
    config = config_from_dict({"record": {"folder": str(tmp_path / "sessions"), "segment_s": 1.0},
                               "osc": {"listen": ""}, "paint": {"enabled": False},
                               "headless": {"width": 64, "height": 36}})
    source = VideoFileSource(media / "video" / "intel_asl" / "sorry.mkv", mirror=config.source.mirror)
    stages = build_stages(config, source, HeadlessDisplay((64, 36), "cover", NullSink()), lockstep=False)
    assert isinstance(stages.quality, AdaptiveQuality)
    clock = SlowMachineClock()
    runtime = Runtime(stages, clock, lockstep=False)
    stages.recorder.start()
    stages.scenes.generators.warm_up()
    for index in range(frames):
        clock.advance_to(index / 30.0)
        runtime.step()
    runtime.close()
    (session,) = list((tmp_path / "sessions").iterdir())
    return session, stages.quality


def test_a_session_where_adaptive_quality_acted_replays_bit_for_bit(media, tmp_path, monkeypatch):
    digests = shown_frames(monkeypatch)
    session, quality = live_run_on_a_slow_machine(media, tmp_path)
    live = list(digests)
    assert quality.changes >= 3  # it did act, by itself
    sizes = [record["live"]["resolution"] for record in read_lines(session / "observations.jsonl")]
    assert sizes[0] == 256 and len(set(sizes)) == quality.changes + 1 and sizes == sorted(sizes, reverse=True)

    digests.clear()
    stats = replay_session(ReplayOptions(session, progress=False))
    assert stats.replay == ReplayCheck(live_decisions=True, divergences=0)
    assert len(digests) == len(live) == 60
    assert digests == live  # every frame, bit for bit, at the sizes the live run chose
