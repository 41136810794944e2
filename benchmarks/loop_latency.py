"""End-to-end latency and frame rate of the live loop, three ways, side by side in one run.

A real clip is played as a 30 fps camera (frames are "captured" on a thread at the clip's own
rate, stamped when they appear). The same runtime then runs:

- ``inline``:   newest frame wins; MediaPipe runs in the render loop's thread;
- ``threaded``: newest frame wins; MediaPipe runs on its own thread;
- ``naive``:    every frame read in order from a FIFO of 4 buffers, the way OpenCV's default
                V4L2 queue hands them out (when all buffers are full, new frames are dropped,
                so the loop keeps reading old ones).

Each schedule runs ``--rounds`` times for ``--seconds`` each, interleaved (A B C A B C ...) so
machine noise hits all of them alike. Reported: end-to-end latency p50/p95 (capture -> frame
shown), rendered fps, perceived fps, and latency p50 / the sum of the stages' own p50 times.

    .venv/bin/python benchmarks/loop_latency.py [--clip PATH] [--seconds 15] [--rounds 2]
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import threading
import time
from pathlib import Path

from common import DEFAULT_CLIP, RESULTS, live_runtime, write_results  # first: puts the project on sys.path

from installation.clock import FixedStepClock, MonotonicClock, wall_s  # noqa: E402
from installation.config import load_config, override  # noqa: E402
from installation.contracts import Frame  # noqa: E402
from installation.file_sources import VideoFileSource  # noqa: E402
from installation.native_logs import silence_native_stderr  # noqa: E402

STAGE_NAMES = ("capture", "perception", "tracking", "scene", "generate", "display")
OPENCV_V4L_BUFFERS = 4  # OpenCV's default number of V4L2 buffers


class QueuedCamera:
    """A camera behind OpenCV's default FIFO: frames are queued in capture order in a few
    buffers; when all are full, newly captured frames are dropped. ``read`` takes the oldest."""

    def __init__(self, clip: Path, clock: MonotonicClock, buffers: int = OPENCV_V4L_BUFFERS) -> None:
        self.inner = VideoFileSource(clip, loop=True)
        self.fps, self.frame_size = self.inner.fps, self.inner.frame_size
        self.description = f"{self.inner.description} (FIFO of {buffers})"
        self.dropped = 0
        self._clock, self._buffers = clock, buffers
        self._queue: collections.deque[Frame] = collections.deque()
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._capture, daemon=True)
        self._thread.start()

    def _capture(self) -> None:
        period, next_time = 1.0 / self.fps, time.perf_counter()
        while not self._stop.is_set():
            frame = self.inner.read()
            next_time += period
            self._stop.wait(max(0.0, next_time - time.perf_counter()))
            stamped = Frame(frame.index, self._clock.now(), wall_s(), frame.image_bgr)
            with self._ready:
                if len(self._queue) < self._buffers:
                    self._queue.append(stamped)
                    self._ready.notify()
                else:
                    self.dropped += 1

    def read(self) -> Frame | None:
        with self._ready:
            self._ready.wait_for(lambda: self._queue or self._stop.is_set())
            return self._queue.popleft() if self._queue else None

    def latest(self) -> Frame | None:
        return self.read()

    def close(self) -> None:
        self._stop.set()
        with self._ready:
            self._ready.notify_all()
        self._thread.join(timeout=2.0)
        self.inner.close()


def run_once(mode: str, clip: Path, seconds: float, paint: bool = False) -> dict:
    """One run of the loop on ``clip`` for ``seconds``; ``paint``: with the painting stage (the
    configured schedule: its own thread), else with painting off, as the loop figures are measured."""
    config = load_config()
    config = override(config, "perception", schedule="threaded" if mode == "threaded" else "inline")
    config = override(config, "source", mirror=False)
    config = override(config, "paint", enabled=paint)
    if mode == "naive":
        runtime = live_runtime(config, QueuedCamera(clip, MonotonicClock()), FixedStepClock(), lockstep=True)
    else:
        runtime = live_runtime(config, clip=clip)
    started = wall_s()
    stats = runtime.run(max_wall_s=seconds)
    elapsed = wall_s() - started
    stage_sum = sum(stats.stages_ms[name].p50 for name in STAGE_NAMES)
    return {
        "latency_p50_ms": stats.latency_ms.p50,
        "latency_p95_ms": stats.latency_ms.p95,
        "render_fps": stats.render_fps,
        "perceived_fps": stats.frames / elapsed,
        "stage_sum_p50_ms": round(stage_sum, 3),
        "latency_over_stage_sum": round(stats.latency_ms.p50 / stage_sum, 3),
        "stages_p50_ms": {name: stats.stages_ms[name].p50 for name in STAGE_NAMES},
        "dropped_frames": stats.dropped_frames,
        "paintings_per_s": (stats.painting.paintings if stats.painting is not None else 0) / elapsed,
        "painting_size": stats.painting.size if stats.painting is not None else 0,
        "paint_p50_ms": stats.stages_ms["paint"].p50,
    }


def summarise(runs: list[dict]) -> dict:
    keys = ("latency_p50_ms", "latency_p95_ms", "render_fps", "perceived_fps", "stage_sum_p50_ms",
            "latency_over_stage_sum")
    summary = {key: round(statistics.median(run[key] for run in runs), 3) for key in keys}
    summary["stages_p50_ms"] = {
        name: round(statistics.median(run["stages_p50_ms"][name] for run in runs), 3) for name in STAGE_NAMES
    }
    return summary


def markdown(results: dict) -> str:
    lines = [
        "| schedule | latency p50 (ms) | latency p95 (ms) | rendered fps | perceived fps | "
        "sum of stages p50 (ms) | latency p50 / stage sum |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, row in results["schedules"].items():
        lines.append(
            f"| {mode} | {row['latency_p50_ms']:.1f} | {row['latency_p95_ms']:.1f} | {row['render_fps']:.1f} | "
            f"{row['perceived_fps']:.1f} | {row['stage_sum_p50_ms']:.1f} | {row['latency_over_stage_sum']:.2f} |"
        )
    ratios = results["ratios"]
    lines.append("")
    lines.append(f"- threaded / inline latency p50: {ratios['threaded_over_inline_latency_p50']:.2f}; "
                 f"perceived fps: {ratios['threaded_over_inline_perceived_fps']:.2f}")
    lines.append(f"- newest-wins / naive queue latency p95: inline {ratios['inline_over_naive_latency_p95']:.2f}, "
                 f"threaded {ratios['threaded_over_naive_latency_p95']:.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "loop_latency.json")
    args = parser.parse_args()
    silence_native_stderr()

    modes = ("inline", "threaded", "naive")
    runs: dict[str, list[dict]] = {mode: [] for mode in modes}
    for round_index in range(args.rounds):
        for mode in modes:
            runs[mode].append(run_once(mode, args.clip, args.seconds))
            print(f"round {round_index + 1} {mode}: {runs[mode][-1]}", file=sys.stderr)
    schedules = {mode: summarise(runs[mode]) for mode in modes}
    default = load_config().perception.schedule
    results = {
        "clip": args.clip.name,
        "seconds_per_run": args.seconds,
        "rounds": args.rounds,
        "cpu_count": os.cpu_count(),
        "default_schedule": default,
        "schedules": schedules,
        "ratios": {
            "threaded_over_inline_latency_p50": round(
                schedules["threaded"]["latency_p50_ms"] / schedules["inline"]["latency_p50_ms"], 3),
            "threaded_over_inline_perceived_fps": round(
                schedules["threaded"]["perceived_fps"] / schedules["inline"]["perceived_fps"], 3),
            "inline_over_naive_latency_p95": round(
                schedules["inline"]["latency_p95_ms"] / schedules["naive"]["latency_p95_ms"], 3),
            "threaded_over_naive_latency_p95": round(
                schedules["threaded"]["latency_p95_ms"] / schedules["naive"]["latency_p95_ms"], 3),
        },
        "runs": runs,
    }
    write_results(args.out, results, markdown(results))


if __name__ == "__main__":
    main()
