"""The perception cache: a replay's observations read back, exactly, when the same frames come again."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from installation.app import RunOptions, configure, run
from installation.config import PerceptionConfig
from installation.contracts import Frame, Observation
from installation.errors import ConfigError
from installation.perception_cache import CachedPerceiver, PerceptionStore, perception_salt

ROOT = Path(__file__).resolve().parents[1]


class Tracker:
    """A stand-in perceiver with MediaPipe's trait that matters here: each observation depends on
    every frame before it (its pose x is the running sum of the frames' first pixels)."""

    def __init__(self, made: list[Tracker]) -> None:
        self.seen: list[int] = []
        self.errors = self.consecutive_errors = self._sum = 0
        made.append(self)

    def process(self, frame: Frame) -> Observation:
        self.seen.append(frame.index)
        self._sum += int(frame.image_bgr[0, 0, 0])
        return Observation(frame.index, frame.timestamp_s, frame.wall_s, np.full((33, 4), self._sum, np.float32))

    def counters(self) -> dict[str, int]:
        return {"frames_seen": len(self.seen)}

    def close(self) -> None:
        pass


def frames(values: list[int]) -> list[Frame]:
    return [Frame(i, i / 30, 100.0 + i, np.full((4, 4, 3), v, np.uint8)) for i, v in enumerate(values)]


def perceive(folder: Path, values: list[int], made: list[Tracker], hold_frames: int = 300) -> tuple[list[float], CachedPerceiver]:
    perceiver = CachedPerceiver(lambda: Tracker(made), PerceptionStore(folder), "salt", hold_frames)
    xs = [float(perceiver.process(frame).pose[0, 0]) for frame in frames(values)]
    perceiver.close()
    return xs, perceiver


def test_the_same_frames_again_are_read_back_without_running_the_perceiver(tmp_path):
    made: list[Tracker] = []
    first, _ = perceive(tmp_path, [1, 2, 3, 4], made)
    again, cached = perceive(tmp_path, [1, 2, 3, 4], made)
    assert first == again == [1, 3, 6, 10]
    assert len(made) == 1 and cached.hits == 4 and cached.misses == 0
    assert cached.counters()["frames_seen"] == 4  # the counters as they were after the last frame


def test_a_longer_replay_catches_up_on_the_frames_it_was_spared_and_matches_an_uncached_run(tmp_path):
    made: list[Tracker] = []
    perceive(tmp_path, [1, 2, 3], made)
    longer, cached = perceive(tmp_path, [1, 2, 3, 4, 5], made)
    assert longer == [1, 3, 6, 10, 15]  # what a tracker that saw all five gives
    assert made[-1].seen == [0, 1, 2, 3, 4] and (cached.hits, cached.misses) == (3, 2)


def test_a_different_frame_is_a_different_chain_from_there_on(tmp_path):
    made: list[Tracker] = []
    perceive(tmp_path, [1, 2, 3, 4], made)
    changed, cached = perceive(tmp_path, [1, 9, 3, 4], made)
    assert changed == [1, 10, 13, 17] and (cached.hits, cached.misses) == (1, 3)


def test_past_the_held_frames_a_miss_restarts_tracking_counts_it_and_keeps_nothing_inexact(tmp_path, caplog):
    made: list[Tracker] = []
    perceive(tmp_path, [1, 2, 3], made)
    with caplog.at_level(logging.WARNING):
        longer, cached = perceive(tmp_path, [1, 2, 3, 4], made, hold_frames=2)
    assert longer == [1, 3, 6, 4]  # the fourth from a tracker that starts there
    assert cached.counters()["cache_restarts"] == 1 and "tracking afresh" in caplog.text
    again, _ = perceive(tmp_path, [1, 2, 3, 4], made)
    assert again == [1, 3, 6, 10]  # the restarted observation was not kept


def test_a_damaged_entry_is_perceived_again_and_counted(tmp_path):
    made: list[Tracker] = []
    perceive(tmp_path, [1, 2], made)
    store = PerceptionStore(tmp_path)
    store._db.execute("UPDATE observations SET entry = x'00ff'")
    store.close()
    again, cached = perceive(tmp_path, [1, 2], made)
    assert again == [1, 3] and cached.misses == 2 and cached.counters()["cache_unreadable"] == 1


def test_two_writers_at_once_keep_every_observation(tmp_path):
    # the suite's workers share one cache: two connections writing a row at a time never lock
    # each other out (each in its own thread here, as each worker is its own process)
    made: list[Tracker] = []
    runs = [[1, 2, 3] * 40, [4, 5, 6] * 40]
    results: list[CachedPerceiver] = []
    threads = [threading.Thread(target=lambda values=values: results.append(perceive(tmp_path, values, made)[1]))
               for values in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(cached.counters()["cache_unwritten"] == 0 for cached in results)
    for values in runs:
        _, again = perceive(tmp_path, values, made)
        assert again.hits == 120 and again.misses == 0


def test_a_cache_that_cannot_be_written_costs_no_observation(tmp_path, caplog):
    made: list[Tracker] = []
    store = PerceptionStore(tmp_path)
    store._db.execute("PRAGMA query_only = ON")  # every write fails, as on a full disk
    perceiver = CachedPerceiver(lambda: Tracker(made), store, "salt")
    with caplog.at_level(logging.WARNING):
        xs = [float(perceiver.process(frame).pose[0, 0]) for frame in frames([1, 2, 3])]
    assert xs == [1, 3, 6] and perceiver.counters()["cache_unwritten"] == 3
    assert caplog.text.count("could not write") == 1


def test_a_file_that_is_not_a_cache_is_refused_in_one_line(tmp_path):
    (tmp_path / "perception.sqlite").write_bytes(b"these are not the bytes of a SQLite database" * 100)
    with pytest.raises(ConfigError, match="perception cache .* cannot be used"):
        PerceptionStore(tmp_path)
    clip = ROOT.parent / "shared" / "media" / "video" / "intel_asl" / "walk.mkv"
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "--headless", "--source", str(clip),
                           "--perception-cache", str(tmp_path), "--frames", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.strip().startswith("error: perception cache")
    assert len(done.stderr.strip().splitlines()) == 1


def test_only_a_headless_replay_takes_the_cache_folder(tmp_path):
    folder = str(tmp_path / "cache")
    assert configure(RunOptions(headless=True, perception_cache=folder)).perception.cache == folder
    assert configure(RunOptions(perception_cache=folder)).perception.cache == ""  # live: a window
    assert configure(RunOptions(headless=True, realtime=True, perception_cache=folder)).perception.cache == ""
    assert configure(RunOptions(headless=True, perception_cache="")).perception.cache == ""
    assert not (tmp_path / "cache").exists()


def test_what_perception_sees_is_in_the_salt_and_when_it_runs_is_not():
    base = PerceptionConfig()
    assert perception_salt(base) == perception_salt(PerceptionConfig(schedule="inline", pin_cores=False, cache="x"))
    assert perception_salt(base) != perception_salt(PerceptionConfig(hands=False))
    assert perception_salt(base) != perception_salt(base, "two people")


def test_a_real_clip_replayed_from_the_cache_gives_the_uncached_replay_exactly(tmp_path, media, caplog):
    clip = str(media / "video" / "intel_asl" / "walk.mkv")

    def replay(name: str, cache: str) -> list[dict]:
        options = RunOptions(source=clip, headless=True, size=(64, 36), frames=30, paint=False, schedule="inline",
                             trace=tmp_path / f"{name}.jsonl", perception_cache=cache, osc_in="")
        run(options)
        return [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]

    uncached = replay("uncached", "")
    replay("first", str(tmp_path / "cache"))
    with caplog.at_level(logging.INFO, logger="installation.perception_cache"):
        second = replay("second", str(tmp_path / "cache"))
    assert "30 of 30 frames read back, 0 perceived" in caplog.text
    assert sum(1 for record in uncached if record["pose"]) >= 25  # MediaPipe found the signer
    assert second == uncached
