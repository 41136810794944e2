"""Training data: a folder of images or ``.npz`` image sets, as one uint8 tensor with theme labels.

Accepted sources (one or several, mixed):
- a folder of images: its sub-folders are the themes; images directly in the folder form a theme
  named after the folder;
- a ``.npz`` file with an ``images`` array (N, H, W, 3) uint8: the file is one theme, named after
  the file without a trailing ``_<size>`` (``openclipart_64.npz`` -> ``openclipart``);
- a folder holding only ``.npz`` files: each file is a theme;
- a glob pattern such as ``../shared/art/*.npz``.

Images are composited on white if they have alpha, centre-cropped to a square and resized to the
model's resolution (area filter down, cubic up). A file that cannot be read or decoded is
skipped and counted in ``ArtDataset.skipped``, with a warning naming it: a bad file in an
artist's folder must not end a night's training.
"""

from __future__ import annotations

import glob
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from models.errors import OneLineError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
HOLDOUT_FRACTION = 0.05  # of each theme, never trained on: the VAE's PSNR is measured on these
HOLDOUT_SEED = 1234  # fixed, independent of the training seed, so every run holds out the same images
_SIZE_SUFFIX = re.compile(r"_\d+$")


class DataError(OneLineError):
    """Training data cannot be found or has the wrong form."""


@dataclass(frozen=True)
class ArtDataset:
    """Images and their theme labels, ready to train on."""

    images: torch.Tensor  # (N, 3, R, R) uint8, RGB
    labels: torch.Tensor  # (N,) int64, index into themes
    themes: tuple[str, ...]  # sorted theme names
    skipped: int  # files that could not be read, not counted in N
    sources: tuple[str, ...]  # what was read, for the checkpoint description

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def count(self, theme: int) -> int:
        """Returns how many images carry theme index ``theme``."""
        return int((self.labels == theme).sum())


def load_dataset(sources: Sequence[str | Path], resolution: int, limit_per_theme: int | None = None) -> ArtDataset:
    """Read every image of ``sources`` at ``resolution``; returns the ArtDataset.

    ``limit_per_theme`` keeps only the first N images of each theme (for tests and quick runs).
    Raises DataError when a source does not exist, holds no images, or an ``.npz`` has the wrong form.
    """
    by_theme: dict[str, list[np.ndarray]] = {}
    skipped = 0
    paths = _expand(sources)
    for source in paths:
        for theme, images, bad in _read_source(source, resolution, limit_per_theme):
            kept = by_theme.setdefault(theme, [])
            room = None if limit_per_theme is None else max(limit_per_theme - sum(len(x) for x in kept), 0)
            kept.append(images[:room])
            skipped += bad
    themes = tuple(sorted(t for t, parts in by_theme.items() if sum(len(p) for p in parts)))
    if not themes:
        raise DataError(f"no readable images in {', '.join(map(str, sources))} ({skipped} skipped)")
    arrays = [np.concatenate(by_theme[t]) for t in themes]
    images = torch.from_numpy(np.concatenate(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, 3, R, R)
    labels = torch.cat([torch.full((len(a),), i, dtype=torch.int64) for i, a in enumerate(arrays)])
    if skipped:
        logger.warning("skipped %d unreadable image file(s) in the training data", skipped)
    logger.info("training data: %d images at %d px, themes %s", len(labels), resolution,
                {t: len(a) for t, a in zip(themes, arrays)})
    return ArtDataset(images, labels, themes, skipped, tuple(str(p) for p in paths))


def split_holdout(dataset: ArtDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices into (train, held_out), holding out HOLDOUT_FRACTION of every theme; returns both (N,) int64.

    The split depends only on the labels and HOLDOUT_SEED, so training and evaluation agree.
    """
    generator = torch.Generator().manual_seed(HOLDOUT_SEED)
    train, held = [], []
    for theme in range(len(dataset.themes)):
        members = torch.nonzero(dataset.labels == theme).squeeze(1)  # (n,)
        members = members[torch.randperm(len(members), generator=generator)]
        n_held = int(len(members) * HOLDOUT_FRACTION) if len(members) >= 20 else 0
        held.append(members[:n_held])
        train.append(members[n_held:])
    return torch.cat(train).sort().values, torch.cat(held).sort().values


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, R, R) -> float (B, 3, R, R) in [-1, 1]; returns a new tensor."""
    return images.float().div_(127.5).sub_(1.0)


def save_image_grid(images: torch.Tensor, path: Path, columns: int = 8) -> None:
    """Write images (B, 3, R, R) in [-1, 1] as one PNG grid, ``columns`` wide; returns nothing.

    Raises OSError if the file cannot be written.
    """
    B, _, R, _ = images.shape
    rows = math.ceil(B / columns)
    pixels = ((images.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5 + 0.5).to(torch.uint8)  # (B, 3, R, R)
    grid = np.full((rows * (R + 2) + 2, columns * (R + 2) + 2, 3), 255, np.uint8)  # 2 px white gutters
    for i, image in enumerate(pixels.permute(0, 2, 3, 1).numpy()):  # (R, R, 3) each
        top, left = 2 + (i // columns) * (R + 2), 2 + (i % columns) * (R + 2)
        grid[top:top + R, left:left + R] = image
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}")


def theme_name(path: Path) -> str:
    """Returns the theme named by a folder or an ``.npz`` file (``emoji_64.npz`` -> ``emoji``)."""
    return _SIZE_SUFFIX.sub("", path.stem if path.suffix == ".npz" else path.name)


def _expand(sources: Sequence[str | Path]) -> list[Path]:
    paths: list[Path] = []
    for source in sources:
        text = str(source)
        if any(ch in text for ch in "*?["):
            matches = sorted(glob.glob(text))
            if not matches:
                raise DataError(f"no files match {text}")
            paths += [Path(m) for m in matches]
        else:
            paths.append(Path(text))
    for path in paths:
        if not path.exists():
            raise DataError(f"training data not found: {path}")
    return paths


def _read_source(path: Path, resolution: int, limit: int | None) -> Iterable[tuple[str, np.ndarray, int]]:
    """Yields (theme, images (N, R, R, 3) uint8, files skipped) for each theme of one source."""
    if path.is_file():
        if path.suffix != ".npz":
            raise DataError(f"{path}: expected a folder of images or an .npz file")
        yield theme_name(path), _read_npz(path, resolution, limit), 0
        return
    npz_files = sorted(path.glob("*.npz"))
    if npz_files:
        for npz in npz_files:
            yield theme_name(npz), _read_npz(npz, resolution, limit), 0
    folders = [path] + sorted(p for p in path.iterdir() if p.is_dir())
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            images, bad = _read_image_files(files[:limit], resolution)
            yield theme_name(folder), images, bad


def _read_npz(path: Path, resolution: int, limit: int | None) -> np.ndarray:
    try:
        with np.load(path) as archive:
            if "images" not in archive:
                raise DataError(f"{path}: no 'images' array (has {', '.join(archive.files)})")
            images = archive["images"][:limit]
    except (OSError, ValueError, EOFError) as error:
        raise DataError(f"{path}: not a readable .npz file: {error}") from None
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise DataError(f"{path}: 'images' must be (N, H, W, 3) uint8, got {images.shape} {images.dtype}")
    if images.shape[1:3] == (resolution, resolution):
        return images
    return np.stack([_square_resize(image, resolution) for image in images])


def _read_image_files(files: list[Path], resolution: int) -> tuple[np.ndarray, int]:
    images, bad = [], 0
    for file in files:
        image = _read_image(file)
        if image is None:
            bad += 1
            logger.warning("skipping unreadable image %s", file)
            continue
        images.append(_square_resize(image, resolution))
    empty = np.zeros((0, resolution, resolution, 3), np.uint8)
    return (np.stack(images) if images else empty), bad


def _read_image(path: Path) -> np.ndarray | None:
    """(H, W, 3) uint8 RGB composited on white, or None if the file cannot be decoded."""
    data = np.fromfile(path, np.uint8)  # fromfile + imdecode: cv2.imread rejects non-ASCII paths
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        return None
    if image.dtype != np.uint8:
        image = (image / (65535.0 if image.dtype == np.uint16 else image.max() or 1) * 255).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        image = (image[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _square_resize(image: np.ndarray, resolution: int) -> np.ndarray:
    """Centre-crop (H, W, 3) to a square and resize it to (R, R, 3)."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top:top + side, left:left + side]
    interpolation = cv2.INTER_AREA if side > resolution else cv2.INTER_CUBIC
    return cv2.resize(square, (resolution, resolution), interpolation=interpolation)
