"""Every benchmark of issues 9, 14, 16 and 22 in one run: ``benchmarks/results.json`` and ``benchmarks/results.md``.

Each figure is a ratio of things measured side by side in this one run (interleaved, A B A B ...),
so a shared, noisy machine hits both sides alike, and the timed ones are measured in two
conditions, interleaved round by round (idle, loaded, idle, loaded ...; issue 22):

- **idle**: nothing started beside the benchmark;
- **loaded**: one busy neighbour beside it (neighbour.py: a CPU-bound child process at the
  benchmark's own priority, started before the round's loaded runs and stopped after them; its CPU
  seconds are kept, so the table shows it really ran).

The figures:

- ``latency_overhead``: median end-to-end latency (camera frame captured -> picture shown) ÷ the
  sum of the stages' own median times, for the configured schedule on a clip played at camera pace;
- ``stale_ratio``: p95 latency of that loop ÷ p95 of a naive loop reading every frame through
  OpenCV's default FIFO of 4 buffers (loop_latency.py's ``naive``), the same per-frame work;
- ``freshness``: pictures with new content per second ÷ min(camera fps, display refresh);
- ``displayed_fps``: pictures shown per second ÷ ``display.target_fps``;
- ``contention``: the generator's p95 per-frame time with MediaPipe running ÷ alone (contention.py's windows);
- ``painting_fps``: rendered fps of the live loop with the painting stage on ÷ off;
- ``painting_latency``: its end-to-end latency p50 with painting on ÷ off;
- ``perception_ratio``: pose + hands time ÷ pose alone (perception_ratio.py), idle only;
- ``flicker_ratio``: flicker of steady painting ÷ per-frame painting, mean of three real clips
  (painting.py), idle only: it is not timed, so load cannot move it;
- ``osc_fuzz_fps``, ``osc_scene_flood_fps``, ``osc_spoofed_fps``: rendered fps of the live loop
  under the hostile datagram corpus, a ``/scene/set`` flood and 100 spoofed senders ÷ the same
  sender's traffic sent to a socket nobody reads (osc_hostile.py), idle only: its sender is
  already a process beside the loop on both sides.

The four loop figures come from one set of live runs per condition, interleaved: the configured
schedule with painting off and with painting on (the same two runs give painting_fps and
painting_latency), the other schedule (its figure kept beside) and the naive FIFO; so each loop
figure is shown painting off and on, idle and loaded. README.md (this folder) defines each figure
and its targets.

    .venv/bin/python benchmarks/run_all.py [--quick] [--out benchmarks/results.json]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import contention  # noqa: E402
import loop_latency  # noqa: E402
import osc_hostile  # noqa: E402
import painting  # noqa: E402
import perception_ratio  # noqa: E402
from common import write_results  # noqa: E402  (first: puts the project on sys.path)
from neighbour import CONDITIONS, Conditions  # noqa: E402

from installation.affinity import core_plan, pinned  # noqa: E402
from installation.config import load_config  # noqa: E402
from installation.generator import GeneratorHost  # noqa: E402
from installation.native_logs import silence_native_stderr  # noqa: E402

LOOP_FIGURES = ("latency_overhead", "stale_ratio", "freshness", "displayed_fps")
# the table's rows, in order: each loop figure painting off (as before the painting stage existed), then on
KEYS = (*(f"{key}{suffix}" for key in LOOP_FIGURES for suffix in ("", "_painted")), "contention", "painting_fps",
        "painting_latency", "perception_ratio", "flicker_ratio", *(f"osc_{name}_fps" for name in osc_hostile.FLOODS))
# Targets per condition. Issue 22 set the loaded ones (painting on, one busy neighbour) and the idle
# latency, freshness and contention; a figure it gave no second target keeps its one in both.
TARGETS = {
    "latency_overhead": {"idle": 1.3, "loaded": 1.5}, "stale_ratio": {"idle": 0.3, "loaded": 0.3},
    "freshness": {"idle": 0.9, "loaded": 0.8}, "displayed_fps": {"idle": 0.9, "loaded": 0.9},
    "contention": {"idle": 1.1, "loaded": 1.25}, "painting_fps": {"idle": 0.9, "loaded": 0.9},
    "painting_latency": {"idle": 1.2, "loaded": 1.2}, "perception_ratio": {"idle": perception_ratio.TARGET},
    "flicker_ratio": {"idle": 0.5}, **{f"osc_{name}_fps": {"idle": osc_hostile.TARGET} for name in osc_hostile.FLOODS},
}
HIGHER_IS_BETTER = ("freshness", "displayed_fps", "painting_fps", *(f"osc_{name}_fps" for name in osc_hostile.FLOODS))
CAMERA_FPS = 30.0  # the clip plays as a 30 fps camera
PAINTING_KEYS = ("render_fps", "latency_p50_ms", "latency_p95_ms", "perceived_fps", "paintings_per_s", "painting_size",
                 "paint_p50_ms")  # painting.py's live rows
OTHER_SCHEDULE = {"threaded": "inline", "inline": "threaded"}


def machine() -> dict:
    """What the figures were measured on."""
    import cv2
    import mediapipe

    cpu = platform.processor() or "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
        "torch": torch.__version__, "mediapipe": mediapipe.__version__, "opencv": cv2.__version__,
        "numpy": np.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
    }


def judged(figure: str, condition: str, value: float, **sources) -> dict:
    """One condition's figure against that condition's target, with what it was computed from."""
    target = TARGETS[figure][condition]
    meets = value >= target if figure in HIGHER_IS_BETTER else value <= target
    return {"value": value, "target": target, "meets": meets, **sources}


def idle_only(figure: str, entry: dict) -> dict:
    """A figure measured idle only (``loaded`` None: "—" in the table)."""
    return {"figure": figure, "idle": entry, "loaded": None}


# --- the live loop: the loop figures and the painting ones, from one set of runs per condition

def run_modes(default: str) -> dict[str, tuple[str, bool]]:
    """The live runs of a round, by name: (loop_latency's mode, painting on)."""
    return {default: (default, False), f"{default}_painted": (default, True),
            OTHER_SCHEDULE[default]: (OTHER_SCHEDULE[default], False), "naive": ("naive", False)}


def live_runs(seconds: float, rounds: int, conditions: Conditions, default: str) -> dict[str, dict[str, list[dict]]]:
    """``rounds`` rounds, each every condition in turn and in each condition every run of
    ``run_modes`` in turn (loop_latency.run_once), so drift hits conditions and runs alike."""
    modes = run_modes(default)
    runs = {condition: {name: [] for name in modes} for condition in CONDITIONS}
    for round_index in range(rounds):
        for condition in CONDITIONS:
            with conditions.during(condition):
                for name, (mode, paint) in modes.items():
                    run = loop_latency.run_once(mode, loop_latency.DEFAULT_CLIP, seconds, paint=paint)
                    runs[condition][name].append(run)
                    print(f"live round {round_index + 1}/{rounds} {condition} {name}: {run}", file=sys.stderr)
    return runs


def summarise(runs: dict[str, list[dict]]) -> dict[str, dict]:
    """Each run's medians over the rounds: loop_latency.py's summary, with painting.py's figures too."""
    rows = {}
    for name, runs_of_name in runs.items():
        row = loop_latency.summarise(runs_of_name)
        row.update({key: round(statistics.median(run[key] for run in runs_of_name), 3) for key in PAINTING_KEYS if key not in row})
        rows[name] = row
    return rows


def loop_ratios(rows: dict[str, dict]) -> dict:
    """loop_latency.py's ratios (the last lines of its table)."""
    threaded, inline, naive = rows["threaded"], rows["inline"], rows["naive"]
    return {"threaded_over_inline_latency_p50": round(threaded["latency_p50_ms"] / inline["latency_p50_ms"], 3),
            "threaded_over_inline_perceived_fps": round(threaded["perceived_fps"] / inline["perceived_fps"], 3),
            "inline_over_naive_latency_p95": round(inline["latency_p95_ms"] / naive["latency_p95_ms"], 3),
            "threaded_over_naive_latency_p95": round(threaded["latency_p95_ms"] / naive["latency_p95_ms"], 3)}


def loop_values(row: dict, naive: dict, display_hz: float) -> dict[str, float]:
    """The four loop figures of one run's medians. The naive FIFO side is always unpainted: run in
    lockstep it would paint every frame inline, not the live loop's work (a painting FIFO would be
    staler still, so the painted stale_ratio errs high)."""
    return {"latency_overhead": row["latency_over_stage_sum"],
            "stale_ratio": round(row["latency_p95_ms"] / naive["latency_p95_ms"], 3),
            "freshness": round(row["perceived_fps"] / min(CAMERA_FPS, display_hz), 3),
            "displayed_fps": round(row["render_fps"] / display_hz, 3)}


def loop_sources(figure: str, row: dict, naive: dict, display_hz: float) -> dict:
    """What a loop figure was computed from."""
    if figure == "latency_overhead":
        return {"latency_p50_ms": row["latency_p50_ms"], "stage_sum_p50_ms": row["stage_sum_p50_ms"],
                "stages_p50_ms": row["stages_p50_ms"]}
    if figure == "stale_ratio":
        return {"latency_p95_ms": row["latency_p95_ms"], "naive_latency_p95_ms": naive["latency_p95_ms"]}
    if figure == "freshness":
        return {"new_pictures_per_s": row["perceived_fps"], "rendered_fps": row["render_fps"], "camera_fps": CAMERA_FPS,
                "display_hz": display_hz}
    return {"rendered_fps": row["render_fps"], "display_hz": display_hz}


def loop_figures(rows: dict[str, dict[str, dict]], default: str, display_hz: float) -> dict:
    """Each loop figure painting off (key as before) and on (``<figure>_painted``), idle and loaded:
    the configured schedule's runs; painting off keeps the other schedule's figure beside it."""
    other, result = OTHER_SCHEDULE[default], {}
    for figure in LOOP_FIGURES:
        for painted in (False, True):
            entry = {"figure": figure, "painting": "on" if painted else "off"}
            for condition, by_name in rows.items():
                row, naive = by_name[f"{default}_painted" if painted else default], by_name["naive"]
                sources = {"schedule": default, **loop_sources(figure, row, naive, display_hz)}
                if not painted:
                    sources[f"{other}_value"] = loop_values(by_name[other], naive, display_hz)[figure]
                entry[condition] = judged(figure, condition, loop_values(row, naive, display_hz)[figure], **sources)
            result[figure + ("_painted" if painted else "")] = entry
    return result


def painting_figures(rows: dict[str, dict[str, dict]], default: str) -> dict:
    """painting_fps and painting_latency in each condition: the configured schedule painted ÷ unpainted."""
    fps, latency = {"figure": "painting_fps"}, {"figure": "painting_latency"}
    for condition, by_name in rows.items():
        on, off = ({key: by_name[name][key] for key in PAINTING_KEYS} for name in (f"{default}_painted", default))
        fps[condition] = judged("painting_fps", condition, round(on["render_fps"] / off["render_fps"], 3), on=on, off=off)
        latency[condition] = judged("painting_latency", condition, round(on["latency_p50_ms"] / off["latency_p50_ms"], 3),
                                    latency_p50_on_ms=on["latency_p50_ms"], latency_p50_off_ms=off["latency_p50_ms"])
    return {"painting_fps": fps, "painting_latency": latency}


# --- contention: contention.py's windows, with the condition as one more interleaved dimension

def contention_figure(seconds: float, rounds: int, warm_up_s: float, conditions: Conditions) -> dict:
    """contention.run's measurement in both conditions: each round idle then loaded, in each every
    variant's window alone then beside MediaPipe. The generator and MediaPipe's graphs are built
    once for both (contention.run would build them per call, seconds each); each MediaPipe runs
    ``warm_up_s`` before the first window (contention.run: 2 s) so its graphs start up outside them."""
    config = load_config()
    generator = GeneratorHost(replace(config.generator, device="cpu"))
    generator.warm_up()
    plan = core_plan(True)
    variants = contention.variants_for(config, (1, 2))
    loads = {on_cores: contention.PerceptionLoad(contention.DEFAULT_CLIP, plan.perception if on_cores and plan else None)
             for on_cores in {variant.pinned for variant in variants}}
    rng = np.random.default_rng(0)
    windows = {(condition, variant): {"alone": [], "with": [], "perceived": []} for condition in CONDITIONS for variant in variants}
    try:
        for load in loads.values():
            load.active.set()
            time.sleep(warm_up_s)
            load.active.clear()
        for _ in range(rounds):
            for condition in CONDITIONS:
                with conditions.during(condition):
                    for variant in variants:
                        contention_windows(generator, loads[variant.pinned], variant, plan, seconds, rng,
                                           windows[condition, variant])
    finally:
        for load in loads.values():
            load.close()
        torch.set_num_threads(max(1, config.generator.torch_threads))
    entry, configured = {"figure": "contention"}, variants[0]
    for condition in CONDITIONS:
        rows = {variant.name: contention._row(windows[condition, variant]["alone"], windows[condition, variant]["with"],
                                              windows[condition, variant]["perceived"]) for variant in variants}
        entry[condition] = judged("contention", condition, rows[configured.name]["ratio"], configured=configured.name,
                                  torch_threads=configured.torch_threads, pinned=configured.pinned,
                                  generator=f"{config.generator.model} {generator.resolution}px cpu",
                                  clip=contention.DEFAULT_CLIP.name, seconds_per_window=seconds, rounds=rounds, variants=rows)
    return entry


def contention_windows(generator, load, variant, plan, seconds: float, rng, into: dict) -> None:
    """One variant's pair of windows, as contention.run times them: the generator alone, then beside MediaPipe."""
    torch.set_num_threads(variant.torch_threads)
    with pinned(plan.loop if variant.pinned and plan else None):
        into["alone"] += contention.render_window(generator, seconds, rng)
        before, started = load.frames, time.perf_counter()
        load.active.set()
        into["with"] += contention.render_window(generator, seconds, rng)
        load.active.clear()
    into["perceived"].append((load.frames - before) / (time.perf_counter() - started))


def flicker_figure(frames: int) -> dict:
    """flicker_ratio: the mean over painting.py's three clips (not timed: idle only)."""
    clips = painting.flicker_figures(frames, 384)
    value = round(sum(row["steady_over_per_frame"] for row in clips.values()) / len(clips), 3)
    return idle_only("flicker_ratio", judged("flicker_ratio", "idle", value, clips=clips))


# --- the table

def markdown(results: dict) -> str:
    machine_info, neighbour = results["machine"], results["neighbour"]
    lines = [
        f"Measured {machine_info['date']} on {machine_info['cpu']}, {machine_info['cores']} cores"
        f"{', GPU ' + machine_info['gpu'] if machine_info['gpu'] else ', no GPU'}; torch {machine_info['torch']}, "
        f"MediaPipe {machine_info['mediapipe']}, OpenCV {machine_info['opencv']}"
        f"{' (quick run: rough figures)' if machine_info['quick'] else ''}. Load average at start "
        f"{machine_info['load_average_at_start']}, at end {machine_info['load_average_at_end']}. "
        f"Definitions: benchmarks/README.md.",
        "",
        f"Idle and loaded interleaved round by round. Loaded: one busy neighbour (`{shlex.join(neighbour['command'])}`, "
        f"nice {', '.join(map(str, neighbour['nice']))}, any of cores {neighbour['cores']}) started {neighbour['starts']} times, "
        f"once per loaded block, used {neighbour['cpu_s']:.1f} CPU s in its {neighbour['wall_s']:.1f} s "
        f"({neighbour['cpu_share']:.2f} of a core). Loop figures: the {results['runs']['loop']['default_schedule']} "
        f"schedule (the configured one), painting off and on; — = measured idle only.",
        "",
        "| figure | idle | target | met | loaded (one busy neighbour) | target | met | from |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in KEYS:
        entry = results[key]
        lines.append(f"| {label(entry)} | {cells(entry['figure'], entry['idle'])} | {cells(entry['figure'], entry['loaded'])} | "
                     f"{source_note(entry)} |")
    lines += ["", "The live runs behind the loop and painting figures (loop_latency.py's table; medians over the rounds; "
              "`*_painted`: painting on):"]
    for condition in CONDITIONS:
        lines += ["", f"**{condition}**", "", loop_latency.markdown(results["runs"]["loop"][condition])]
    lines += ["", "OSC under hostile traffic, idle (osc_hostile.py's table):", "", osc_hostile.markdown(results["runs"]["osc_hostile"])]
    return "\n".join(lines)


def label(entry: dict) -> str:
    """A table row's name: the figure, and for the loop figures whether painting was on."""
    return entry["figure"] + (f", painting {entry['painting']}" if "painting" in entry else "")


def cells(figure: str, judged_entry: dict | None) -> str:
    """value | target | met, or dashes where the figure was not measured in that condition."""
    if judged_entry is None:
        return "— | — | —"
    sign = "≥" if figure in HIGHER_IS_BETTER else "≤"
    return f"{judged_entry['value']:.2f} | {sign} {judged_entry['target']} | {'yes' if judged_entry['meets'] else 'no'}"


def source_note(entry: dict) -> str:
    """Where the figure comes from, idle and (where measured) loaded."""
    figure, painted = entry["figure"], entry.get("painting") == "on"
    if entry["loaded"] is None:
        return condition_note(figure, entry["idle"], painted)
    return "; ".join(f"{condition}: {condition_note(figure, entry[condition], painted)}" for condition in CONDITIONS)


def condition_note(figure: str, entry: dict, painted: bool) -> str:
    """One condition's sources, short."""
    other = next((f" ({key.removesuffix('_value')} {value:.2f})" for key, value in entry.items()
                  if key.endswith("_value") and key.removesuffix("_value") in OTHER_SCHEDULE), "")
    if figure == "latency_overhead":
        return f"p50 {entry['latency_p50_ms']:.1f} ÷ stages {entry['stage_sum_p50_ms']:.1f} ms{other}"
    if figure == "stale_ratio":
        return (f"p95 {entry['latency_p95_ms']:.1f} ÷ naive FIFO{' (unpainted)' if painted else ''} "
                f"{entry['naive_latency_p95_ms']:.1f} ms{other}")
    if figure == "freshness":
        return (f"{entry['new_pictures_per_s']:.1f} new pictures/s ÷ min({entry['camera_fps']:g} fps, "
                f"{entry['display_hz']:g} Hz){other}")
    if figure == "displayed_fps":
        return f"{entry['rendered_fps']:.1f} shown/s ÷ {entry['display_hz']:g} Hz{other}"
    if figure == "contention":
        configured = entry["variants"][entry["configured"]]
        others = ", ".join(f"{name} {row['ratio']:.2f}" for name, row in entry["variants"].items() if name != entry["configured"])
        return (f"{entry['configured']}: p95 {configured['p95_with_perception_ms']:.1f} ÷ {configured['p95_alone_ms']:.1f} ms "
                f"({others})")
    if figure == "painting_fps":
        on, off = entry["on"], entry["off"]
        return (f"{on['render_fps']:.1f} ÷ {off['render_fps']:.1f} fps ({on['paintings_per_s']:.1f} paintings/s at "
                f"{on['painting_size']:.0f} px)")
    if figure == "painting_latency":
        return f"p50 {entry['latency_p50_on_ms']:.1f} ÷ {entry['latency_p50_off_ms']:.1f} ms"
    if figure.startswith("osc_"):
        return osc_hostile.source_note(entry)
    if figure == "flicker_ratio":
        return "; ".join(f"{clip.split('.')[0]} {row['steady']:.2f} ÷ {row['per_frame']:.2f}" for clip, row in entry["clips"].items())
    variants, agreement = entry["variants"], entry["every_frame_agreement"]
    return (f"pose regions {variants['pose_regions']['mean_ms']:.1f} ms ÷ pose {variants['pose']['mean_ms']:.1f} ms "
            f"(hand model every frame: {entry['every_frame_value']:.2f}, palm detector: {entry['palm_detector_value']:.2f}); "
            f"against every frame {agreement['landmark_distance_px_median']} px median, "
            f"{agreement['hands_found_pose_regions']} of {agreement['hands_found_every_frame']} hands; {entry['frames']} frames")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run (for tests): the figures are rough")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    silence_native_stderr()
    media = perception_ratio.MEDIA
    if args.quick:  # the loaded condition doubles the live runs and windows: shorter ones keep the run as quick as before
        live_args, contention_args, osc_args = (1.5, 1), (0.3, 1, 0.5), (1.5, 1)
        clips, frames, flicker_frames = [media / perception_ratio.DEFAULT_CLIPS[0]], 15, 4
    else:
        live_args, contention_args, osc_args = (15.0, 2), (4.0, 3, 2.0), (12.0, 2)
        clips, frames, flicker_frames = [media / clip for clip in perception_ratio.DEFAULT_CLIPS], None, 30

    config, conditions = load_config(), Conditions()
    default, display_hz = config.perception.schedule, config.display.target_fps
    results = {"machine": machine()}
    runs = live_runs(*live_args, conditions, default)
    rows = {condition: summarise(runs[condition]) for condition in CONDITIONS}
    results.update(loop_figures(rows, default, display_hz))
    results.update(painting_figures(rows, default))
    print("loop and painting figures done", file=sys.stderr)
    results["contention"] = contention_figure(*contention_args, conditions)
    print("contention done", file=sys.stderr)
    results["perception_ratio"] = idle_only("perception_ratio", perception_ratio.run(clips, frames))
    results["flicker_ratio"] = flicker_figure(flicker_frames)
    print("perception ratio and flicker done", file=sys.stderr)
    osc = osc_hostile.run(*osc_args)
    results.update({key: idle_only(key, entry) for key, entry in osc["figures"].items()})
    results["machine"]["load_average_at_end"] = [round(value, 2) for value in os.getloadavg()]
    results["machine"]["quick"] = args.quick
    ordered = {key: results[key] for key in KEYS}
    ordered["machine"], ordered["neighbour"] = results["machine"], conditions.summary()
    ordered["runs"] = {  # what the sub-benchmarks produce, raw runs included (their own tables are in results.md)
        "loop": {"clip": loop_latency.DEFAULT_CLIP.name, "seconds_per_run": live_args[0], "rounds": live_args[1],
                 "default_schedule": default, "camera_fps": CAMERA_FPS, "display_hz": display_hz,
                 **{condition: {"schedules": rows[condition], "ratios": loop_ratios(rows[condition]), "runs": runs[condition]}
                    for condition in CONDITIONS}},
        "osc_hostile": osc,
    }
    write_results(args.out, ordered, markdown(ordered))


if __name__ == "__main__":
    main()
