"""The run's statistics are typed (``RunStats``), and ``to_json`` writes the ``--stats`` file in
the format it has always had: the same keys, order, nesting and rounding, a section the run
lacked left out."""

from __future__ import annotations

import json

from installation.config import Config
from installation.run_stats import AdaptiveResolution, Digests, PaintingStats, Percentiles, ReplayCheck, RunStats
from installation.telemetry import STAGES

TIMES = Percentiles(1.5, 2.25, 3)


def stats(**sections) -> RunStats:
    return RunStats(frames=4, rendered_frames=3, frames_with_pose=2, frames_with_hands=1, dropped_frames=1,
                    errors={"scene": 0, "perception": 1}, render_fps=29.971, latency_ms=TIMES,
                    stages_ms={name: TIMES for name in STAGES}, digests=Digests("aa", "bb", "cc"), reused_frames=5,
                    schedule="lockstep", source="video clip.mp4", **sections)


def test_a_plain_run_writes_the_files_keys_with_a_null_fallback_reason():
    times = {"p50": 1.5, "p95": 2.25, "count": 3}
    assert stats().to_json() == {
        "frames": 4, "rendered_frames": 3, "frames_with_pose": 2, "frames_with_hands": 1, "dropped_frames": 1,
        "errors": {"scene": 0, "perception": 1}, "render_fps": 29.971, "latency_ms": times,
        "stages_ms": {name: times for name in STAGES},
        "digests": {"landmarks_sha256": "aa", "latents_sha256": "bb", "frames_sha256": "cc"},
        "reused_frames": 5, "generator_fallback_reason": None, "schedule": "lockstep", "source": "video clip.mp4",
    }
    assert list(stats().to_json()["errors"]) == ["scene", "perception"]  # the counts keep their order


def test_every_section_in_the_files_order():
    config = Config()
    full = stats(adaptive_resolution=AdaptiveResolution(final=224, changes=2), generator_fallback_reason="NaN",
                 painting=PaintingStats(paintings=3, style="wave", size=512), video_out={"ndi": {"sent": 3, "dropped": 0, "errors": 0}},
                 perception_schedule="threaded", config=config, replay=ReplayCheck(live_decisions=True, divergences=0),
                 ended_by="RuntimeError: broke")
    written = full.to_json()
    assert list(written) == ["frames", "rendered_frames", "frames_with_pose", "frames_with_hands", "dropped_frames", "errors",
                             "render_fps", "latency_ms", "stages_ms", "digests", "reused_frames", "adaptive_resolution",
                             "generator_fallback_reason", "painting", "schedule", "source", "video_out",
                             "perception_schedule", "config", "replay", "ended_by"]
    assert written["adaptive_resolution"] == {"final": 224, "changes": 2}
    assert written["painting"] == {"paintings": 3, "style": "wave", "size": 512}
    assert written["replay"] == {"live_decisions": True, "divergences": 0}
    assert written["config"]["generator"]["model"] == config.generator.model
    json.dumps(written)  # JSON-ready as it is: no Path, dataclass or numpy value left in


def test_percentiles_round_to_the_microsecond_and_are_zeros_without_samples():
    assert Percentiles.of([1.23456]) == Percentiles(1.235, 1.235, 1)
    assert Percentiles.of([1.0, 2.0, 3.0, 400.0]) == Percentiles(2.5, 340.45, 4)
    assert Percentiles.of(()) == Percentiles(0.0, 0.0, 0)
