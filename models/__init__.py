"""Generator models and the registry that builds one from ``GeneratorSettings``.

A generator maps a latent batch (B, D), plus an optional condition, to images (B, 3, H, W) in
[-1, 1]. ``GeneratorSettings.model`` names one of:

- a built-in kind in ``_BUILDERS`` ("cppn"), built from the config's resolution, latent size and seed;
- a shipped checkpoint: ``models/defaults/<name>.safetensors``, used by its name;
- a path to a checkpoint (``.safetensors``), a TorchScript file (``.pt``, ``.ts``) or an ONNX file
  (``.onnx``). A relative path is looked up from the working directory, then the project root.

Checkpoints and imported files carry their own latent size and resolution; the config's are
used only by the CPPN (and as the latent size of a TorchScript file that does not say its own).
Nothing in the runtime switches on a model's name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from models.cppn import CPPN, CPPNConfig
from models.errors import ModelError
from models.importers import IMPORT_SUFFIXES, load_imported  # onnxruntime itself is imported lazily

PROJECT_ROOT = Path(__file__).resolve().parents[1]

DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
IMPORTED_DIR = Path(__file__).resolve().parent / "imported"  # the installation's own generator files
CHECKPOINT_SUFFIX = ".safetensors"
MODEL_FILE_SUFFIXES = (CHECKPOINT_SUFFIX,) + IMPORT_SUFFIXES


class GeneratorSettings(Protocol):
    """What building a generator reads of the runtime's ``GeneratorConfig`` (models/ does not
    import the runtime: any object with these attributes will do)."""

    model: str  # "cppn", a shipped model's name, or a file path
    resolution: int
    latent_dim: int
    seed: int
    device: str  # "auto" | "cpu" | "cuda"
    torch_threads: int


@runtime_checkable
class Generator(Protocol):
    """The generator contract: what ``GeneratorHost`` relies on."""

    latent_dim: int  # D
    resolution: int  # H == W of the output

    def forward(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        """Map z (B, D) and an optional condition to images (B, 3, H, W) in [-1, 1]."""
        ...


def _build_cppn(config: GeneratorSettings) -> torch.nn.Module:
    return CPPN(CPPNConfig(latent_dim=config.latent_dim, resolution=config.resolution, seed=config.seed))


_BUILDERS: dict[str, Callable[[GeneratorSettings], torch.nn.Module]] = {
    "cppn": _build_cppn,
}


def shipped_models() -> list[str]:
    """Returns the names of the checkpoints in ``models/defaults``, sorted."""
    if not DEFAULTS_DIR.is_dir():
        return []
    return sorted(path.stem for path in DEFAULTS_DIR.glob(f"*{CHECKPOINT_SUFFIX}") if path.is_file())


def known_models() -> list[str]:
    """Returns the names ``GeneratorSettings.model`` may take besides a file path, sorted."""
    return sorted(set(_BUILDERS) | set(shipped_models()))


def resolve_model_file(model: str) -> Path | None:
    """The file that ``model`` (a shipped name or a path) stands for; returns None for neither.

    A path is returned even when the file is missing, so its loader can say "file not found".
    """
    shipped = DEFAULTS_DIR / f"{model}{CHECKPOINT_SUFFIX}"
    if "/" not in model and "\\" not in model and shipped.is_file():
        return shipped
    path = Path(model).expanduser()
    if path.suffix.lower() not in MODEL_FILE_SUFFIXES:
        return None
    if not path.is_absolute() and not path.exists() and (PROJECT_ROOT / path).exists():
        return PROJECT_ROOT / path
    return path


def build_generator(config: GeneratorSettings) -> torch.nn.Module:
    """Build or load the model named by ``config.model``; returns it on the CPU.

    The CPPN comes back in training mode, loaded files in eval mode. Raises ModelError when the
    name is unknown, and its subclasses (``CheckpointError``, ``ImportedModelError``) naming the
    file when a file is missing, unreadable or breaks the generator contract.
    """
    builder = _BUILDERS.get(config.model)
    if builder is not None:
        return builder(config)
    path = resolve_model_file(config.model)
    if path is None:
        raise ModelError(f"unknown model '{config.model}' (known: {', '.join(known_models())}; or a path "
                         f"to a {', '.join(MODEL_FILE_SUFFIXES)} file)")
    return load_model_file(path, config)


def load_model_file(path: Path, config: GeneratorSettings) -> torch.nn.Module:
    """Load a checkpoint, TorchScript or ONNX file by its suffix; returns the model on the CPU in eval mode.

    Raises ModelError (or a subclass naming the file) as ``build_generator`` does.
    """
    if path.suffix.lower() == CHECKPOINT_SUFFIX:
        from models.checkpoint import load_checkpoint  # safetensors is only needed for checkpoints

        model, _meta = load_checkpoint(path, device="cpu")
        return model
    return load_imported(path, latent_dim=config.latent_dim, device=_onnx_device(config.device),
                         threads=config.torch_threads)


def _onnx_device(requested: str) -> str:
    """Where an ONNX session should run, from ``GeneratorSettings.device``."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested
