"""Generator throughput: images per second at batch 1, for every model and resolution.

Measured, each on the CPU (with the configured ``generator.torch_threads``, the live loop's
setting) and, when CUDA is available, on the GPU in fp16:

- the CPPN at 64, 128 and 256 pixels;
- every shipped checkpoint in ``models/defaults`` at its own resolution; a diffusion model at each
  of ``DIFFUSION_STEPS`` sampling steps (one image = the whole few-step DDIM sample);
- a TorchScript and an ONNX export of one model (the first shipped checkpoint, or the CPPN at 128
  when none is shipped), loaded through ``models.importers`` as the runtime loads them.

One "image" is one forward pass of a (1, D) latent, waited for (on CUDA: synchronised), as the
live loop renders a frame; the conversion to uint8 and the display are not included. Each case
runs for ``--seconds`` in each of ``--rounds`` rounds, interleaved (A B C A B C ...) so machine
noise hits all cases alike; the median round is reported, with the slowest and fastest.

    .venv/bin/python benchmarks/generator_throughput.py [--seconds 2] [--rounds 3] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch  # noqa: E402
from common import RESULTS, ROOT, write_results  # first: puts the project on sys.path
from torch import nn  # noqa: E402

from installation.config import GeneratorConfig, load_config  # noqa: E402
from models import DEFAULTS_DIR, build_generator, shipped_models  # noqa: E402
from models.importers import load_imported  # noqa: E402

log = logging.getLogger("generator_throughput")
CPPN_RESOLUTIONS = (64, 128, 256)
DIFFUSION_STEPS = (4, 6, 8)
EXPORT_FALLBACK_RESOLUTION = 128  # the CPPN is exported at this size when no checkpoint is shipped


@dataclass
class Case:
    """One row of the table: a model on a device, and the call that renders one image."""

    model: str
    kind: str  # cppn | vae | gan | torchscript | onnx
    resolution: int
    device: str  # cpu | cuda
    precision: str  # fp32 | fp16
    render: Callable[[], object]
    rates: list[float]


def _timed_rate(render: Callable[[], object], seconds: float, cuda: bool) -> float:
    """Images per second of ``render`` over about ``seconds``, after one untimed call."""
    render()
    if cuda:
        torch.cuda.synchronize()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        render()
        if cuda:
            torch.cuda.synchronize()  # batch 1, frame by frame: each image is waited for
        count += 1
    return count / (time.perf_counter() - started)


def _render_call(model: nn.Module, device: torch.device, dtype: torch.dtype) -> Callable[[], object]:
    z = torch.randn(1, int(model.latent_dim), generator=torch.Generator().manual_seed(0)).to(device, dtype)

    def render() -> object:
        with torch.inference_mode():
            return model(z)

    return render


def _kind(model: nn.Module) -> str:
    meta = getattr(model, "meta", None)
    if meta is not None and hasattr(meta, "format"):
        return meta.format
    return type(model).__name__.lower().replace("generator", "").replace("model", "") or "model"


def _native_models(threads: int) -> list[tuple[str, nn.Module]]:
    """(name, CPU model in eval mode) for the CPPN at each resolution and each shipped checkpoint."""
    models = []
    for resolution in CPPN_RESOLUTIONS:
        config = GeneratorConfig(model="cppn", resolution=resolution, device="cpu", torch_threads=threads)
        models.append(("cppn", build_generator(config).eval()))
    for name in shipped_models():
        model = build_generator(GeneratorConfig(model=name, device="cpu", torch_threads=threads))
        if not hasattr(model, "sample_steps"):
            models.append((name, model))
            continue
        for steps in DIFFUSION_STEPS:  # one row per step count
            at_steps = copy.deepcopy(model)
            at_steps.sample_steps = steps
            models.append((f"{name}, {steps} steps", at_steps))
    return models


class _Unconditional(nn.Module):
    """forward(z) -> model(z): the one-input form an exported generator has."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)


def _exports(source_name: str, source: nn.Module, folder: Path, threads: int) -> list[tuple[str, nn.Module]]:
    """TorchScript and ONNX exports of ``source``, loaded back as the runtime loads them."""
    wrapped = _Unconditional(source).eval()
    example = torch.zeros(1, int(source.latent_dim))
    exported = []
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks become constants: intended
        traced = torch.jit.trace(wrapped, example, check_trace=False)
    script_path = folder / f"{source_name}.pt"
    torch.jit.save(traced, str(script_path), _extra_files={"generator.json": json.dumps({"latent_dim": int(source.latent_dim)})})
    exported.append((f"{source_name} (TorchScript)", load_imported(script_path).eval()))
    try:
        onnx_path = folder / f"{source_name}.onnx"
        torch.onnx.export(wrapped, (example,), str(onnx_path), input_names=["z"], output_names=["image"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, verbose=False)
        exported.append((f"{source_name} (ONNX)", load_imported(onnx_path, threads=threads)))
    except Exception as error:  # a missing exporter or runtime is reported in the table's notes
        log.warning("ONNX export or load of %s failed, no ONNX row: %s", source_name, str(error).splitlines()[0])
    return exported


def build_cases(threads: int, folder: Path) -> tuple[list[Case], list[str]]:
    """Every (model, device) case to time, and notes on what could not be measured."""
    notes: list[str] = []
    native = _native_models(threads)
    # A diffusion model's sampling loop is not exported: the exports are of a one-pass generator.
    shipped = [(name, model) for name, model in native if name != "cppn" and not hasattr(model, "sample_steps")]
    if shipped:
        export_name, export_source = shipped[0]
    else:
        notes.append(f"no checkpoints in {DEFAULTS_DIR.relative_to(ROOT)}: the exports are of the CPPN at "
                     f"{EXPORT_FALLBACK_RESOLUTION}")
        export_name = "cppn"
        export_source = next(model for name, model in native if model.resolution == EXPORT_FALLBACK_RESOLUTION)
    imported = _exports(export_name, export_source, folder, threads)
    cpu = torch.device("cpu")
    cases = [Case(name, _kind(model), int(model.resolution), "cpu", "fp32",
                  _render_call(model, cpu, torch.float32), []) for name, model in native + imported]
    if torch.cuda.is_available():
        cuda = torch.device("cuda")
        for name, model in native:
            gpu_model = _copy_to_cuda_half(model)
            cases.append(Case(name, _kind(model), int(model.resolution), "cuda", "fp16",
                              _render_call(gpu_model, cuda, torch.float16), []))
        for name, model in imported:  # an imported file keeps its own precision
            on_gpu = model if model.meta.format == "onnx" else model.to(cuda)
            cases.append(Case(name, model.meta.format, int(model.resolution), "cuda", "fp32",
                              _render_call(on_gpu, cuda, torch.float32), []))
    else:
        notes.append("CUDA not available on this machine: CPU only")
    return cases, notes


def _copy_to_cuda_half(model: nn.Module) -> nn.Module:
    gpu_model = copy.deepcopy(model).to("cuda").half()
    if any(parameter.dim() == 4 for parameter in gpu_model.parameters()):
        gpu_model.to(memory_format=torch.channels_last)
    return gpu_model


def markdown(results: dict) -> str:
    lines = [
        f"Batch 1, images per second (median of {results['rounds']} rounds of {results['seconds_per_round']} s; "
        f"slowest..fastest round). CPU: {results['cpu_count']} cores, torch threads {results['torch_threads']}.",
        "",
        "| model | kind | resolution | device | precision | images/s | range | ms/image |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["cases"]:
        lines.append(f"| {row['model']} | {row['kind']} | {row['resolution']} | {row['device']} | {row['precision']} | "
                     f"{row['images_per_s']:.1f} | {row['slowest']:.1f}..{row['fastest']:.1f} | "
                     f"{1000.0 / row['images_per_s']:.2f} |")
    if results["notes"]:
        lines.append("")
        lines.extend(f"- {note}" for note in results["notes"])
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per case and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: generator.torch_threads from config.toml)")
    parser.add_argument("--out", type=Path, default=RESULTS / "generator_throughput.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    threads = args.threads if args.threads is not None else load_config().generator.torch_threads
    if threads > 0:
        torch.set_num_threads(threads)

    with tempfile.TemporaryDirectory() as folder:
        cases, notes = build_cases(threads, Path(folder))
        for round_index in range(args.rounds):
            for case in cases:
                case.rates.append(_timed_rate(case.render, args.seconds, case.device == "cuda"))
            print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)

    results = {
        "seconds_per_round": args.seconds,
        "rounds": args.rounds,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "notes": notes,
        "cases": [
            {"model": case.model, "kind": case.kind, "resolution": case.resolution, "device": case.device,
             "precision": case.precision, "images_per_s": round(statistics.median(case.rates), 2),
             "slowest": round(min(case.rates), 2), "fastest": round(max(case.rates), 2),
             "rounds": [round(rate, 2) for rate in case.rates]}
            for case in cases
        ],
    }
    write_results(args.out, results, markdown(results))


if __name__ == "__main__":
    main()
