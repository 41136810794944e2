"""The benchmark scripts keep working (their figures are read by people, not asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(script: str, *args: str, timeout: float = 600) -> None:
    """Run ``benchmarks/<script>`` with ``args``; it must succeed (its stderr's end shown if not)."""
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-2000:]


def loop_latency_tables(results: dict, table: str) -> None:
    assert set(results["schedules"]) == {"inline", "threaded", "naive"}
    for row in results["schedules"].values():
        assert row["render_fps"] > 0 and row["latency_p50_ms"] > 0
    assert "| naive |" in table


def osc_hostile_tables(results: dict, table: str) -> None:
    """Every flood beside its control (the same sender to a socket nobody reads) and a clean run."""
    floods = ("fuzz", "scene_flood", "spoofed")
    assert set(results["figures"]) == {f"osc_{name}_fps" for name in floods}
    assert set(results["runs"]) == {"clean", *floods, *(f"{name}_control" for name in floods)}
    fuzz, control = results["runs"]["fuzz"][0], results["runs"]["fuzz_control"][0]
    assert fuzz["sent"] > 0 and fuzz["osc"]["osc_malformed"] > 0 and fuzz["frames_receiver_not_alive"] == 0
    assert control["sent"] > 0 and "osc_malformed" not in control["osc"]  # sent, but not to the loop
    assert results["runs"]["clean"][0]["sent"] == 0
    for key, entry in results["figures"].items():
        assert entry["value"] == pytest.approx(entry["render_fps"] / entry["control_render_fps"], abs=2e-2)
        assert f"| {key} | {entry['value']:.2f} |" in table


@pytest.mark.parametrize("script, check", [("loop_latency.py", loop_latency_tables),
                                           ("osc_hostile.py", osc_hostile_tables)], ids=["loop_latency", "osc_hostile"])
def test_live_loop_benchmark_runs_and_writes_its_tables(tmp_path, media, script, check):
    out = tmp_path / "results.json"
    run_benchmark(script, "--seconds", "2", "--rounds", "1", "--out", str(out), timeout=300)
    check(json.loads(out.read_text()), out.with_suffix(".md").read_text())


def test_generator_throughput_benchmark_runs(tmp_path):
    out = tmp_path / "throughput.json"
    run_benchmark("generator_throughput.py", "--seconds", "0.2", "--rounds", "1", "--out", str(out))
    assert "cppn" in out.with_suffix(".md").read_text()


def test_soak_benchmark_runs(tmp_path):
    out = tmp_path / "soak.json"
    run_benchmark("soak.py", "--frames", "150", "--warmup", "0", "--out", str(out))
    results = json.loads(out.read_text())
    assert results["frames"] == 150 and results["resident_mb_at_end"] > 0


def test_run_all_writes_the_eleven_figures_and_the_machine(tmp_path, media):
    out = tmp_path / "results.json"
    run_benchmark("run_all.py", "--quick", "--out", str(out))
    results = json.loads(out.read_text())
    figures = ("latency_overhead", "stale_ratio", "freshness", "contention", "perception_ratio", "painting_fps",
               "painting_latency", "flicker_ratio", "osc_fuzz_fps", "osc_scene_flood_fps", "osc_spoofed_fps")
    assert set(results) == set(figures) | {"machine"}
    for key in figures:
        entry = results[key]
        assert entry["value"] > 0 and entry["target"] > 0, key
        higher_is_better = key in ("freshness", "painting_fps") or key.startswith("osc_")
        assert entry["meets"] == (entry["value"] >= entry["target"] if higher_is_better else entry["value"] <= entry["target"]), key
    assert 0 < results["stale_ratio"]["value"] < 10 and 0 < results["freshness"]["value"] <= 2.5
    # each ratio is its own two sides, measured in this run
    stale = results["stale_ratio"]
    assert stale["value"] == pytest.approx(stale["latency_p95_ms"] / stale["naive_latency_p95_ms"], abs=2e-3)
    perception = results["perception_ratio"]
    variants = perception["variants"]
    assert perception["value"] == pytest.approx(variants["pose_regions"]["mean_ms"] / variants["pose"]["mean_ms"], abs=2e-3)
    assert perception["every_frame_agreement"]["hands_found_every_frame"] > 0  # real hands on the real clip
    assert results["machine"]["cores"] >= 1 and results["machine"]["mediapipe"]
    painted = results["painting_fps"]
    assert painted["value"] == pytest.approx(painted["on"]["render_fps"] / painted["off"]["render_fps"], abs=2e-3)
    assert painted["off"]["paintings_per_s"] == 0  # painted only when on (a loaded machine may finish none in a quick run)
    flicker = results["flicker_ratio"]
    assert len(flicker["clips"]) == 3 and all(row["per_frame"] > row["steady"] > 0 for row in flicker["clips"].values())
    table = out.with_suffix(".md").read_text()
    for key in figures:  # the table shows the JSON's figures
        entry = results[key]
        row = table.split(f"| {key} |")[1].split("\n")[0]
        assert f"| {key} | {entry['value']:.2f} | " in table and ("| yes |" if entry["meets"] else "| no |") in row


def test_gpu_figures_quick_cpu_run_writes_every_section_and_the_targets(tmp_path):
    # the GPU script's code path on a CPU, tiny; the loop replays recorded observations, as on a
    # GPU machine without MediaPipe
    run_benchmark("gpu_figures.py", "--device", "cpu", "--quick", "--replay-perception", "--out", str(tmp_path))
    results = json.loads((tmp_path / "gpu_figures.json").read_text())
    assert results["errors"] == {} and results["machine"]["card"]
    assert {row["model"] for row in results["generators"]} >= {"cppn"}
    assert all(row["images_per_s"] > 0 for row in results["generators"] + results["diffusion"])
    assert results["painting"][0]["fps"] > 0
    loop = results["loop"]
    assert loop["perception"] == "replayed" and loop["new_pictures_per_s"] > 0 and loop["latency_over_stages"] > 0
    assert set(results["summary"]) == {"generator_512_fp16_images_per_s", "painting_720p_fps", "loop_latency_over_stages"}
    assert results["machine"]["card"] in (tmp_path / "gpu_figures.md").read_text()
