"""Feature specs: what the features are, declared once, and the documentation made from them.

Every feature is a field of ``Features`` with its range, rest value and meaning in the field's
metadata; ``FEATURE_SPECS`` and ``docs/features.md`` are derived from those declarations
(``python -m installation.feature_specs`` regenerates the docs). How the values are measured
from a body is ``installation.features`` (``FeatureExtractor``); the conventions it follows are
written into the docs (``DOC_NOTES``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from installation.config import PROJECT_ROOT

DEFAULT_DOCS_PATH = PROJECT_ROOT / "docs" / "features.md"


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: its name, its range [low, high], what it means, and its rest value."""

    name: str
    low: float
    high: float
    description: str
    rest: float = 0.0


def _feature(low: float, high: float, rest: float, description: str) -> Any:
    return field(metadata={"spec": (low, high, description, rest)})


@dataclass(frozen=True)
class Features:
    """The named features of one frame. Ranges and meanings: FEATURE_SPECS / docs/features.md."""

    presence: float = _feature(
        0, 1, 0,
        "Someone is there: the largest presence of pose, left hand and right hand (1 seen or "
        "held, fading to 0 after a drop-out).",
    )
    body_x: float = _feature(
        -1, 1, 0,
        "Horizontal position of the body centre (shoulder midpoint, else the nose): -1 left edge, "
        "0 centre, +1 right edge of the image.",
    )
    body_y: float = _feature(
        -1, 1, 0,
        "Vertical position of the body centre: -1 top edge, 0 centre, +1 bottom edge of the "
        "image.",
    )
    body_size: float = _feature(
        0, 1, 0,
        "Shoulder width as a fraction of the image width x 2.5, clipped: a proxy of nearness (1 = "
        "shoulders span 40% of the image).",
    )
    lean: float = _feature(
        -1, 1, 0,
        "Roll of the shoulder line: +1 = upper body tilted 30 degrees or more toward the image's "
        "right (+x, the same way body_x grows), -1 toward its left.",
    )
    motion_energy: float = _feature(
        0, 1, 0,
        "How fast the upper body moves (nose, shoulders, elbows, wrists): 1 - exp(-v / 2) for v "
        "in shoulder widths per second, low-passed over ~0.2 s.",
    )
    hands_spread: float = _feature(
        0, 1, 0,
        "Distance between the two wrists / (3 x shoulder width), clipped: 1 = arms wide (T-pose).",
    )
    left_hand_height: float = _feature(
        -1, 1, -1,
        "Visitor's left wrist above the shoulder line, in torso lengths (shoulder mid to hip mid, "
        "or 1.5 x shoulder width if the hips are not seen): +1 = a torso length above, -1 = a "
        "torso length below (hand down).",
    )
    right_hand_height: float = _feature(
        -1, 1, -1,
        "As left_hand_height, for the visitor's right wrist.",
    )
    left_hand_x: float = _feature(
        -1, 1, 0,
        "Horizontal position of the visitor's left wrist (hand tracker's wrist, else the pose "
        "wrist): -1 left edge, +1 right edge of the image.",
    )
    left_hand_y: float = _feature(
        -1, 1, 0,
        "Vertical position of the visitor's left wrist: -1 top edge, +1 bottom edge of the image.",
    )
    right_hand_x: float = _feature(
        -1, 1, 0,
        "As left_hand_x, for the visitor's right wrist.",
    )
    right_hand_y: float = _feature(
        -1, 1, 0,
        "As left_hand_y, for the visitor's right wrist.",
    )
    left_hand_openness: float = _feature(
        0, 1, 0,
        "Visitor's left hand: 0 = fist, 1 = flat open hand (mean index..pinky tip-to-wrist "
        "distance in palm lengths, 0.9 -> 0, 1.8 -> 1).",
    )
    right_hand_openness: float = _feature(
        0, 1, 0,
        "As left_hand_openness, for the visitor's right hand.",
    )
    left_pinch: float = _feature(
        0, 1, 0,
        "Visitor's left hand: 1 = thumb tip touches index tip, 0 = they are 0.8 palm lengths or "
        "more apart. A tight fist can read as a partial pinch.",
    )
    right_pinch: float = _feature(
        0, 1, 0,
        "As left_pinch, for the visitor's right hand.",
    )

    @classmethod
    def neutral(cls) -> Features:
        """Nobody there: presence 0 and every other feature at its rest value."""
        return cls(**{spec.name: spec.rest for spec in FEATURE_SPECS})

    @classmethod
    def from_values(cls, values: dict[str, float]) -> Features:
        """Features from raw values: missing or non-finite ones become rest values; all are clipped."""
        clean = {}
        for spec in FEATURE_SPECS:
            value = float(values.get(spec.name, spec.rest))
            clean[spec.name] = min(max(value, spec.low), spec.high) if math.isfinite(value) else spec.rest
        return cls(**clean)

    def as_vector(self) -> np.ndarray:
        """The features as a (F,) float32 array, in FEATURE_SPECS order."""
        return np.array([getattr(self, spec.name) for spec in FEATURE_SPECS], dtype=np.float32)

    def as_dict(self) -> dict[str, float]:
        """The features as {name: value}, in FEATURE_SPECS order."""
        return {spec.name: getattr(self, spec.name) for spec in FEATURE_SPECS}


def _specs_of(cls: type) -> tuple[FeatureSpec, ...]:
    specs = []
    for f in fields(cls):
        low, high, description, rest = f.metadata["spec"]
        specs.append(FeatureSpec(f.name, float(low), float(high), description, float(rest)))
    return tuple(specs)


FEATURE_SPECS: tuple[FeatureSpec, ...] = _specs_of(Features)


# --- documentation --------------------------------------------------------------------------

DOC_NOTES = """\
## Conventions

- **Coordinates.** Positions are MediaPipe's normalised coordinates of the *perceived* image
  (after any mirroring or crop): x to the right, y downwards, 0..1 across the image, mapped to
  -1..+1 here. x and y have distinct scales when the image is not square, so distances (shoulder
  width, torso, spread, palm, pinch) and the lean angle are measured after multiplying x (and a
  hand's z, which MediaPipe gives on x's scale) by the image aspect, width / height.
  `FeatureExtractor(image_aspect=width / height)` takes it once, at construction.
- **Sides.** `left_*` and `right_*` are the visitor's own hands, as perception decided them.
  `lean` does not depend on side labels: it is measured in the image, and is positive when the
  upper body tilts toward +x, the same direction in which `body_x` grows. With a mirrored
  source (the default) that is also the visitor's own right.
- **Visibility.** Pose landmarks with visibility below 0.5 are not seen; trust then ramps up to
  full at 0.6, so nothing jumps when a landmark crosses the threshold. The hand position and
  height use the hand tracker's wrist where a hand is tracked, the pose wrist otherwise.
- **Presence.** Each feature moves from its rest value to its measured value in proportion to
  how present its sources are (hand presence for hand features, pose presence for body features),
  so a part that drops out fades its features smoothly to rest. Nobody there = every feature at
  rest (`Features.neutral()`).
- **Robustness.** Features are always finite and inside their range: what cannot be measured
  (a degenerate or invalid body) is at rest.
"""


def feature_docs_markdown() -> str:
    """The Markdown text of docs/features.md, generated from FEATURE_SPECS and DOC_NOTES."""
    lines = [
        "# Features",
        "",
        "Generated from `installation/feature_specs.py` by `python -m installation.feature_specs`; do not edit "
        "by hand.",
        "",
        "| name | range | rest | meaning |",
        "|---|---|---|---|",
    ]
    for spec in FEATURE_SPECS:
        lines.append(f"| `{spec.name}` | {spec.low:g} .. {spec.high:g} | {spec.rest:g} | {spec.description} |")
    from installation.faces import face_docs_markdown  # the face's measures: not in the feature vector

    return "\n".join(lines) + "\n\n" + DOC_NOTES + "\n" + face_docs_markdown()


def write_feature_docs(path: Path | str = DEFAULT_DOCS_PATH) -> Path:
    """Write the feature table to ``path`` (creating its folder); returns the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feature_docs_markdown(), encoding="utf-8")
    return path


if __name__ == "__main__":
    write_feature_docs()
