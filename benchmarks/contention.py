"""Contention: the generator's per-frame time with MediaPipe running beside it ÷ alone.

The generator of ``config.toml`` (the CPPN at 256² by default) renders a new latent every frame,
back to back, in the main thread, as the render loop does. In alternate windows a perception
thread runs MediaPipe (the configured Perceiver: Pose + Hands) on a real clip's frames back to
back, as the threaded schedule's worker does when frames come faster than it can take them, or
stays idle:

    alone, with, alone, with, ... (``--rounds`` of each, for each torch thread count)

so machine noise hits both alike. The figure is the p95 of the generator's per-frame ms over all
"with" windows ÷ the p95 over all "alone" windows, for the configured variant; the others are
measured in the same rounds: the loop and MediaPipe on any core (``perception.pin_cores =
false``) and each ``--threads`` count of torch CPU threads (``generator.torch_threads``; issue 9
part 5: both are chosen by this measurement), with the frames MediaPipe got through per second
in the same windows.

    .venv/bin/python benchmarks/contention.py [--seconds 4] [--rounds 3] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from installation.affinity import core_plan, pinned  # noqa: E402
from installation.config import load_config  # noqa: E402
from installation.contracts import Frame, LatentState  # noqa: E402
from installation.file_sources import clip_frames  # noqa: E402
from installation.generator import GeneratorHost  # noqa: E402
from installation.native_logs import silence_native_stderr  # noqa: E402
from installation.perceiver import Perceiver  # noqa: E402

DEFAULT_CLIP = ROOT.parent / "shared" / "media" / "video" / "intel_asl" / "walk.mkv"
TARGET = 1.25


class PerceptionLoad:
    """A thread that runs MediaPipe on a clip's frames back to back while ``active`` is set."""

    def __init__(self, clip: Path, cores: frozenset[int] | None = None) -> None:
        self.cores = cores  # the worker and MediaPipe's threads run here (None = any core)
        self._images = clip_frames(clip, None, mirror=True)  # mirrored, as the default source delivers it
        self.active, self._stop = threading.Event(), threading.Event()
        self.frames = 0
        self._thread = threading.Thread(target=self._work, name="perception-load", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        with pinned(self.cores):  # built inside: MediaPipe's graph threads inherit the cores
            self._perceive()

    def _perceive(self) -> None:
        perceiver, index = Perceiver(load_config().perception), 0
        try:
            while not self._stop.is_set():
                if not self.active.wait(timeout=0.1):
                    continue
                image = self._images[index % len(self._images)]
                perceiver.process(Frame(index, index / 30.0, 0.0, image, mirrored=True))
                index += 1
                self.frames += 1
        finally:
            perceiver.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10.0)


def render_window(generator: GeneratorHost, seconds: float, rng: np.random.Generator) -> list[float]:
    """Per-frame ms of the generator rendering a fresh latent each frame for ``seconds``."""
    times, started = [], time.perf_counter()
    while time.perf_counter() - started < seconds:
        z = rng.standard_normal(generator.latent_dim).astype(np.float32)  # never close enough to reuse
        mark = time.perf_counter()
        generator.render(LatentState(z))
        times.append((time.perf_counter() - mark) * 1000.0)
    return times


@dataclass(frozen=True)
class Variant:
    """One way to run the two threads side by side."""

    name: str
    torch_threads: int
    pinned: bool  # the loop and MediaPipe on separate cores (installation.affinity)


def variants_for(config, thread_counts: tuple[int, ...]) -> list[Variant]:
    """The configured way first, then the others it is compared with."""
    threads = max(1, config.generator.torch_threads)
    pinned = core_plan(config.perception.pin_cores) is not None
    configured = Variant(_name(threads, pinned), threads, pinned)
    others = [Variant(_name(n, False), n, False) for n in thread_counts]
    if pinned:
        others.insert(0, Variant(_name(threads, False), threads, False))
    return list(dict.fromkeys([configured, *others]))


def _name(threads: int, pinned: bool) -> str:
    return f"{threads} torch thread{'s' if threads != 1 else ''}, {'pinned cores' if pinned else 'any core'}"


def run(clip: Path = DEFAULT_CLIP, seconds: float = 4.0, rounds: int = 3, thread_counts: tuple[int, ...] = (1, 2)) -> dict:
    """The ``contention`` entry of benchmarks/results.json: the value is the configured variant's
    (``generator.torch_threads``, ``perception.pin_cores``); the others are measured beside it."""
    config = load_config()
    generator = GeneratorHost(replace(config.generator, device="cpu"))
    generator.warm_up()
    plan = core_plan(True)
    variants = variants_for(config, thread_counts)
    loads = {pinned: PerceptionLoad(clip, plan.perception if pinned and plan else None)
             for pinned in {v.pinned for v in variants}}
    rng = np.random.default_rng(0)
    samples = {v: {"alone": [], "with": []} for v in variants}
    perceived: dict[Variant, list[float]] = {v: [] for v in variants}
    try:
        for load in loads.values():  # MediaPipe's graphs start up outside the timed windows
            load.active.set()
            time.sleep(2.0)
            load.active.clear()
        for _ in range(rounds):
            for variant in variants:
                torch.set_num_threads(variant.torch_threads)
                load = loads[variant.pinned]
                with pinned(plan.loop if variant.pinned and plan else None):
                    samples[variant]["alone"] += render_window(generator, seconds, rng)
                    before, load_started = load.frames, time.perf_counter()
                    load.active.set()
                    samples[variant]["with"] += render_window(generator, seconds, rng)
                    load.active.clear()
                perceived[variant].append((load.frames - before) / (time.perf_counter() - load_started))
    finally:
        for load in loads.values():
            load.close()
        torch.set_num_threads(max(1, config.generator.torch_threads))
    rows = {v.name: _row(samples[v]["alone"], samples[v]["with"], perceived[v]) for v in variants}
    value = rows[variants[0].name]["ratio"]
    return {"value": value, "target": TARGET, "meets": value <= TARGET, "configured": variants[0].name,
            "torch_threads": variants[0].torch_threads, "pinned": variants[0].pinned,
            "generator": f"{config.generator.model} {generator.resolution}px cpu", "clip": clip.name,
            "seconds_per_window": seconds, "rounds": rounds, "variants": rows}


def _row(alone: list[float], with_perception: list[float], perceived: list[float]) -> dict:
    p95_alone, p95_with = float(np.percentile(alone, 95)), float(np.percentile(with_perception, 95))
    return {
        "p95_alone_ms": round(p95_alone, 3), "p95_with_perception_ms": round(p95_with, 3),
        "p50_alone_ms": round(statistics.median(alone), 3),
        "p50_with_perception_ms": round(statistics.median(with_perception), 3),
        "ratio": round(p95_with / p95_alone, 3),
        "frames_alone": len(alone), "frames_with_perception": len(with_perception),
        "perception_fps_beside": round(statistics.median(perceived), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    silence_native_stderr()
    print(json.dumps(run(args.clip, args.seconds, args.rounds, tuple(args.threads)), indent=2))


if __name__ == "__main__":
    main()
