"""What is taught and what is learned: examples as recorded, and the trained model.

An ``Example`` keeps what was *perceived* (landmarks, times, features), not derived
descriptors, so examples stay valid when a descriptor changes: ``gestures train`` derives them
again. A ``TrainedGestures`` is what the recogniser runs: a k-NN for static hand gestures, DTW
templates for movements, and named continuous mappings.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from installation.contracts import HAND_LANDMARK_COUNT, POSE_LANDMARK_COUNT
from installation.gestures.continuous import ContinuousMapping
from installation.gestures.knn import KnnClassifier


class ExampleKind(str, enum.Enum):
    STATIC = "static"  # a hand shape: every frame's hand is one example
    DYNAMIC = "dynamic"  # a movement: the recording is one example sequence
    MAPPING = "mapping"  # a pose with target values: every frame's features -> the targets


# Arrays each kind of example holds: name -> (number of dimensions, trailing shape).
EXAMPLE_ARRAYS: dict[ExampleKind, dict[str, tuple[int, tuple[int, ...]]]] = {
    ExampleKind.STATIC: {"hands": (3, (HAND_LANDMARK_COUNT, 3))},  # (n, 21, 3) isotropic hand landmarks
    ExampleKind.DYNAMIC: {
        "times": (1, ()),  # (n,) media seconds
        "pose": (3, (POSE_LANDMARK_COUNT, 4)),  # (n, 33, 4) normalised pose, NaN where there was none
        "left": (3, (HAND_LANDMARK_COUNT, 3)),  # (n, 21, 3) normalised hand, NaN where not seen
        "right": (3, (HAND_LANDMARK_COUNT, 3)),
        "presence": (2, (3,)),  # (n, 3) pose, left, right presence
    },
    ExampleKind.MAPPING: {"inputs": (2, ()), "targets": (2, ())},  # (n, F), (n, T)
}


@dataclass(frozen=True)
class Example:
    """One recording. ``meta`` holds at least the source, and per kind: ``aspect`` and
    ``mirrored`` (dynamic), ``input_names`` and ``target_names`` (mapping)."""

    kind: ExampleKind
    name: str
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return len(next(iter(self.arrays.values())))


@dataclass(frozen=True)
class Template:
    """A taught movement: its descriptor sequence (m, F) and its match threshold (the DTW
    distance, in shoulder widths, at which confidence is 0.5)."""

    name: str
    sequence: np.ndarray
    threshold: float


@dataclass
class TrainedGestures:
    """The learned part of the recogniser. ``shape_weight`` is the hand-shape weight its movement
    templates were built with (descriptors at run time must match)."""

    static: KnnClassifier | None = None
    templates: list[Template] = field(default_factory=list)
    mappings: dict[str, ContinuousMapping] = field(default_factory=dict)
    shape_weight: float = 0.0

    @property
    def is_empty(self) -> bool:
        return self.static is None and not self.templates and not self.mappings

    def describe(self) -> str:
        """One line per learned part, for logs and the command line."""
        lines = []
        if self.static is not None:
            counts = np.bincount(self.static.labels, minlength=len(self.static.classes))
            shapes = ", ".join(f"{name} ({count})" for name, count in zip(self.static.classes, counts))
            lines.append(f"static hand gestures (k-NN, k={self.static.k}): {shapes}")
        for template in self.templates:
            lines.append(
                f"movement {template.name}: {len(template.sequence)} frames, threshold {template.threshold:.3f}"
            )
        for name, mapping in self.mappings.items():
            lines.append(
                f"mapping {name} ({mapping.method}): {len(mapping.inputs)} examples, "
                f"{len(mapping.input_names)} inputs -> {', '.join(mapping.output_names)}"
            )
        return "\n".join(lines) if lines else "nothing learned"
