"""Checkpoint files: weights as safetensors, metadata as JSON inside the same file.

One file, ``NAME.safetensors``, holds everything. The tensors are the model's ``state_dict``
(float32 weights, on the CPU); the safetensors header's string metadata holds one key,
``installation.checkpoint``, whose value is the JSON of ``CheckpointMeta`` (kind, resolution,
latent size, themes, training steps, a description and the licence of the training data, the
code version, and the hyper-parameter dataclass that rebuilds the model). Keeping the metadata
inside the file means a copied or renamed checkpoint can never lose or swap its description.
``read_checkpoint_meta`` reads only the header, so listing models does not load weights.

Loading never unpickles: the header is JSON and the tensors are raw bytes. Every way a file can
be wrong (missing, not safetensors, truncated, no or bad metadata, metadata that does not match
the weights) raises ``CheckpointError`` with the file's path and what is wrong.

What a loaded checkpoint is, by kind:
- ``"vae"``: ``models.vae.VAE``; ``forward(z, condition)`` decodes, ``encode(images)`` gives the mean.
- ``"gan"``: ``models.gan.GANGenerator``, the exponential moving average of the trained generator.
- ``"diffusion"``: ``models.diffusion.DiffusionModel``, the moving average of the trained denoiser;
  ``forward(z, condition)`` samples by DDIM from the starting noise z, ``refine`` is image to image.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from models.errors import ModelError

logger = logging.getLogger(__name__)

# Bump when a model's architecture changes in a way that old weights no longer fit.
CODE_VERSION = "models-1"
METADATA_KEY = "installation.checkpoint"
KINDS = ("vae", "gan", "diffusion")
_HEADER_LENGTH_BYTES = 8  # safetensors: a little-endian u64 header length, then the JSON header
_MAX_HEADER_BYTES = 100_000_000  # the library's own limit; a larger length means "not safetensors"


@dataclass(frozen=True)
class CheckpointMeta:
    """What a checkpoint says about itself; stored as JSON in the safetensors header."""

    kind: str  # "vae" | "gan" | "diffusion"
    resolution: int  # output is (B, 3, resolution, resolution)
    latent_dim: int  # D
    themes: tuple[str, ...]  # condition index i means themes[i]; () = unconditional
    steps: int  # optimiser steps trained
    description: str  # the training data
    licence: str  # the licence of the training data
    code_version: str  # CODE_VERSION of the code that wrote it
    hparams: dict  # the model's hyper-parameter dataclass as a dict, used to rebuild it

    def to_json(self) -> str:
        """Returns the metadata as one JSON object (tuples become lists)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def meta_for(model: nn.Module, kind: str, steps: int, description: str, licence: str) -> CheckpointMeta:
    """Describe ``model`` (a VAE or GANGenerator with a ``config`` dataclass); returns its CheckpointMeta.

    ``hparams`` is stored as its JSON form (tuples as lists), so a saved and a loaded meta compare equal.
    """
    hparams = json.loads(json.dumps(dataclasses.asdict(model.config)))
    return CheckpointMeta(kind=kind, resolution=int(model.resolution), latent_dim=int(model.latent_dim),
                          themes=tuple(model.themes), steps=int(steps), description=description,
                          licence=licence, code_version=CODE_VERSION, hparams=hparams)


class CheckpointError(ModelError):
    """A checkpoint file is missing, unreadable, or disagrees with itself. Names the file."""


def save_checkpoint(path: Path, model: nn.Module, meta: CheckpointMeta) -> None:
    """Write ``model``'s weights and ``meta`` to ``path`` (a ``.safetensors`` file); returns nothing.

    The file is written beside its final name and renamed into place, so an interrupted save
    never leaves a half-written checkpoint. Raises CheckpointError if ``meta`` does not describe
    ``model`` (kind, resolution, latent size, number of themes) and OSError if it cannot be written.
    """
    path = Path(path)
    _check_meta_matches_model(path, model, meta)
    tensors = {name: _portable(t) for name, t in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata={METADATA_KEY: meta.to_json()})
    os.chmod(partial, 0o644)  # the library writes 0600; a shipped model must be readable by all
    os.replace(partial, path)
    logger.info("saved %s checkpoint %s (%d tensors, %d steps)", meta.kind, path, len(tensors), meta.steps)


def save_half_copy(source: Path, target: Path) -> None:
    """Copy the checkpoint ``source`` to ``target`` with its float weights stored as float16: half
    the size on disk and in git, for a shipped model (loading turns them back into float32, and a
    picture drawn from them differs from the float32 one by well under one grey level). Raises
    CheckpointError as ``load_checkpoint`` does."""
    source, target = Path(source), Path(target)
    meta = read_checkpoint_meta(source)
    load_checkpoint(source)  # checks that the weights match the metadata
    tensors = {name: (t.half() if t.is_floating_point() else t).contiguous()
               for name, t in load_file(str(source), device="cpu").items()}
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(partial), metadata={METADATA_KEY: meta.to_json()})
    os.chmod(partial, 0o644)
    os.replace(partial, target)


def load_checkpoint(path: Path, device: str | torch.device = "cpu") -> tuple[nn.Module, CheckpointMeta]:
    """Rebuild the model stored in ``path``; returns (model in eval mode on ``device``, its metadata).

    The model meets the generator contract (``latent_dim``, ``resolution``, ``themes``,
    ``forward(z, condition)``). Raises CheckpointError naming the file when it is missing, not a
    safetensors file, truncated, lacks valid metadata, or its metadata does not match its weights.
    """
    path = Path(path)
    meta = read_checkpoint_meta(path)
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path}: corrupt safetensors data: {error}") from None
    model = _build_model(path, meta)
    _check_tensors_match(path, model, tensors)
    model.load_state_dict(tensors, strict=True)
    try:
        model = model.to(device).eval()
    except (RuntimeError, AssertionError) as error:  # AssertionError: torch built without CUDA
        raise CheckpointError(f"checkpoint {path}: cannot be moved to {device}: {error}") from None
    logger.info("loaded %s checkpoint %s: latent %d, resolution %d, themes %s, %d steps",
                meta.kind, path, meta.latent_dim, meta.resolution, list(meta.themes) or "none", meta.steps)
    return model, meta


def read_checkpoint_meta(path: Path) -> CheckpointMeta:
    """Read only the header of ``path``; returns its CheckpointMeta, without loading any weights.

    Raises CheckpointError like ``load_checkpoint`` (except for weight mismatches, not checked here).
    """
    path = Path(path)
    header = _read_header(path)
    metadata = header.get("__metadata__") or {}
    if METADATA_KEY not in metadata:
        raise CheckpointError(f"checkpoint {path}: no '{METADATA_KEY}' metadata in the safetensors "
                              "header (a plain safetensors file, not one saved by models.checkpoint)")
    try:
        fields = json.loads(metadata[METADATA_KEY])
    except json.JSONDecodeError as error:
        raise CheckpointError(f"checkpoint {path}: metadata is not valid JSON: {error}") from None
    return _meta_from_dict(path, fields)


def config_from_hparams(path: Path, config_type: type, hparams: dict) -> Any:
    """Rebuild a hyper-parameter dataclass from its dict; returns the dataclass instance.

    JSON lists become tuples where the field is a tuple. Raises CheckpointError naming ``path``
    for unknown or missing fields, or values the dataclass rejects.
    """
    names = {f.name for f in dataclasses.fields(config_type)}
    unknown = sorted(set(hparams) - names)
    if unknown:
        raise CheckpointError(f"checkpoint {path}: hparams has unknown field(s) {unknown} for "
                              f"{config_type.__name__} (written by a newer or different code version?)")
    hints = typing.get_type_hints(config_type)
    values = {}
    for name, value in hparams.items():
        if typing.get_origin(hints[name]) is tuple and isinstance(value, list):
            value = tuple(value)
        values[name] = value
    try:
        return config_type(**values)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path}: hparams do not make a valid "
                              f"{config_type.__name__}: {error}") from None


# --- reading and checking ---------------------------------------------------------------------

def _read_header(path: Path) -> dict[str, Any]:
    """Parse the safetensors header, telling a truncated file from one that never was safetensors."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: file not found")
    size = path.stat().st_size
    with path.open("rb") as f:
        length_bytes = f.read(_HEADER_LENGTH_BYTES)
        if len(length_bytes) < _HEADER_LENGTH_BYTES:
            raise CheckpointError(f"checkpoint {path}: not a safetensors file ({size} bytes, "
                                  "too short to hold a header)")
        header_length = int.from_bytes(length_bytes, "little")
        first = f.read(1)
        # A safetensors header is a JSON object, so its first byte is "{"; anything else (a pickle,
        # a zip, an image) never was a checkpoint, while a "{" with too few bytes after it was cut off.
        if first != b"{" or header_length == 0 or header_length > _MAX_HEADER_BYTES:
            raise CheckpointError(f"checkpoint {path}: not a safetensors file (it starts "
                                  f"{length_bytes + first!r}, not a header length and a JSON header)")
        if _HEADER_LENGTH_BYTES + header_length > size:
            raise CheckpointError(f"checkpoint {path}: truncated: the header needs "
                                  f"{_HEADER_LENGTH_BYTES + header_length} bytes, the file has {size}")
        raw = first + f.read(header_length - 1)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"checkpoint {path}: not a safetensors file (header is not JSON: "
                              f"starts {raw[:32]!r})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"checkpoint {path}: not a safetensors file (header is not a JSON object)")
    data_end = _data_end(path, header)
    expected = _HEADER_LENGTH_BYTES + header_length + data_end
    if size < expected:
        raise CheckpointError(f"checkpoint {path}: truncated: the header describes {expected} bytes, "
                              f"the file has {size} (an interrupted copy or save?)")
    return header


def _data_end(path: Path, header: dict[str, Any]) -> int:
    """The end offset of the last tensor's bytes, from the header's tensor table."""
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise CheckpointError(f"checkpoint {path}: corrupt header: tensor '{name}' has no valid data_offsets")
        end = max(end, offsets[1])
    return end


_META_TYPES: dict[str, type] = {
    "kind": str, "resolution": int, "latent_dim": int, "themes": list, "steps": int,
    "description": str, "licence": str, "code_version": str, "hparams": dict,
}


def _meta_from_dict(path: Path, fields: Any) -> CheckpointMeta:
    if not isinstance(fields, dict):
        raise CheckpointError(f"checkpoint {path}: metadata is not a JSON object")
    missing = [name for name in _META_TYPES if name not in fields]
    if missing:
        raise CheckpointError(f"checkpoint {path}: metadata lacks {', '.join(missing)}")
    for name, kind in _META_TYPES.items():
        value = fields[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CheckpointError(f"checkpoint {path}: metadata {name} = {value!r}: expected {kind.__name__}")
    if fields["kind"] not in KINDS:
        raise CheckpointError(f"checkpoint {path}: metadata kind = {fields['kind']!r}: expected one of {KINDS}")
    if not all(isinstance(theme, str) for theme in fields["themes"]):
        raise CheckpointError(f"checkpoint {path}: metadata themes = {fields['themes']!r}: expected strings")
    for name in ("resolution", "latent_dim"):
        if fields[name] < 1:
            raise CheckpointError(f"checkpoint {path}: metadata {name} = {fields[name]}: expected >= 1")
    known = {name: fields[name] for name in _META_TYPES}
    known["themes"] = tuple(known["themes"])
    return CheckpointMeta(**known)


def _model_type(kind: str) -> tuple[type, Callable[[Any], nn.Module]]:
    """(hyper-parameter dataclass, model class) for a kind; imported here to keep imports light."""
    if kind == "vae":
        from models.vae import VAE, VAEConfig
        return VAEConfig, VAE
    if kind == "diffusion":
        from models.diffusion import DiffusionConfig, DiffusionModel
        return DiffusionConfig, DiffusionModel
    from models.gan import GANConfig, GANGenerator
    return GANConfig, GANGenerator


def _build_model(path: Path, meta: CheckpointMeta) -> nn.Module:
    config_type, model_type = _model_type(meta.kind)
    config = config_from_hparams(path, config_type, meta.hparams)
    for name, claimed in (("resolution", meta.resolution), ("latent_dim", meta.latent_dim),
                          ("themes", meta.themes)):
        if getattr(config, name) != claimed:
            raise CheckpointError(f"checkpoint {path}: metadata says {name} {claimed!r} but hparams.{name} = "
                                  f"{getattr(config, name)!r}")
    try:
        model = model_type(config)
    except ValueError as error:
        raise CheckpointError(f"checkpoint {path}: cannot build a {meta.kind} from its hparams: {error}") from None
    return model


def _check_tensors_match(path: Path, model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {path}: weights do not match its metadata: "
                              f"missing keys {_clip(missing)}, unexpected keys {_clip(unexpected)}")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(f"checkpoint {path}: weights do not match its metadata: '{name}' has "
                                  f"shape {tuple(tensor.shape)}, the model built from the metadata "
                                  f"expects {tuple(expected[name].shape)} (wrong latent_dim, "
                                  "resolution or themes in the metadata?)")
        if tensor.is_floating_point() != expected[name].is_floating_point():
            raise CheckpointError(f"checkpoint {path}: tensor '{name}' has dtype {tensor.dtype}, "
                                  f"the model expects {expected[name].dtype}")


def _check_meta_matches_model(path: Path, model: nn.Module, meta: CheckpointMeta) -> None:
    themes = tuple(getattr(model, "themes", ()))
    claims = (("latent_dim", meta.latent_dim, getattr(model, "latent_dim", None)),
              ("resolution", meta.resolution, getattr(model, "resolution", None)),
              ("themes", meta.themes, themes))
    for name, claimed, actual in claims:
        if claimed != actual:
            raise CheckpointError(f"checkpoint {path}: not saved: metadata {name} {claimed!r} but the "
                                  f"model has {actual!r}")
    if meta.kind not in KINDS:
        raise CheckpointError(f"checkpoint {path}: not saved: kind {meta.kind!r} is not one of {KINDS}")
    model_type = _model_type(meta.kind)[1]
    if not isinstance(model, model_type):
        raise CheckpointError(f"checkpoint {path}: not saved: kind {meta.kind!r} needs a "
                              f"{model_type.__name__}, got {type(model).__name__}")


def _portable(tensor: torch.Tensor) -> torch.Tensor:
    """A CPU copy to save: float32 for weights (whatever the training precision), integers as they are."""
    tensor = tensor.detach().to("cpu")
    return (tensor.float() if tensor.is_floating_point() else tensor).contiguous().clone()


def _clip(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit]) or "none"
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
