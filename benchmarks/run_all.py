"""Every benchmark of issue 9 in one run: ``benchmarks/results.json`` and ``benchmarks/results.md``.

Five ratios, each of things measured side by side in this one run (interleaved, A B A B ...),
so a shared, noisy machine hits both sides alike:

- ``latency_overhead``: median end-to-end latency (camera frame captured -> picture shown) ÷ the
  sum of the stages' own median times, for the default schedule on a clip played at camera pace;
- ``stale_ratio``: p95 latency of that loop ÷ p95 of a naive loop reading every frame through
  OpenCV's default FIFO of 4 buffers (loop_latency.py's ``naive``), the same per-frame work;
- ``freshness``: pictures with new content per second ÷ min(camera fps, display refresh);
- ``contention``: the generator's p95 per-frame time with MediaPipe running ÷ alone (contention.py);
- ``perception_ratio``: pose + hands time ÷ pose alone (perception_ratio.py);
- ``painting_fps``: rendered fps of the live loop with the painting stage on ÷ off (painting.py);
- ``painting_latency``: its end-to-end latency p50 with painting on ÷ off;
- ``flicker_ratio``: flicker of steady painting ÷ per-frame painting, mean of three real clips;
- ``osc_fuzz_fps``, ``osc_scene_flood_fps``, ``osc_spoofed_fps``: rendered fps of the live loop
  under the hostile datagram corpus, a ``/scene/set`` flood and 100 spoofed senders ÷ the same
  sender's traffic sent to a socket nobody reads (osc_hostile.py: the sender's own CPU on both sides).

The loop figures come from loop_latency.py's runs, interleaved threaded / inline / naive; the
headline is the configured schedule's, the other's is kept beside it. README.md (this folder)
defines each figure.

    .venv/bin/python benchmarks/run_all.py [--quick] [--out benchmarks/results.json]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import contention  # noqa: E402
import loop_latency  # noqa: E402
import osc_hostile  # noqa: E402
import painting  # noqa: E402
import perception_ratio  # noqa: E402
from common import write_results  # noqa: E402  (first: puts the project on sys.path)

from installation.config import load_config  # noqa: E402
from installation.native_logs import silence_native_stderr  # noqa: E402

KEYS = ("latency_overhead", "stale_ratio", "freshness", "contention", "perception_ratio", "painting_fps",
        "painting_latency", "flicker_ratio", "osc_fuzz_fps", "osc_scene_flood_fps", "osc_spoofed_fps")
TARGETS = {"latency_overhead": 1.5, "stale_ratio": 0.3, "freshness": 0.5, "painting_fps": 0.9, "painting_latency": 1.2,
           "flicker_ratio": 0.5, **{f"osc_{name}_fps": osc_hostile.TARGET for name in osc_hostile.FLOODS}}
HIGHER_IS_BETTER = ("freshness", "painting_fps", *(f"osc_{name}_fps" for name in osc_hostile.FLOODS))
SCHEDULES = ("threaded", "inline", "naive")


def machine() -> dict:
    """What the figures were measured on."""
    import cv2
    import mediapipe
    import numpy
    import torch

    cpu = platform.processor() or "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
        "torch": torch.__version__, "mediapipe": mediapipe.__version__, "opencv": cv2.__version__,
        "numpy": numpy.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
    }


def loop_figures(clip: Path, seconds: float, rounds: int) -> dict:
    """latency_overhead, stale_ratio and freshness from interleaved live-loop runs."""
    runs: dict[str, list[dict]] = {mode: [] for mode in SCHEDULES}
    for round_index in range(rounds):
        for mode in SCHEDULES:
            runs[mode].append(loop_latency.run_once(mode, clip, seconds))
            print(f"loop round {round_index + 1}/{rounds} {mode}: {runs[mode][-1]}", file=sys.stderr)
    rows = {mode: loop_latency.summarise(runs[mode]) for mode in SCHEDULES}
    config = load_config()
    camera_fps, display_hz = 30.0, config.display.target_fps  # the clip plays as a 30 fps camera
    pace = min(camera_fps, display_hz)
    figures = {}
    for mode in ("threaded", "inline"):
        row = rows[mode]
        figures[mode] = {
            "latency_overhead": row["latency_over_stage_sum"],
            "stale_ratio": round(row["latency_p95_ms"] / rows["naive"]["latency_p95_ms"], 3),
            "freshness": round(row["perceived_fps"] / pace, 3),
        }
    default = config.perception.schedule
    raw = {"schedules": rows, "camera_fps": camera_fps, "display_hz": display_hz,
           "clip": clip.name, "seconds_per_run": seconds, "rounds": rounds, "runs": runs}
    result = {}
    for key in ("latency_overhead", "stale_ratio", "freshness"):
        value = figures[default][key]
        meets = value >= TARGETS[key] if key == "freshness" else value <= TARGETS[key]
        other = "inline" if default == "threaded" else "threaded"
        result[key] = {"value": value, "target": TARGETS[key], "meets": meets, "schedule": default,
                       f"{other}_value": figures[other][key]}
    result["latency_overhead"].update(latency_p50_ms=rows[default]["latency_p50_ms"],
                                      stage_sum_p50_ms=rows[default]["stage_sum_p50_ms"],
                                      stages_p50_ms=rows[default]["stages_p50_ms"])
    result["stale_ratio"].update(latency_p95_ms=rows[default]["latency_p95_ms"],
                                 naive_latency_p95_ms=rows["naive"]["latency_p95_ms"])
    result["freshness"].update(new_pictures_per_s=rows[default]["perceived_fps"],
                               rendered_fps=rows[default]["render_fps"], camera_fps=camera_fps, display_hz=display_hz)
    result["loop_runs"] = raw
    return result


def painting_figures(seconds: float, rounds: int, frames: int) -> dict:
    """painting_fps, painting_latency and flicker_ratio, each of two sides measured in this run."""
    live = painting.live(seconds, rounds)
    flicker = painting.flicker_figures(frames, 384)
    on, off = live["on"], live["off"]
    values = {
        "painting_fps": round(on["render_fps"] / off["render_fps"], 3),
        "painting_latency": round(on["latency_p50_ms"] / off["latency_p50_ms"], 3),
        "flicker_ratio": round(sum(row["steady_over_per_frame"] for row in flicker.values()) / len(flicker), 3),
    }
    result = {key: {"value": value, "target": TARGETS[key],
                    "meets": value >= TARGETS[key] if key in HIGHER_IS_BETTER else value <= TARGETS[key]}
              for key, value in values.items()}
    result["painting_fps"].update(on=on, off=off)
    result["painting_latency"].update(latency_p50_on_ms=on["latency_p50_ms"], latency_p50_off_ms=off["latency_p50_ms"])
    result["flicker_ratio"].update(clips=flicker)
    return result


def markdown(results: dict) -> str:
    machine_info = results["machine"]
    lines = [
        f"Measured {machine_info['date']} on {machine_info['cpu']}, {machine_info['cores']} cores"
        f"{', GPU ' + machine_info['gpu'] if machine_info['gpu'] else ', no GPU'}; torch {machine_info['torch']}, "
        f"MediaPipe {machine_info['mediapipe']}, OpenCV {machine_info['opencv']}"
        f"{' (quick run: rough figures)' if machine_info['quick'] else ''}. Load average at start "
        f"{machine_info['load_average_at_start']}. Definitions: benchmarks/README.md.",
        "",
        "| figure | value | target | met | from |",
        "|---|---|---|---|---|",
    ]
    for key in KEYS:
        entry = results[key]
        sign = "≥" if key in HIGHER_IS_BETTER else "≤"
        lines.append(f"| {key} | {entry['value']:.2f} | {sign} {entry['target']} | {'yes' if entry['meets'] else 'no'} | "
                     f"{source_note(key, entry)} |")
    return "\n".join(lines)


def _other_schedule(entry: dict) -> str:
    """The figure of the schedule not configured, named, e.g. "(inline: 1.47)"."""
    other = "inline" if entry["schedule"] == "threaded" else "threaded"
    return f"({other}: {entry[f'{other}_value']})"


def source_note(key: str, entry: dict) -> str:
    if key == "latency_overhead":
        return (f"{entry['schedule']}: latency p50 {entry['latency_p50_ms']:.1f} ms ÷ stages {entry['stage_sum_p50_ms']:.1f} ms"
                f" {_other_schedule(entry)}")
    if key == "stale_ratio":
        return (f"{entry['schedule']}: p95 {entry['latency_p95_ms']:.1f} ms ÷ naive FIFO {entry['naive_latency_p95_ms']:.1f} ms"
                f" {_other_schedule(entry)}")
    if key == "freshness":
        return (f"{entry['schedule']}: {entry['new_pictures_per_s']:.1f} new pictures/s ÷ min({entry['camera_fps']:g} fps, "
                f"{entry['display_hz']:g} Hz) {_other_schedule(entry)}")
    if key == "contention":
        parts = [f"{name}: p95 {row['p95_with_perception_ms']:.1f} ÷ {row['p95_alone_ms']:.1f} ms = {row['ratio']:.2f}"
                 for name, row in entry["variants"].items()]
        return "; ".join(parts)
    if key == "painting_fps":
        on, off = entry["on"], entry["off"]
        return (f"{on['render_fps']:.1f} fps painted ({on['paintings_per_s']:.1f} new paintings/s at "
                f"{on['painting_size']:.0f} px) ÷ {off['render_fps']:.1f} fps unpainted; perceived {on['perceived_fps']:.1f} "
                f"÷ {off['perceived_fps']:.1f} fps")
    if key == "painting_latency":
        return f"p50 {entry['latency_p50_on_ms']:.1f} ms painted ÷ {entry['latency_p50_off_ms']:.1f} ms unpainted"
    if key.startswith("osc_"):
        return osc_hostile.source_note(entry)
    if key == "flicker_ratio":
        return "; ".join(f"{clip.split('.')[0]} {row['steady']:.2f} ÷ {row['per_frame']:.2f}"
                         for clip, row in entry["clips"].items())
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
    if args.quick:
        loop_args, contention_args = (2.0, 1), {"seconds": 0.5, "rounds": 1}
        clips, frames = [media / perception_ratio.DEFAULT_CLIPS[0]], 15
        painting_args = (2.0, 1, 4)
        osc_args = (2.0, 1)
    else:
        loop_args, contention_args = (20.0, 2), {"seconds": 4.0, "rounds": 3}
        clips, frames = [media / clip for clip in perception_ratio.DEFAULT_CLIPS], None
        painting_args = (20.0, 2, 30)
        osc_args = (12.0, 2)

    results = {"machine": machine()}
    results.update(loop_figures(loop_latency.DEFAULT_CLIP, *loop_args))
    print("loop figures done", file=sys.stderr)
    results["contention"] = contention.run(contention.DEFAULT_CLIP, **contention_args)
    print("contention done", file=sys.stderr)
    results["perception_ratio"] = perception_ratio.run(clips, frames)
    print("perception ratio done", file=sys.stderr)
    results.update(painting_figures(*painting_args))
    print("painting figures done", file=sys.stderr)
    osc = osc_hostile.run(*osc_args)
    results.update(osc["figures"])
    results["osc_fuzz_fps"]["runs"] = osc["runs"]  # the raw runs behind all three OSC figures
    results["machine"]["load_average_at_end"] = [round(value, 2) for value in os.getloadavg()]
    results["machine"]["quick"] = args.quick
    results["latency_overhead"]["loop_runs"] = results.pop("loop_runs")  # the raw runs behind all three loop figures
    ordered = {key: results[key] for key in KEYS}
    ordered["machine"] = results["machine"]
    write_results(args.out, ordered, markdown(ordered))


if __name__ == "__main__":
    main()
