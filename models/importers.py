"""Imported generators: a TorchScript or ONNX file used as the installation's generator.

The file must map latents (B, D) float32 to images (B, 3, H, W) in [-1, 1], with no other input
(imported generators are unconditional). ``load_imported`` reads it, wraps it as an ``nn.Module``
that meets the generator contract (``latent_dim``, ``resolution``, ``forward(z, condition)``)
and probes it once with a zero latent and one seeded normal latent, so a file that breaks the
contract fails at start-up, naming the file and what was found, never in the middle of a show.

- TorchScript (``.pt``, ``.ts``) is read with ``torch.jit.load``: a TorchScript archive holds
  code and tensors, not arbitrary pickled Python objects. A file written by ``torch.save`` is
  refused with a message saying how to export one.
- ONNX (``.onnx``) runs through onnxruntime, an optional extra (``requirements-dev.txt``).

The latent size D comes from, in order: an ONNX input shape with a fixed D; the file's own
metadata (a ``generator.json`` extra file in a TorchScript archive, or ONNX metadata properties)
with a ``latent_dim`` key; a scripted module's ``latent_dim`` attribute; the ``latent_dim`` the
caller passes (``generator.latent_dim`` in the config). ``docs/importing-generators.md`` shows
how to export a PyTorch generator both ways.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.errors import ModelError

logger = logging.getLogger(__name__)

TORCHSCRIPT_SUFFIXES = (".pt", ".ts")
ONNX_SUFFIXES = (".onnx",)
IMPORT_SUFFIXES = TORCHSCRIPT_SUFFIXES + ONNX_SUFFIXES
METADATA_FILE = "generator.json"  # TorchScript extra file; the same keys as ONNX metadata properties
OUTPUT_LIMIT = 1.05  # |value| allowed at load: [-1, 1] plus slack for rounding and fp16
ONNXRUNTIME_PIN = "onnxruntime==1.32.0"
_PROBE_SEED = 0
_ONNX_FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


class ImportedModelError(ModelError):
    """An imported generator file is missing, unreadable, or breaks the generator contract."""


@dataclass(frozen=True)
class ImportedMeta:
    """What an imported file turned out to be, found at load."""

    format: str  # "torchscript" | "onnx"
    path: str
    sha256: str  # of the file's bytes: identifies the model for caches (latent directions)
    latent_dim: int  # D
    height: int  # H of the output
    width: int  # W of the output
    max_batch: int | None  # None: any batch size; 1: the file only takes a batch of one
    description: str = ""
    licence: str = ""


class TorchScriptGenerator(nn.Module):
    """A TorchScript module behind the generator contract; the condition is ignored."""

    def __init__(self, module: torch.jit.ScriptModule, meta: ImportedMeta) -> None:
        super().__init__()
        self.inner = module  # a submodule, so .to(device) and .eval() reach its tensors
        _set_contract_attributes(self, meta)

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Returns (B, 3, H, W) for latents z (B, D); ``condition`` is ignored."""
        return self.inner(z)


class OnnxGenerator(nn.Module):
    """An onnxruntime session behind the generator contract; the condition is ignored.

    The session runs where it was created (CPU, or CUDA when asked for and onnxruntime has it);
    ``forward`` takes z on any device and returns the images on z's device.
    """

    def __init__(self, session: Any, meta: ImportedMeta) -> None:
        super().__init__()
        self._session = session
        self._input_name = session.get_inputs()[0].name
        self._input_dtype = _ONNX_FLOAT_TYPES[session.get_inputs()[0].type]
        self._output_name = session.get_outputs()[0].name
        self.supports_cuda_graph = False  # every call round-trips through host memory
        _set_contract_attributes(self, meta)

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Returns (B, 3, H, W) float32 on z's device for latents z (B, D); ``condition`` is ignored."""
        # A GPU -> CPU sync when z is on CUDA: onnxruntime is fed host memory.
        latents = z.detach().to("cpu", torch.float32).numpy().astype(self._input_dtype, copy=False)
        (image,) = self._session.run([self._output_name], {self._input_name: latents})
        return torch.from_numpy(np.asarray(image, dtype=np.float32)).to(z.device)


def load_imported(path: Path | str, latent_dim: int | None = None, device: str = "cpu",
                  threads: int = 0) -> nn.Module:
    """Load and probe a TorchScript (.pt, .ts) or ONNX (.onnx) generator; returns it in eval mode.

    ``latent_dim`` is used when the file does not say its own; ``device`` ("cpu" or "cuda") is
    where an ONNX session runs (TorchScript modules are moved by the caller); ``threads`` > 0
    sets onnxruntime's intra-op threads. Raises ImportedModelError naming the file when it is
    missing, unreadable, of an unknown suffix, or its output is not (B, 3, H, W) in [-1, 1].
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMPORT_SUFFIXES:
        raise ImportedModelError(f"generator file {path}: unknown suffix '{path.suffix}' "
                                 f"(expected one of {', '.join(IMPORT_SUFFIXES)})")
    data = _read_bytes(path)
    if suffix in ONNX_SUFFIXES:
        model = _load_onnx(path, data, latent_dim, device, threads)
    else:
        model = _load_torchscript(path, data, latent_dim)
    meta = model.meta
    logger.info("imported %s generator %s: latent %d, output %d x %d%s", meta.format, path,
                meta.latent_dim, meta.height, meta.width, ", batch 1 only" if meta.max_batch == 1 else "")
    return model


# --- TorchScript ------------------------------------------------------------------------------

def _load_torchscript(path: Path, data: bytes, latent_dim: int | None) -> TorchScriptGenerator:
    extra = {METADATA_FILE: ""}
    try:
        module = torch.jit.load(io.BytesIO(data), map_location="cpu", _extra_files=extra)
    except (RuntimeError, ValueError) as error:
        raise ImportedModelError(f"generator file {path}: {_torchscript_problem(data, error)}") from None
    module.eval()
    file_meta = _parse_metadata(path, extra[METADATA_FILE] or b"{}")
    attribute = getattr(module, "latent_dim", None)
    D, origin = _choose_latent_dim(path, file_meta, attribute if isinstance(attribute, int) else None, latent_dim)
    height, width, max_batch = _probe(path, module, D, origin)
    meta = _meta(path, data, "torchscript", D, height, width, max_batch, file_meta)
    return TorchScriptGenerator(module, meta)


def _torchscript_problem(data: bytes, error: Exception) -> str:
    """Why torch.jit.load refused the bytes, in words that say what to do."""
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except zipfile.BadZipFile:
        return (f"not a readable TorchScript archive ({len(data)} bytes; corrupt or truncated?): "
                f"{_first_line(error)}")
    if not any(name.endswith("constants.pkl") for name in names):
        return ("a torch.save file, not TorchScript: export the generator with torch.jit.trace or "
                "torch.jit.script and save it with torch.jit.save (docs/importing-generators.md)")
    return f"TorchScript archive cannot be loaded: {_first_line(error)}"


# --- ONNX -------------------------------------------------------------------------------------

def _load_onnx(path: Path, data: bytes, latent_dim: int | None, device: str, threads: int) -> OnnxGenerator:
    ort = _import_onnxruntime(path)
    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
    providers = _onnx_providers(ort, device)
    try:
        # From the path, not the bytes: weights may sit in an external data file beside it.
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as error:  # onnxruntime raises its own unexported exception types
        raise ImportedModelError(f"generator file {path}: not a loadable ONNX model ({len(data)} bytes; "
                                 f"corrupt or truncated?): {_first_line(error)}") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) < 1:
        raise ImportedModelError(f"generator file {path}: expected one input (the latent) and an image "
                                 f"output; found inputs {[i.name for i in inputs]}, outputs "
                                 f"{[o.name for o in outputs]}")
    latent = inputs[0]
    if latent.type not in _ONNX_FLOAT_TYPES or len(latent.shape) != 2:
        raise ImportedModelError(f"generator file {path}: input '{latent.name}' is {latent.type} "
                                 f"{latent.shape}; expected a float tensor (B, D)")
    file_meta = {key: value for key, value in session.get_modelmeta().custom_metadata_map.items()}
    shape_D = latent.shape[1] if isinstance(latent.shape[1], int) else None
    D, origin = (shape_D, "the ONNX input shape") if shape_D else _choose_latent_dim(path, file_meta, None, latent_dim)
    probe_meta = ImportedMeta("onnx", str(path), "", D, 0, 0, None)  # replaced once the probe has run
    model = OnnxGenerator(session, probe_meta)
    height, width, max_batch = _probe(path, model, D, origin)
    if latent.shape[0] == 1:
        max_batch = 1  # exported with a fixed batch of one
    _set_contract_attributes(model, _meta(path, data, "onnx", D, height, width, max_batch, file_meta))
    return model


def _import_onnxruntime(path: Path) -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ImportedModelError(
            f"generator file {path}: ONNX generators need onnxruntime, an optional extra; install it "
            f"with `.venv/bin/pip install {ONNXRUNTIME_PIN}` (pinned in requirements-dev.txt)"
        ) from None
    return onnxruntime


def _onnx_providers(ort: Any, device: str) -> list[str]:
    """CUDA first when asked for and this onnxruntime build has it; always the CPU as a fallback."""
    available = ort.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        logger.info("onnxruntime %s has no CUDA provider; the ONNX generator runs on the CPU", ort.__version__)
    return ["CPUExecutionProvider"]


# --- shared: metadata, latent size, the probe -------------------------------------------------

def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise ImportedModelError(f"generator file {path}: file not found")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImportedModelError(f"generator file {path}: cannot be read: {error}") from None
    if not data:
        raise ImportedModelError(f"generator file {path}: the file is empty")
    return data


def _parse_metadata(path: Path, raw: bytes | str) -> dict[str, Any]:
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ImportedModelError(f"generator file {path}: {METADATA_FILE} is not valid JSON: {error}") from None
    if not isinstance(meta, dict):
        raise ImportedModelError(f"generator file {path}: {METADATA_FILE} must be a JSON object, got {meta!r}")
    return meta


def _choose_latent_dim(path: Path, file_meta: dict[str, Any], attribute: int | None,
                       configured: int | None) -> tuple[int, str]:
    """Returns (D, where D came from), preferring what the file says about itself."""
    if "latent_dim" in file_meta:
        try:
            return int(file_meta["latent_dim"]), "the file's metadata"
        except (TypeError, ValueError):
            raise ImportedModelError(f"generator file {path}: metadata latent_dim = "
                                     f"{file_meta['latent_dim']!r} is not an integer") from None
    if attribute is not None:
        return attribute, "the module's latent_dim attribute"
    if configured is not None:
        return configured, "generator.latent_dim in the config"
    raise ImportedModelError(f"generator file {path}: the latent size is not in the file; "
                             "pass latent_dim (generator.latent_dim in the config)")


def _probe(path: Path, model: Any, D: int, origin: str) -> tuple[int, int, int | None]:
    """Run a zero latent and a seeded normal latent through ``model``; returns (H, W, max_batch).

    Batch 2 is tried first; a file that only takes batch 1 is probed one latent at a time and
    reported with max_batch 1. Raises ImportedModelError for a rejected latent, a wrong output
    shape, or values that are not finite or outside [-OUTPUT_LIMIT, OUTPUT_LIMIT].
    """
    zero = torch.zeros(1, D)
    normal = torch.randn(1, D, generator=torch.Generator().manual_seed(_PROBE_SEED))
    first = _run_probe(path, model, zero, origin)  # the shape a wrong D fails on, with its error
    try:
        pair = _run_probe(path, model, torch.cat([zero, normal]), origin)
        outputs, max_batch = [pair], None
    except ImportedModelError:
        outputs, max_batch = [first, _run_probe(path, model, normal, origin)], 1
    images = torch.cat(outputs)
    if not torch.isfinite(images).all():
        raise ImportedModelError(f"generator file {path}: output holds NaN or inf for a zero or normal latent")
    low, high = float(images.min()), float(images.max())
    if low < -OUTPUT_LIMIT or high > OUTPUT_LIMIT:
        raise ImportedModelError(
            f"generator file {path}: output values span [{low:.3g}, {high:.3g}]; a generator must return "
            "images in [-1, 1] (end it with tanh; map a [0, 1] output with x * 2 - 1, a [0, 255] one "
            "with x / 127.5 - 1)")
    return int(images.shape[2]), int(images.shape[3]), max_batch


def _run_probe(path: Path, model: Any, z: torch.Tensor, origin: str) -> torch.Tensor:
    with torch.inference_mode():
        try:
            image = model(z)
        except Exception as error:  # a foreign model can raise anything; it is reported, not hidden
            raise ImportedModelError(
                f"generator file {path}: rejected a latent of shape {tuple(z.shape)} (D = {z.shape[1]} "
                f"from {origin}): {_last_line(error)}; set generator.latent_dim to the size it was "
                f"exported with, or store it in the file (docs/importing-generators.md)") from None
    if not isinstance(image, torch.Tensor):
        raise ImportedModelError(f"generator file {path}: returned {type(image).__name__}; expected one "
                                 "image tensor (B, 3, H, W)")
    if image.dim() != 4 or image.shape[0] != z.shape[0] or image.shape[1] != 3:
        raise ImportedModelError(f"generator file {path}: output shape {tuple(image.shape)} for a latent "
                                 f"of shape {tuple(z.shape)}; expected ({z.shape[0]}, 3, H, W)")
    return image.float()


def _meta(path: Path, data: bytes, kind: str, D: int, height: int, width: int, max_batch: int | None,
          file_meta: dict[str, Any]) -> ImportedMeta:
    digest = hashlib.sha256(data)
    external = path.with_name(path.name + ".data")  # the torch ONNX exporter's external weights
    if kind == "onnx" and external.is_file():
        digest.update(external.read_bytes())
    return ImportedMeta(format=kind, path=str(path), sha256=digest.hexdigest(), latent_dim=D,
                        height=height, width=width, max_batch=max_batch,
                        description=str(file_meta.get("description", "")),
                        licence=str(file_meta.get("licence", "")))


def _set_contract_attributes(model: nn.Module, meta: ImportedMeta) -> None:
    """The generator contract's attributes; ``resolution`` is H (the output need not be square)."""
    model.meta = meta
    model.latent_dim = meta.latent_dim
    model.resolution = meta.height
    model.image_size = (meta.height, meta.width)
    model.themes = ()
    model.source_sha256 = meta.sha256
    model.max_batch = meta.max_batch
    model.supports_half = False  # the file fixes its own precision


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _last_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
