"""``[gestures]`` in config.toml: the recogniser's thresholds and where taught gestures live.

Declared like ``installation.config``'s sections (a frozen dataclass whose fields carry their
allowed range or choices in metadata), so the same loader validates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from installation.errors import ConfigError


def _range(low: float | None = None, high: float | None = None) -> dict[str, Any]:
    return {"range": (low, high)}


@dataclass(frozen=True)
class GesturesConfig:
    enabled: bool = True
    builtin: bool = True  # the built-in hand shapes, body poses and movements
    learned: bool = True  # gestures and mappings taught by demonstration (from ``folder``)
    # Taught examples and the trained model, per installation; relative paths are relative to
    # the project root. Holds examples/ (one .npz per recording) and model.npz.
    folder: str = "gestures"
    # Event layer (see docs/gestures.md): a gesture starts when its confidence reaches
    # on_threshold for min_on_s, ends when it stays below off_threshold for release_s, and cannot
    # start again until refractory_s after its end.
    on_threshold: float = field(default=0.6, metadata=_range(0.0, 1.0))
    off_threshold: float = field(default=0.4, metadata=_range(0.0, 1.0))
    min_on_s: float = field(default=0.1, metadata=_range(0.0, 10.0))  # static shapes and poses only
    release_s: float = field(default=0.15, metadata=_range(0.0, 10.0))
    refractory_s: float = field(default=0.5, metadata=_range(0.0, 60.0))
    hold_interval_s: float = field(default=0.5, metadata=_range(0.01, 60.0))
    min_hand_presence: float = field(default=0.5, metadata=_range(0.0, 1.0))
    # Learned static gestures: k nearest neighbours on normalised hand landmarks.
    knn_k: int = field(default=5, metadata=_range(1, 50))
    # Learned dynamic gestures: a match's mean distance per template frame, in shoulder widths,
    # at which confidence is 0.5.
    dtw_threshold: float = field(default=0.15, metadata=_range(0.001, 10.0))
    dtw_hand_shape_weight: float = field(default=0.0, metadata=_range(0.0, 10.0))
    mirror_invariant: bool = True  # a taught movement also matches its mirror image (other hand)

    def __post_init__(self) -> None:
        if self.off_threshold > self.on_threshold:
            raise ConfigError(
                f"gestures.off_threshold ({self.off_threshold}) must not exceed "
                f"gestures.on_threshold ({self.on_threshold}): that is what makes the hysteresis"
            )
