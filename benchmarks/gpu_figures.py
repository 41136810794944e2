"""The GPU figures of issue 22 in one run: generators, painting, diffusion and the live loop.

    python benchmarks/gpu_figures.py [--device auto|cpu|cuda] [--quick] [--out DIR]

Writes ``gpu_figures.json`` and ``gpu_figures.md`` (the card's name in both) to DIR (default:
$OUT, else benchmarks/results/gpu). ``benchmarks/gpu_check.sh`` runs it on a lent GPU machine;
``--device cpu --quick`` runs every section here, small, so the code path is tested on CPU.

- **generators**: images/s of the CPPN, the GAN and the VAE at 256² and 512², fp16 and fp32,
  batch 1 and 8. The shipped checkpoints are 64²; their architecture (the checkpoint's own
  hyper-parameters, resolution changed) is built with random weights at each size: the speed of
  a network does not depend on its weights. Each call is waited for (``torch.cuda.synchronize``),
  as the live loop waits for its frame; images/s = batch × calls/s.
- **diffusion**: the shipped diffusion model's images/s at 4, 6 and 8 DDIM steps (one image = the
  whole sample), at its own 64² with its weights and at 256² (its architecture's largest size),
  fp16 and fp32, batch 1 and 8.
- **painting**: paintings/s of the configured style (``paint.style``) at 1280×720 and 1920×1080,
  through onnxruntime as the painter runs it (its CUDA provider where it has one; the JSON says
  which provider ran).
- **loop**: the live loop (``installation.runtime.Runtime``, headless, display paced at 60 Hz,
  painting off) on ``installation/assets/demo_asl.mp4`` played as a 30 fps camera, the generator on
  ``--device``: latency p50 ÷ the sum of the stages' p50, and freshness = observations drawn per
  second ÷ min(camera fps, 60). With MediaPipe importable, perception is MediaPipe (threaded, as
  configured); without it (a GPU image's Python 3.12: mediapipe 0.10.21 has no cp312 wheel),
  perception is *replayed*: MediaPipe's observations of this clip, recorded once with
  ``--record-observations`` into ``benchmarks/data/``, are handed to the loop for each camera frame
  as it arrives, at no cost. Then the perception stage is 0 ms and the figure is the loop around
  a free perception: what the GPU generator, scene and display cost end to end.

Rates are measured in interleaved rounds (A B C A B C) so noise hits every case alike; the median
round is reported. Targets (issue 22): 512² generator ≥ 500 images/s in fp16, painting at 720p ≥ 60
paintings/s, the loop at display refresh with latency p50 ≤ 1.2 × stages.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import gzip
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from installation.config import GeneratorConfig, load_config, override  # noqa: E402
from models import DEFAULTS_DIR, build_generator, shipped_models  # noqa: E402
from models.checkpoint import read_checkpoint_meta  # noqa: E402

log = logging.getLogger("gpu_figures")

CLIP = ROOT / "installation" / "assets" / "demo_asl.mp4"  # in the repository: travels to a GPU machine
OBSERVATIONS = ROOT / "benchmarks" / "data" / "demo_asl_observations.json.gz"
GENERATOR_SIZES = (256, 512)
DIFFUSION_STEPS = (4, 6, 8)
BATCHES = (1, 8)
PAINT_SIZES = ((1280, 720), (1920, 1080))
DISPLAY_HZ = 60.0
STAGE_NAMES = ("capture", "perception", "tracking", "scene", "generate", "display")
TARGETS = {"generator_512_fp16_images_per_s": 500.0, "painting_720p_fps": 60.0, "loop_latency_over_stages": 1.2}


@dataclass(frozen=True)
class Settings:
    """What one run measures; ``quick`` shrinks every section to seconds on a CPU."""

    device: torch.device
    seconds: float  # timed seconds per case and round
    rounds: int
    generator_sizes: tuple[int, ...]
    diffusion_sizes: tuple[int, ...]  # beside the model's own resolution
    diffusion_steps: tuple[int, ...]
    batches: tuple[int, ...]
    paint_sizes: tuple[tuple[int, int], ...]
    loop_seconds: float
    precisions: tuple[str, ...]

    @staticmethod
    def make(device: torch.device, quick: bool) -> Settings:
        # fp16 on a CPU is emulated and tells nothing: the CPU run measures fp32 only
        precisions = ("fp16", "fp32") if device.type == "cuda" else ("fp32",)
        if quick:
            return Settings(device, 0.05, 1, (32,), (), (4,), (1, 2), ((320, 180),), 3.0, precisions)
        return Settings(device, 0.5, 3, GENERATOR_SIZES, (256,), DIFFUSION_STEPS, BATCHES, PAINT_SIZES, 12.0, precisions)


@dataclass
class RateCase:
    """One row: a call that renders ``batch`` images, and its calls/s in each round."""

    row: dict
    render: Callable[[], object]
    batch: int
    rates: list[float] = dataclasses.field(default_factory=list)


def machine(device: torch.device) -> dict:
    """The card, the software and the CPU the figures came from."""
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    try:
        import onnxruntime
        ort = {"version": onnxruntime.__version__, "providers": onnxruntime.get_available_providers()}
    except ImportError:
        ort = None
    return {"device": device.type, "card": card or f"CPU ({platform.processor() or platform.machine()})",
            "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "onnxruntime": ort, "load_average": list(os.getloadavg()),
            "date": time.strftime("%Y-%m-%d %H:%M")}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # GPU->CPU sync on purpose: each call is waited for, as a frame is


def _calls_per_s(render: Callable[[], object], seconds: float, device: torch.device) -> float:
    """Calls of ``render`` per second over about ``seconds`` (at least two calls), each waited for."""
    count, started = 0, time.perf_counter()
    while count < 2 or time.perf_counter() - started < seconds:
        render()
        _sync(device)
        count += 1
    return count / (time.perf_counter() - started)


def _interleaved(cases: list[RateCase], settings: Settings) -> list[dict]:
    """Warm every case (cuDNN picks its kernels on the first calls), then time them round by round."""
    for case in cases:
        for _ in range(3):
            case.render()
        _sync(settings.device)
    for _ in range(settings.rounds):
        for case in cases:
            case.rates.append(_calls_per_s(case.render, settings.seconds, settings.device))
    rows = []
    for case in cases:
        calls = statistics.median(case.rates)
        rows.append({**case.row, "batch": case.batch, "images_per_s": round(calls * case.batch, 2),
                     "ms_per_call": round(1000.0 / calls, 3), "rounds": [round(r * case.batch, 2) for r in case.rates]})
    return rows


def _on_device(model: nn.Module, device: torch.device, precision: str) -> nn.Module:
    """A copy of ``model`` on ``device`` in ``precision``; convolutional models channels-last on CUDA,
    as ``installation.generator`` runs them."""
    moved = copy.deepcopy(model).to(device).eval()
    if precision == "fp16":
        moved = moved.half()
    if device.type == "cuda" and any(parameter.dim() == 4 for parameter in moved.parameters()):
        moved = moved.to(memory_format=torch.channels_last)
    return moved


def _render_call(model: nn.Module, batch: int, device: torch.device, precision: str) -> Callable[[], object]:
    dtype = torch.float16 if precision == "fp16" else torch.float32
    z = torch.randn(batch, int(model.latent_dim), generator=torch.Generator().manual_seed(0)).to(device, dtype)
    condition = None
    if getattr(model, "themes", ()):  # a conditional model renders its first theme
        condition = torch.zeros(batch, dtype=torch.long, device=device)

    def render() -> object:
        with torch.inference_mode():
            return model(z, condition)

    return render


def _architecture_at(name: str, resolution: int) -> nn.Module | None:
    """The shipped checkpoint ``name``'s network rebuilt at ``resolution`` with random weights, or
    None when its architecture does not go to that size."""
    from models.checkpoint import _model_type, config_from_hparams  # the checkpoint's own rebuild rule

    path = DEFAULTS_DIR / f"{name}.safetensors"
    meta = read_checkpoint_meta(path)
    config_type, model_type = _model_type(meta.kind)
    config = config_from_hparams(path, config_type, meta.hparams)
    try:
        return model_type(dataclasses.replace(config, resolution=resolution)).eval()
    except ValueError as error:  # e.g. the diffusion U-Net stops at 256
        log.info("%s has no %d² form: %s", name, resolution, error)
        return None


def _shipped_kinds() -> dict[str, str]:
    return {name: read_checkpoint_meta(DEFAULTS_DIR / f"{name}.safetensors").kind for name in shipped_models()}


def generator_figures(settings: Settings) -> list[dict]:
    """images/s of the CPPN and each shipped one-pass generator at each size, precision and batch."""
    models: list[tuple[str, int, nn.Module | None]] = []
    for size in settings.generator_sizes:
        models.append(("cppn", size, build_generator(GeneratorConfig(model="cppn", resolution=size, device="cpu")).eval()))
        for name, kind in _shipped_kinds().items():
            if kind != "diffusion":
                models.append((name, size, _architecture_at(name, size)))
    cases, skipped = [], []
    for name, size, model in models:
        if model is None:
            skipped.append({"model": name, "resolution": size, "skipped": "architecture has no such size"})
            continue
        for precision in settings.precisions:
            on_device = _on_device(model, settings.device, precision)
            for batch in settings.batches:
                row = {"model": name, "resolution": size, "precision": precision}
                cases.append(RateCase(row, _render_call(on_device, batch, settings.device, precision), batch))
    return _interleaved(cases, settings) + skipped


def diffusion_figures(settings: Settings) -> list[dict]:
    """images/s of each shipped diffusion model at each step count: its own size (its weights) and
    the larger sizes of ``settings`` (its architecture, random weights)."""
    cases = []
    for name, kind in _shipped_kinds().items():
        if kind != "diffusion":
            continue
        own = build_generator(GeneratorConfig(model=name, device="cpu")).eval()
        sized = [(int(own.resolution), own)] + [(size, _architecture_at(name, size)) for size in settings.diffusion_sizes]
        for size, model in sized:
            if model is None:
                continue
            for precision in settings.precisions:
                on_device = _on_device(model, settings.device, precision)
                for steps in settings.diffusion_steps:
                    at_steps = copy.copy(on_device)  # shares the weights; only the step count differs
                    at_steps.sample_steps = steps
                    for batch in settings.batches:
                        row = {"model": name, "resolution": size, "steps": steps, "precision": precision}
                        cases.append(RateCase(row, _render_call(at_steps, batch, settings.device, precision), batch))
    return _interleaved(cases, settings)


def painting_figures(settings: Settings) -> list[dict]:
    """Paintings/s of the configured style at each size, through onnxruntime as the painter runs it."""
    import cv2

    from installation.file_sources import clip_frames
    from installation.painting.styles import StyleLibrary
    from models.style_networks import StyleNetworks

    networks = StyleNetworks(threads=1, device="cuda" if settings.device.type == "cuda" else "cpu")
    code = StyleLibrary(networks).code_for(load_config().paint.style)
    frame = cv2.cvtColor(clip_frames(CLIP, limit=1)[0], cv2.COLOR_BGR2RGB)
    cases = []
    for width, height in settings.paint_sizes:
        content = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
        row = {"size": f"{width}x{height}", "provider": networks.providers[0], "style": load_config().paint.style}
        cases.append(RateCase(row, lambda content=content: networks.paint(content, code), 1))
    # onnxruntime waits for its own result: no torch sync is needed, _sync on CUDA only costs microseconds
    return [{**row, "fps": row.pop("images_per_s")} for row in _interleaved(cases, settings)]


class ReplayedPerception:
    """Hands the loop MediaPipe's recorded observation of each camera frame as it arrives, at no
    cost: the loop's perception stage on a machine without MediaPipe (see the module docstring)."""

    errors = dropped = restarts = 0

    def __init__(self, recorded: list[dict]) -> None:
        self._recorded = recorded
        self._result = None

    @staticmethod
    def load(path: Path = OBSERVATIONS) -> ReplayedPerception:
        """Raises FileNotFoundError naming the command that records the file."""
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: record it with "
                                    f"`python benchmarks/gpu_figures.py --record-observations` (needs MediaPipe)")
        with gzip.open(path, "rt") as stream:
            return ReplayedPerception(json.load(stream)["frames"])

    def counters(self) -> dict[str, int]:
        return {}

    def submit(self, frame) -> None:
        from installation.contracts import Hand, Observation, Side

        record = self._recorded[frame.index % len(self._recorded)]  # the clip loops; indices keep counting
        pose = np.asarray(record["pose"], np.float32).reshape(-1, 4)
        hands = tuple(Hand(np.asarray(h["landmarks"], np.float32), Side(h["side"]), h["score"]) for h in record["hands"])
        self._result = Observation(frame.index, frame.timestamp_s, frame.wall_s, pose, hands, perception_ms=0.0)

    def poll(self):
        result, self._result = self._result, None
        return result

    wait = poll

    def idle(self, timeout_s: float, sleep) -> None:
        sleep(timeout_s)  # nothing arrives while the loop sleeps: submit runs in the loop's thread

    def close(self) -> None:
        pass


def mediapipe_available() -> bool:
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _perception_built_as(perception: ReplayedPerception | None) -> Iterator[None]:
    """While open, ``installation.app.build_stages`` gets ``perception`` instead of building
    MediaPipe's (it builds it eagerly, and MediaPipe may not be installed). None: unchanged."""
    import installation.app as app

    if perception is None:
        yield
        return
    original = app._perception
    app._perception = lambda config, venue, cores, lockstep: perception
    try:
        yield
    finally:
        app._perception = original


def loop_figures(settings: Settings, replay: bool) -> dict:
    """Latency p50 ÷ stages and freshness of the live loop on the clip, display paced at 60 Hz."""
    from installation.app import build_stages
    from installation.clock import MonotonicClock, wall_s
    from installation.display import HeadlessDisplay, NullSink
    from installation.file_sources import VideoFileSource
    from installation.live_sources import RealtimePlayback
    from installation.runtime import Runtime

    config = load_config()
    config = override(config, "source", mirror=False)
    config = override(config, "paint", enabled=False)  # the loop figures are measured unpainted (README)
    config = override(config, "generator", device=settings.device.type, adaptive=False)
    config = override(config, "display", target_fps=DISPLAY_HZ)
    perception = ReplayedPerception.load() if replay else None
    clock = MonotonicClock()
    source = RealtimePlayback(VideoFileSource(CLIP, loop=True), clock)
    display = HeadlessDisplay((config.headless.width, config.headless.height), config.display.fit, NullSink(),
                              pace_fps=DISPLAY_HZ)
    with _perception_built_as(perception):
        runtime = Runtime(build_stages(config, source, display, lockstep=False), clock, False)
    started = wall_s()
    stats = runtime.run(max_wall_s=settings.loop_seconds)
    elapsed = wall_s() - started
    stages = {name: stats.stages_ms[name].p50 for name in STAGE_NAMES}
    stage_sum = sum(stages.values())
    fresh_per_s = stats.frames / elapsed
    return {
        "clip": CLIP.relative_to(ROOT).as_posix(), "perception": "replayed" if replay else "mediapipe",
        "generator": f"{config.generator.model} {config.generator.resolution}² on {settings.device.type}",
        "seconds": round(elapsed, 2), "display_hz": DISPLAY_HZ, "camera_fps": source.fps,
        "render_fps": stats.render_fps, "latency_p50_ms": stats.latency_ms.p50,
        "latency_p95_ms": stats.latency_ms.p95, "stages_p50_ms": stages, "stage_sum_p50_ms": round(stage_sum, 3),
        "latency_over_stages": round(stats.latency_ms.p50 / stage_sum, 3) if stage_sum > 0 else None,
        "new_pictures_per_s": round(fresh_per_s, 2),
        "freshness": round(fresh_per_s / min(source.fps, DISPLAY_HZ), 3),
    }


def record_observations(path: Path = OBSERVATIONS) -> int:
    """MediaPipe's observation of every frame of the clip (the configured Perceiver, unmirrored),
    written gzipped to ``path`` for ``ReplayedPerception``; returns the number of frames."""
    from installation.file_sources import VideoFileSource
    from installation.perceiver import Perceiver

    perceiver = Perceiver(load_config().perception)
    source = VideoFileSource(CLIP)
    frames = []
    try:
        while (frame := source.read()) is not None:
            seen = perceiver.process(frame)
            frames.append({"pose": np.round(seen.pose, 4).tolist(),
                           "hands": [{"landmarks": np.round(h.landmarks, 4).tolist(), "side": h.side.value,
                                      "score": round(float(h.score), 3)} for h in seen.hands]})
    finally:
        source.close()
        perceiver.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as stream:
        json.dump({"clip": CLIP.relative_to(ROOT).as_posix(), "frames": frames}, stream, separators=(",", ":"))
    return len(frames)


def summary(results: dict) -> dict:
    """Each issue-22 target beside the figure it judges (None: that section was not measured)."""
    def best(rows: list[dict], **match) -> float | None:
        values = [row["images_per_s"] for row in rows if all(row.get(k) == v for k, v in match.items())]
        return max(values) if values else None

    figures = {
        "generator_512_fp16_images_per_s": min(
            (v for v in (best(results.get("generators", []), model=m, resolution=512, precision="fp16")
                         for m in {r["model"] for r in results.get("generators", [])}) if v is not None), default=None),
        "painting_720p_fps": next((row["fps"] for row in results.get("painting", []) if row["size"] == "1280x720"), None),
        "loop_latency_over_stages": results.get("loop", {}).get("latency_over_stages"),
    }
    lower_is_better = {"loop_latency_over_stages"}
    return {key: {"value": value, "target": TARGETS[key],
                  "meets": None if value is None else (value <= TARGETS[key] if key in lower_is_better else value >= TARGETS[key])}
            for key, value in figures.items()}


def markdown(results: dict) -> str:
    """The tables of ``results``: targets first, then each section."""
    m = results["machine"]
    lines = [f"GPU figures on **{m['card']}** (torch {m['torch']}, CUDA {m['cuda']}, Python {m['python']}), "
             f"{m['date']}{', quick run' if results['quick'] else ''}.", "",
             "| figure | value | target | met |", "|---|---|---|---|"]
    for key, entry in results["summary"].items():
        value = "—" if entry["value"] is None else f"{entry['value']:.2f}"
        met = "—" if entry["meets"] is None else ("yes" if entry["meets"] else "no")
        sign = "≤" if key == "loop_latency_over_stages" else "≥"
        lines.append(f"| {key} | {value} | {sign} {entry['target']:g} | {met} |")
    if results.get("generators"):
        lines += ["", "Generators, images/s (the slowest model's best batch is the 512² figure above):", "",
                  "| model | size | precision | batch | images/s | ms/call |", "|---|---|---|---|---|---|"]
        for row in results["generators"]:
            if "skipped" in row:
                lines.append(f"| {row['model']} | {row['resolution']} | | | {row['skipped']} | |")
            else:
                lines.append(f"| {row['model']} | {row['resolution']} | {row['precision']} | {row['batch']} | "
                             f"{row['images_per_s']:.1f} | {row['ms_per_call']:.2f} |")
    if results.get("diffusion"):
        lines += ["", "Diffusion, images/s (one image = the whole sample):", "",
                  "| model | size | steps | precision | batch | images/s | ms/call |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['resolution']} | {r['steps']} | {r['precision']} | {r['batch']} | "
                  f"{r['images_per_s']:.1f} | {r['ms_per_call']:.2f} |" for r in results["diffusion"]]
    if results.get("painting"):
        lines += ["", "Painting (onnxruntime):", "", "| size | provider | style | paintings/s | ms |", "|---|---|---|---|---|"]
        lines += [f"| {r['size']} | {r['provider']} | {r['style']} | {r['fps']:.1f} | {r['ms_per_call']:.1f} |"
                  for r in results["painting"]]
    if results.get("loop"):
        loop = results["loop"]
        stages = ", ".join(f"{name} {ms:.1f}" for name, ms in loop["stages_p50_ms"].items())
        lines += ["", f"Live loop on `{loop['clip']}` ({loop['camera_fps']:g} fps camera, display {loop['display_hz']:g} Hz, "
                  f"{loop['generator']}, perception {loop['perception']}, {loop['seconds']} s): rendered "
                  f"{loop['render_fps']:.1f} fps, latency p50 {loop['latency_p50_ms']:.1f} ms (p95 {loop['latency_p95_ms']:.1f}) "
                  f"÷ stages {loop['stage_sum_p50_ms']:.1f} ms = {loop['latency_over_stages']}; freshness {loop['freshness']:.2f} "
                  f"({loop['new_pictures_per_s']:.1f} new pictures/s). Stage p50s (ms): {stages}."]
    for section, error in results.get("errors", {}).items():
        lines.append(f"\n- {section}: not measured ({error})")
    return "\n".join(lines) + "\n"


SECTIONS = {"generators": generator_figures, "diffusion": diffusion_figures, "painting": painting_figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and runs: checks the code path, not the figures")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or ROOT / "benchmarks" / "results" / "gpu"))
    parser.add_argument("--only", nargs="*", choices=(*SECTIONS, "loop"), default=None, help="sections to run (default all)")
    parser.add_argument("--replay-perception", action="store_true",
                        help="replayed observations even where MediaPipe is installed (the GPU machine's way)")
    parser.add_argument("--record-observations", action="store_true", help=f"write {OBSERVATIONS.name} and stop")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if args.record_observations:
        log.info("recorded %d frames into %s", record_observations(), OBSERVATIONS)
        return
    wanted = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = torch.device("cpu" if wanted == "auto" else wanted)
    torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels during warm-up
    settings = Settings.make(device, args.quick)
    results: dict = {"machine": machine(device), "quick": args.quick, "errors": {}}
    for section in args.only or (*SECTIONS, "loop"):
        log.info("measuring %s on %s", section, device)
        try:  # one section failing (a missing package on a bare machine) must not lose the others' figures
            if section == "loop":
                results["loop"] = loop_figures(settings, replay=args.replay_perception or not mediapipe_available())
            else:
                results[section] = SECTIONS[section](settings)
        except Exception as error:
            log.exception("%s failed", section)
            results["errors"][section] = f"{type(error).__name__}: {error}"
    results["summary"] = summary(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_figures.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "gpu_figures.md").write_text(markdown(results))
    print(markdown(results))
    sys.exit(1 if results["errors"] else 0)


if __name__ == "__main__":
    main()
