"""The painting stage's figures, each measured side by side in one run.

- **live loop, painting off / on** (interleaved rounds, ``loop_latency.run_once``): the runtime
  live on ``intel_asl/walk.mkv`` played as a 30 fps camera, threaded perception, headless display
  paced at ``display.target_fps``; rendered fps, end-to-end latency, new paintings a second, the
  painting size the adaptive size settled on, and the loop's own painting cost (the flow carry);
- **flicker** on three real clips: per-frame painting against the steady mode (``FlowCarry``),
  ``steady.flicker`` of each (painted change ÷ content change along the content's flow);
- **painting time by size**: ms per painting of a real frame, arbitrary (painting) and built-in
  networks, at several long sides, on the CPU (one onnxruntime thread) and on CUDA where present.

    .venv/bin/python benchmarks/painting.py            # about 3 minutes on this 2-core machine
    .venv/bin/python benchmarks/painting.py --quick    # under a minute, rough figures
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import loop_latency  # noqa: E402

from installation.config import load_config  # noqa: E402
from installation.file_sources import clip_frames  # noqa: E402
from installation.native_logs import silence_native_stderr  # noqa: E402
from installation.painting.steady import FlowCarry, flicker  # noqa: E402
from installation.painting.styles import StyleLibrary  # noqa: E402
from models.style_networks import StyleCode, StyleNetworks  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media" / "video"
FLICKER_CLIPS = ("tfjs_pose_1_dance.mp4", "tfjs_pose_squats.mp4", "mpsamples_gesture_thumbsup_test_video.mp4")
SIZES = (256, 384, 512, 640, 1280)


def live(seconds: float, rounds: int) -> dict:
    """Painting off and on, interleaved; the median of each figure over the rounds."""
    runs: dict[str, list[dict]] = {"off": [], "on": []}
    for round_index in range(rounds):
        for mode in ("off", "on"):
            runs[mode].append(loop_latency.run_once("threaded", loop_latency.DEFAULT_CLIP, seconds, paint=mode == "on"))
            print(f"round {round_index + 1} painting {mode}: {runs[mode][-1]}", file=sys.stderr)
    keys = ("render_fps", "latency_p50_ms", "latency_p95_ms", "perceived_fps", "paintings_per_s", "painting_size",
            "paint_p50_ms")
    return {mode: {key: round(statistics.median(run[key] for run in rows), 3) for key in keys}
            for mode, rows in runs.items()}


def flicker_figures(frames: int, width: int) -> dict:
    """Per-frame and steady flicker on each clip, painted in starry_night at ``width``."""
    library = StyleLibrary(StyleNetworks(threads=1))
    code = library.code_for("starry_night")
    carry = load_config().paint.steady
    rows = {}
    for clip in FLICKER_CLIPS:
        content = []
        for bgr in clip_frames(MEDIA / clip, limit=frames):
            height = round(bgr.shape[0] * width / bgr.shape[1] / 4) * 4
            content.append(cv2.cvtColor(cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
        per_frame = [library.networks.paint(frame, code) for frame in content]
        steady_carry = FlowCarry(carry)
        steady = [steady_carry.step(frame, painting) for frame, painting in zip(content, per_frame)]
        plain, held = flicker(per_frame, content), flicker(steady, content)
        rows[clip] = {"per_frame": round(plain, 3), "steady": round(held, 3), "steady_over_per_frame": round(held / plain, 3)}
    return rows


def painting_times(repeats: int, device: str) -> dict:
    """Median ms per painting of a real frame, by long side, for both networks."""
    networks = StyleNetworks(threads=1, device=device)
    library = StyleLibrary(networks)
    frame = cv2.cvtColor(clip_frames(MEDIA / "tfjs_pose_squats.mp4", limit=1)[0], cv2.COLOR_BGR2RGB)
    frame = cv2.rotate(frame, cv2.ROTATE_90_CLOCKWISE) if frame.shape[0] > frame.shape[1] else frame  # landscape
    codes = {"painting": library.code_for("starry_night"), "builtin": StyleCode.builtin(19)}
    rows = {}
    for side in SIZES:
        height = round(side * 9 / 16 / 4) * 4
        content = cv2.resize(frame, (side, height), interpolation=cv2.INTER_AREA)
        row = {}
        for name, code in codes.items():
            networks.paint(content, code)  # warm-up: onnxruntime plans for the size on its first run
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                networks.paint(content, code)
                times.append((time.perf_counter() - started) * 1000.0)
            row[f"{name}_ms"] = round(statistics.median(times), 1)
        rows[f"{side}x{height}"] = row
    return {"device": networks.device, "sizes": rows}


def markdown(results: dict) -> str:
    off, on = results["live"]["off"], results["live"]["on"]
    lines = [
        "| live loop | rendered fps | latency p50 (ms) | latency p95 (ms) | perceived fps | new paintings/s | "
        "painting size (px) | loop's paint stage p50 (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode, row in (("painting off", off), ("painting on", on)):
        lines.append(f"| {mode} | {row['render_fps']:.1f} | {row['latency_p50_ms']:.1f} | {row['latency_p95_ms']:.1f} | "
                     f"{row['perceived_fps']:.1f} | {row['paintings_per_s']:.1f} | {row['painting_size']:.0f} | "
                     f"{row['paint_p50_ms']:.1f} |")
    lines += ["", "| clip | flicker, per-frame painting | flicker, steady | steady ÷ per-frame |", "|---|---|---|---|"]
    for clip, row in results["flicker"].items():
        lines.append(f"| {clip} | {row['per_frame']:.2f} | {row['steady']:.2f} | {row['steady_over_per_frame']:.2f} |")
    for times in results["painting_times"]:
        lines += ["", f"| size ({times['device']}) | painting style (ms) | built-in style (ms) |", "|---|---|---|"]
        for size, row in times["sizes"].items():
            lines.append(f"| {size} | {row['painting_ms']:.1f} | {row['builtin_ms']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs: rough figures")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "painting.json")
    args = parser.parse_args()
    silence_native_stderr()
    seconds, rounds, frames, repeats = (3.0, 1, 8, 1) if args.quick else (12.0, 2, 30, 5)
    results = {"live": live(seconds, rounds), "flicker": flicker_figures(frames, 384),
               "painting_times": [painting_times(repeats, "cpu")]}
    cuda = StyleNetworks(threads=1, device="cuda")
    if cuda.device == "cuda":
        results["painting_times"].append(painting_times(repeats * 4, "cuda"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(results) + "\n", encoding="utf-8")
    print(markdown(results))


if __name__ == "__main__":
    main()
