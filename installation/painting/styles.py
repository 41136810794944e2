"""Styles by name: paintings in the styles folders, image files by path, and the 26 built-in styles.

A style is named by a spec:

- ``starry_night``: an image file of that stem in ``styles/`` (the project's five public-domain
  paintings) or in the configured extra folder;
- ``path/to/painting.jpg``: any image file (relative to the working directory or the project);
- ``builtin:7``: built-in style 7 of the 26-style network.

A painting's style vector is computed once and cached by the file's SHA-256, so a renamed or
repeated file costs nothing and an edited one is seen. ``code_for_mix`` turns weighted specs into
one ``StyleCode``: built-in styles alone mix by their weights in the built-in network; anything
with a painting in it mixes as a weighted mean of 100-d vectors (a built-in style then stands at
``StyleNetworks.builtin_vector``). Bad specs raise ``StyleError`` with one line saying why.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import cv2
import numpy as np

from installation.config import PROJECT_ROOT
from installation.errors import InstallationError
from models.style_networks import BUILTIN_COUNT, StyleCode, StyleNetworks

log = logging.getLogger(__name__)

STYLES_DIR = PROJECT_ROOT / "styles"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
MIN_STYLE_SIDE = 64  # a smaller picture has too little texture to describe a style
BUILTIN_PREFIX = "builtin:"


class StyleError(InstallationError):
    """A style spec names nothing, or its image is missing, unreadable, not an image or too small."""


def builtin_index(spec: str) -> int | None:
    """The index of a ``builtin:N`` spec, None for any other spec. Raises StyleError for a bad N."""
    if not spec.startswith(BUILTIN_PREFIX):
        return None
    text = spec[len(BUILTIN_PREFIX):]
    if not text.isdigit() or not 0 <= int(text) < BUILTIN_COUNT:
        raise StyleError(f"style {spec!r}: built-in styles are builtin:0 .. builtin:{BUILTIN_COUNT - 1}")
    return int(text)


def read_style_image(path: Path) -> np.ndarray:
    """The RGB uint8 picture in ``path``. Raises StyleError: missing, unreadable or not an image, too small."""
    if not path.is_file():
        raise StyleError(f"style image not found: {path}")
    try:
        data = np.frombuffer(path.read_bytes(), np.uint8)
    except OSError as error:
        raise StyleError(f"style image {path} cannot be read: {error.strerror or error}") from None
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise StyleError(f"style image {path} is not an image OpenCV can read (JPEG, PNG, WebP, BMP, TIFF)")
    height, width = bgr.shape[:2]
    if min(height, width) < MIN_STYLE_SIDE:
        raise StyleError(f"style image {path} is too small ({width}x{height}); a style needs at least "
                         f"{MIN_STYLE_SIDE} px a side")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class StyleLibrary:
    """Resolves style specs to codes with ``networks``; ``folders`` are searched after ``styles/``."""

    def __init__(self, networks: StyleNetworks | None, folders: tuple[Path, ...] = ()) -> None:
        """``networks`` None: a library that can only ``check`` specs (before the networks load)."""
        self.networks = networks
        self.folders = (STYLES_DIR, *folders)
        self._vectors: dict[str, np.ndarray] = {}  # file SHA-256 -> style vector
        self._digests: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> SHA-256

    def names(self) -> list[str]:
        """Every named style: the paintings' stems in the folders, then builtin:0 .. builtin:25."""
        stems = sorted({path.stem for folder in self.folders if folder.is_dir()
                        for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES})
        return stems + [f"{BUILTIN_PREFIX}{index}" for index in range(BUILTIN_COUNT)]

    def path_for(self, spec: str) -> Path:
        """The image file a painting spec names. Raises StyleError when there is none."""
        for folder in self.folders:
            for suffix in IMAGE_SUFFIXES:
                candidate = folder / f"{spec}{suffix}"
                if candidate.is_file():
                    return candidate
        path = Path(spec).expanduser()
        if path.suffix.lower() in IMAGE_SUFFIXES or path.exists():
            return path if path.is_absolute() or path.exists() else PROJECT_ROOT / path
        known = ", ".join(name for name in self.names() if not name.startswith(BUILTIN_PREFIX))
        raise StyleError(f"unknown style {spec!r}: not a painting in {', '.join(str(f) for f in self.folders)} "
                         f"({known or 'none there'}), builtin:0..{BUILTIN_COUNT - 1}, or an image file")

    def vector(self, spec: str) -> np.ndarray:
        """The 100-d style vector of a spec (a painting's, or a built-in style's place). Raises StyleError."""
        index = builtin_index(spec)
        if index is not None:
            return self.networks.builtin_vector(index)
        path = self.path_for(spec)
        digest = self._digest(path)
        if digest not in self._vectors:
            self._vectors[digest] = self.networks.style_vector(read_style_image(path))
            log.info("style %s: vector computed from %s", spec, path)
        return self._vectors[digest]

    def _digest(self, path: Path) -> str:
        """The file's SHA-256, read again only when its size or modification time changed (a scene's
        glide asks for its styles' vectors many times a second)."""
        try:
            stat = path.stat()
            key = (str(path), stat.st_size, stat.st_mtime_ns)
            if key not in self._digests:
                self._digests[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as error:
            raise StyleError(f"style image {path} cannot be read: {error.strerror or error}") from None
        return self._digests[key]

    def code_for(self, spec: str) -> StyleCode:
        """One style's code. Raises StyleError."""
        return self.code_for_mix({spec: 1.0})

    def code_for_mix(self, weights: dict[str, float]) -> StyleCode:
        """The code of a weighted mix of styles (weights >= 0, not all 0; normalised). Raises StyleError."""
        if not weights or any(not np.isfinite(w) or w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise StyleError(f"a style mix needs non-negative weights, not all zero: {weights}")
        total = float(sum(weights.values()))
        indices = {spec: builtin_index(spec) for spec in weights}
        if all(index is not None for index in indices.values()):
            mixed = np.zeros(BUILTIN_COUNT, np.float32)
            for spec, weight in weights.items():
                mixed[indices[spec]] += weight / total
            return StyleCode("builtin", mixed)
        vector = sum((weight / total) * self.vector(spec) for spec, weight in weights.items() if weight > 0)
        return StyleCode("vector", np.asarray(vector, np.float32))

    def check(self, spec: str) -> None:
        """Fail now (StyleError) if ``spec`` names no usable style, without running a network."""
        if builtin_index(spec) is None:
            read_style_image(self.path_for(spec))


def glide_weights(styles: tuple[str, ...], position: float) -> dict[str, float]:
    """Weights for a point ``position`` along ``styles`` (0 = the first, 1 = the second, ...,
    wrapping around): the two neighbours, linearly."""
    count = len(styles)
    position = float(position) % count
    low = int(position) % count
    high = (low + 1) % count
    share = position - int(position)
    if low == high or share <= 0.0:
        return {styles[low]: 1.0}
    weights = {styles[low]: 1.0 - share}
    weights[styles[high]] = weights.get(styles[high], 0.0) + share
    return weights
