"""Tools for moving through a generator's latent space: slerp, truncation, meaningful directions.

Latents here are numpy float32 vectors (D,) or batches (N, D), as ``LatentState.z`` carries them.

Meaningful directions follow GANSpace (Härkönen et al., 2020): render many random latents, take
the principal components of what comes out, and regress the latents on the component scores, so
that each component gets a latent direction that moves the picture along it. Here the analysis is
done on the rendered images themselves (block-averaged to at most 32 pixels a side) rather than on
a hidden layer: that works for every generator, the CPPN and an ONNX file with no layers to hook
alike. The directions are then re-ranked by what matters to a mapping: how much a step along each
one changes the picture, measured on probe latents. The result is computed once per model and
cached as an ``.npz`` file (no pickle) keyed by a hash of the model's weights, or of its file for
an imported generator, and of the analysis settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

logger = logging.getLogger(__name__)

ALGORITHM_VERSION = "image-pca-1"  # bump when the analysis changes, so old cache files are not used
CACHE_ENV = "INSTALLATION_CACHE_DIR"
_ANALYSIS_SIZE = 32  # images are block-averaged to at most this many pixels a side
_PROBE_LATENTS = 8  # latents on which each direction's effect is measured
_PARALLEL_EPSILON = 1e-6  # below this angle (radians) slerp is a plain lerp


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation from latent ``a`` to ``b`` (both (D,)); returns float32.

    ``t`` is a number (returns (D,)) or an array of T numbers (returns (T, D)); 0 gives ``a``, 1
    gives ``b``. The path follows the great circle between the two directions while the length
    goes linearly from |a| to |b|, so with Gaussian latents every point stays as typical as the
    ends (a straight line passes near the origin, where images are washed out). Raises ValueError
    when a and b are not vectors of one length.
    """
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a64.ndim != 1 or a64.shape != b64.shape:
        raise ValueError(f"slerp needs two latents of one length, got shapes {a64.shape} and {b64.shape}")
    t64 = np.asarray(t, np.float64)
    weights = t64.reshape(-1, 1)  # (T, 1)
    norm_a, norm_b = np.linalg.norm(a64), np.linalg.norm(b64)
    if norm_a == 0.0 or norm_b == 0.0:
        result = (1.0 - weights) * a64 + weights * b64  # no direction to turn: straight line
    else:
        unit_a, unit_b = a64 / norm_a, b64 / norm_b
        omega = np.arccos(np.clip(unit_a @ unit_b, -1.0, 1.0))
        if omega < _PARALLEL_EPSILON:
            direction = (1.0 - weights) * unit_a + weights * unit_b
        else:
            direction = (np.sin((1.0 - weights) * omega) * unit_a + np.sin(weights * omega) * unit_b) / np.sin(omega)
        result = direction * ((1.0 - weights) * norm_a + weights * norm_b)  # (T, D)
    return result.astype(np.float32).reshape(t64.shape + a64.shape)


def truncate(z: np.ndarray, psi: float, mean: np.ndarray | None = None) -> np.ndarray:
    """The truncation trick: pull latents toward ``mean`` (default the origin) by ``psi``.

    Returns ``mean + psi * (z - mean)`` as float32, the shape of ``z``: psi 1 leaves z alone,
    psi 0 gives the mean (the "average" picture), values between trade variety for typicality.
    Raises ValueError for a negative psi.
    """
    if psi < 0.0:
        raise ValueError(f"psi must be >= 0, got {psi}")
    z = np.asarray(z, np.float32)
    centre = np.zeros(z.shape[-1], np.float32) if mean is None else np.asarray(mean, np.float32)
    return (centre + np.float32(psi) * (z - centre)).astype(np.float32)


@dataclass(frozen=True)
class LatentDirections:
    """Unit latent directions of a model, the one that changes the picture most first."""

    directions: np.ndarray  # (K, D) float32, unit length
    effect: np.ndarray  # (K,) mean |pixel change| (pixels in [-1, 1]) for a step of ``step`` along each
    explained_variance: np.ndarray  # (K,) share of the images' variance of each one's image component
    step: float  # the latent step length the effect was measured at
    key: str  # the cache key: model fingerprint + analysis settings

    def steer(self, z: np.ndarray, amounts: np.ndarray | list[float]) -> np.ndarray:
        """Returns z (D,) moved by ``amounts[k]`` along direction k, for the first len(amounts) directions."""
        amounts = np.asarray(amounts, np.float32)
        return (np.asarray(z, np.float32) + amounts @ self.directions[: amounts.shape[0]]).astype(np.float32)


def directions_for(model: nn.Module, cache_dir: Path | None = None, samples: int = 256,
                   components: int = 32, step: float = 0.5, seed: int = 0) -> LatentDirections:
    """The model's meaningful directions, from the cache or computed once and cached.

    ``cache_dir`` defaults to ``default_cache_dir()``. See ``compute_directions`` for the rest.
    An unreadable cache file is logged and recomputed. Raises OSError only if the cache cannot be
    written, ValueError for impossible settings.
    """
    key = cache_key(model, samples=samples, components=components, step=step, seed=seed)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"directions-{key}.npz"
    cached = _read_cache(path, key)
    if cached is not None:
        return cached
    result = compute_directions(model, samples=samples, components=components, step=step, seed=seed, key=key)
    _write_cache(path, result)
    logger.info("latent directions computed and cached in %s", path)
    return result


def compute_directions(model: nn.Module, samples: int = 256, components: int = 32, step: float = 0.5,
                       seed: int = 0, key: str = "") -> LatentDirections:
    """GANSpace-style directions of ``model`` (a generator), ranked by their visible effect.

    Renders ``samples`` latents z ~ N(0, I), takes up to ``components`` principal components of the
    (block-averaged) images, regresses the latents on the component scores to get one latent
    direction per component, and sorts the directions by the mean pixel change a step of ``step``
    along each makes on a few probe latents. Returns LatentDirections. Raises ValueError when
    ``samples`` < 2 or ``components`` < 1.
    """
    if samples < 2 or components < 1:
        raise ValueError(f"need samples >= 2 and components >= 1, got {samples} and {components}")
    D = int(model.latent_dim)
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(samples, D, generator=generator, dtype=torch.float64)  # (N, D)
    images = render_small(model, latents.float()).double().flatten(1)  # (N, P)
    centred = images - images.mean(dim=0)
    _, singular, vt = torch.linalg.svd(centred, full_matrices=False)  # singular (min(N, P),)
    K = min(components, D, samples - 1, int(singular.shape[0]))
    scores = centred @ vt[:K].T  # (N, K), the images' coordinates on the components
    # GANSpace's transfer back to latents: z ~ scores @ U, so row k of U moves along component k.
    basis = torch.linalg.lstsq(scores, latents - latents.mean(dim=0)).solution  # (K, D)
    directions = basis / basis.norm(dim=1, keepdim=True).clamp_min(1e-12)
    variance = singular**2 / (singular**2).sum()
    effect = _effects(model, directions.float(), latents[:_PROBE_LATENTS].float(), step)
    order = torch.argsort(effect, descending=True)
    return LatentDirections(directions=directions[order].float().numpy(), effect=effect[order].numpy(),
                            explained_variance=variance[:K][order].float().numpy(), step=float(step), key=key)


def image_change(model: nn.Module, latents: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Mean |pixel change| when each latent (N, D) moves by ``offset`` (D,); returns a () tensor.

    Pixels are in [-1, 1] and compared block-averaged, like the direction analysis.
    """
    before = render_small(model, latents)
    after = render_small(model, latents + offset)
    return (after - before).abs().mean()


def render_small(model: nn.Module, latents: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
    """Render latents (N, D) and block-average to at most 32 pixels a side; returns (N, 3, h, w) float32 on the CPU.

    Works in batches, or one latent at a time for a model with ``max_batch`` 1.
    """
    device, dtype = _device_and_dtype(model)
    if getattr(model, "max_batch", None) == 1:
        batch_size = 1
    pieces = []
    with torch.inference_mode():
        for start in range(0, latents.shape[0], batch_size):
            z = latents[start:start + batch_size].to(device=device, dtype=dtype)
            image = model(z).float()  # (b, 3, H, W)
            height, width = image.shape[2:]
            size = (min(height, _ANALYSIS_SIZE), min(width, _ANALYSIS_SIZE))
            pieces.append(F.adaptive_avg_pool2d(image, size).cpu())
    return torch.cat(pieces)


def cache_key(model: nn.Module, **settings: object) -> str:
    """Returns a hex key naming the model's weights (or file) and the analysis settings."""
    text = json.dumps({"model": model_fingerprint(model), "algorithm": ALGORITHM_VERSION, **settings}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def model_fingerprint(model: nn.Module) -> str:
    """Returns a sha256 hex digest of what makes the model draw what it draws.

    An imported generator's file hash (``source_sha256``) when it has one; otherwise its class,
    latent size, resolution and every tensor of its state_dict.
    """
    source = getattr(model, "source_sha256", None)
    if isinstance(source, str):
        return source
    digest = hashlib.sha256()
    digest.update(f"{type(model).__name__}:{model.latent_dim}:{model.resolution}".encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """Returns the folder for cached directions: $INSTALLATION_CACHE_DIR, else the user cache."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "installation" / "directions"


def _effects(model: nn.Module, directions: torch.Tensor, probes: torch.Tensor, step: float) -> torch.Tensor:
    """(K,) float64: the mean pixel change for a step of ``step`` along each direction, both ways."""
    base = render_small(model, probes)
    effects = []
    for direction in directions:
        forward = render_small(model, probes + step * direction)
        backward = render_small(model, probes - step * direction)
        effects.append(0.5 * ((forward - base).abs().mean() + (backward - base).abs().mean()))
    return torch.stack(effects).double()


def _device_and_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.float32


def _read_cache(path: Path, key: str) -> LatentDirections | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                raise ValueError(f"key {data['key']} differs")
            return LatentDirections(directions=data["directions"].astype(np.float32), effect=data["effect"],
                                    explained_variance=data["explained_variance"], step=float(data["step"]),
                                    key=key)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        logger.warning("latent directions cache %s unreadable (%s); computing them again", path, error)
        return None


def _write_cache(path: Path, result: LatentDirections) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as file:  # written beside the final name, then renamed: never half a file
        np.savez(file, directions=result.directions, effect=result.effect,
                 explained_variance=result.explained_variance, step=np.float64(result.step),
                 key=np.str_(result.key))
    os.replace(partial, path)
