"""Soak: many frames replayed headless through the whole pipeline (a looped real clip, MediaPipe,
scene, generator, compositor, OSC out), watching resident memory and latency over time.

    .venv/bin/python benchmarks/soak.py [--frames 20000] [--warmup 1000]

Reports resident memory after warm-up and at the end (growth in MB), and latency p95 of the
first thousand frames after warm-up against the last thousand. Writes results/soak.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from installation.app import build_stages  # noqa: E402
from installation.clock import FixedStepClock, wall_s  # noqa: E402
from installation.config import load_config, override  # noqa: E402
from installation.display import HeadlessDisplay, NullSink  # noqa: E402
from installation.file_sources import VideoFileSource  # noqa: E402
from installation.native_logs import silence_native_stderr  # noqa: E402
from installation.osc import OscBridge  # noqa: E402
from installation.runtime import Runtime  # noqa: E402

CLIP = ROOT.parent / "shared" / "media" / "video" / "intel_asl" / "walk.mkv"


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class Sampler:
    """Per-frame latency (capture -> frame shown) and resident memory every 500 frames."""

    def __init__(self) -> None:
        self.latency_ms: list[float] = []
        self.memory: list[tuple[int, float]] = []

    def on_frame(self, report) -> None:
        if report.observation is not None:
            self.latency_ms.append((wall_s() - report.observation.wall_s) * 1000.0)
        frames = report.status.frames
        if frames == 1 or frames % 500 == 0:
            self.memory.append((frames, resident_mb()))

    def close(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "soak.json")
    args = parser.parse_args()
    silence_native_stderr()
    config = override(load_config(), "osc", listen="", targets=("127.0.0.1:9",))  # bundles built and sent
    source = VideoFileSource(CLIP, loop=True, mirror=config.source.mirror)
    stages = build_stages(config, source, HeadlessDisplay((640, 360), "cover", NullSink()))
    runtime = Runtime(stages, FixedStepClock(), lockstep=True)
    sampler = Sampler()
    stages.listeners.insert(0, sampler)
    stages.listeners.insert(0, OscBridge(config.osc, runtime.inbox))
    stats = runtime.run(max_frames=args.frames)
    sampler.memory.append((stats.rendered_frames, resident_mb()))

    after_warmup = next(mb for frames, mb in sampler.memory if frames >= args.warmup)
    end = sampler.memory[-1][1]
    latency = np.array(sampler.latency_ms)
    first = latency[args.warmup:args.warmup + 1000]
    last = latency[-1000:]
    results = {
        "frames": stats.rendered_frames,
        "clip": CLIP.name,
        "resident_mb_after_warmup": round(after_warmup, 1),
        "resident_mb_at_end": round(end, 1),
        "resident_growth_mb": round(end - after_warmup, 1),
        "latency_p95_first_1000_ms": round(float(np.percentile(first, 95)), 2),
        "latency_p95_last_1000_ms": round(float(np.percentile(last, 95)), 2),
        "latency_p95_last_over_first": round(float(np.percentile(last, 95) / np.percentile(first, 95)), 3),
        "render_fps": stats.render_fps,
        "errors": stats.errors,
        "memory_samples": sampler.memory,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "memory_samples"}, indent=2))


if __name__ == "__main__":
    main()
