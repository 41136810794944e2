"""Built-in static hand gestures: one hand's landmarks -> a confidence (0..1) per gesture.

Each gesture is a conjunction of a few geometric facts about the hand, each measured as a soft
truth value (a linear ramp between two thresholds, 0.5 at their midpoint) and combined with
``min`` (fuzzy AND). The thresholds were read off 4,787 real MediaPipe hands of
``keypoint.csv`` (Open / Close / Pointer / OK) and the photos in ``media/images/hands``; see
docs/gestures.md for the table.

The facts are invariant to the hand's size and distance (ratios of lengths), to left/right and
to mirroring (no left-right direction is used). Up/down is used: a thumbs-up needs the thumb
above the rest of the hand.

Facts:
- finger extended: its tip is farther from the wrist than its middle joint (PIP), by the ratio
  ``tip-wrist / pip-wrist``: curled fingers fold back toward the wrist (~0.7), straight ones
  reach past it (~1.4). Measured in 3D when z is given, so a finger pointing at the camera still
  counts as extended.
- thumb out: thumb tip away from the index knuckle, in palm lengths (wrist to middle knuckle).
- thumb up: the thumb's direction (knuckle to tip) within ~45 degrees of straight up, and its tip
  above every other landmark.
- touch: thumb tip and index tip within ~0.3 palm lengths.
"""

from __future__ import annotations

import enum
import math

import numpy as np

from installation.contracts import HAND_LANDMARK_COUNT, HandLandmark
from installation.gestures.normalise import MIN_SCALE, palm_length


class HandShape(str, enum.Enum):
    OPEN_PALM = "open_palm"
    FIST = "fist"
    POINTING = "pointing"
    VICTORY = "victory"
    THUMBS_UP = "thumbs_up"
    PINCH = "pinch"
    OK = "ok"


# (low, high) of each ramp: the fact is 0 at low and 1 at high (either order).
EXTENDED_REACH = (0.95, 1.2)  # tip-wrist / pip-wrist
CURLED_REACH = (1.3, 1.0)  # "not extended" is looser than "extended": a half-bent finger is neither
THUMB_OUT = (0.55, 0.85)  # thumb tip to index knuckle, palm lengths
THUMB_UP_COS = (0.55, 0.8)  # cosine between the thumb and straight up (~57 .. ~37 degrees)
THUMB_ABOVE = (0.1, 0.3)  # thumb tip above the highest other landmark, palm lengths
TOUCH = (0.45, 0.25)  # thumb tip to index tip, palm lengths
INDEX_REACHING = (0.85, 1.0)  # pinch: the index reaches out to the thumb, not folded in a fist
V_SPREAD = (0.2, 0.4)  # victory: index tip to middle tip, palm lengths

_FINGERS = {
    "index": (HandLandmark.INDEX_PIP, HandLandmark.INDEX_TIP),
    "middle": (HandLandmark.MIDDLE_PIP, HandLandmark.MIDDLE_TIP),
    "ring": (HandLandmark.RING_PIP, HandLandmark.RING_TIP),
    "pinky": (HandLandmark.PINKY_PIP, HandLandmark.PINKY_TIP),
}


def ramp(value: float, bounds: tuple[float, float]) -> float:
    """A soft truth value: 0 at bounds[0], 1 at bounds[1], linear between, clipped; NaN -> 0."""
    low, high = bounds
    if not math.isfinite(value):
        return 0.0
    return float(min(max((value - low) / (high - low), 0.0), 1.0))


def _reach(hand: np.ndarray, pip: HandLandmark, tip: HandLandmark) -> float:
    wrist = hand[HandLandmark.WRIST]
    near = float(np.linalg.norm(hand[pip] - wrist))
    return float(np.linalg.norm(hand[tip] - wrist)) / near if near > MIN_SCALE else math.nan


def hand_facts(hand: np.ndarray) -> dict[str, float]:
    """The soft facts of one isotropic (21, 2 or 3) hand, each in [0, 1] (see module docstring).

    Raises ValueError for a wrong shape."""
    hand = np.asarray(hand, np.float64)
    if hand.ndim != 2 or hand.shape[0] != HAND_LANDMARK_COUNT or hand.shape[1] not in (2, 3):
        raise ValueError(f"expected a hand of shape ({HAND_LANDMARK_COUNT}, 2 or 3), got {hand.shape}")
    palm = palm_length(hand)
    if not (np.isfinite(hand).all() and palm > MIN_SCALE):
        return {}
    facts = {}
    for name, (pip, tip) in _FINGERS.items():
        reach = _reach(hand, pip, tip)
        facts[f"{name}_extended"] = ramp(reach, EXTENDED_REACH)
        facts[f"{name}_curled"] = ramp(reach, CURLED_REACH)
    thumb_tip = hand[HandLandmark.THUMB_TIP]
    facts["thumb_out"] = ramp(float(np.linalg.norm(thumb_tip - hand[HandLandmark.INDEX_MCP])) / palm, THUMB_OUT)
    direction = thumb_tip - hand[HandLandmark.THUMB_MCP]
    up = np.zeros(hand.shape[1])
    up[1] = -1.0  # image y grows downwards
    norm = float(np.linalg.norm(direction))
    cosine = float(direction @ up) / norm if norm > MIN_SCALE else math.nan
    others = np.delete(hand[:, 1], [HandLandmark.THUMB_TIP, HandLandmark.THUMB_IP])
    above = (float(others.min()) - float(thumb_tip[1])) / palm
    facts["thumb_up"] = min(ramp(cosine, THUMB_UP_COS), ramp(above, THUMB_ABOVE))
    facts["touch"] = ramp(float(np.linalg.norm(thumb_tip - hand[HandLandmark.INDEX_TIP])) / palm, TOUCH)
    facts["index_reaching"] = ramp(_reach(hand, HandLandmark.INDEX_PIP, HandLandmark.INDEX_TIP), INDEX_REACHING)
    tips_apart = float(np.linalg.norm(hand[HandLandmark.INDEX_TIP] - hand[HandLandmark.MIDDLE_TIP])) / palm
    facts["v_spread"] = ramp(tips_apart, V_SPREAD)
    return facts


def shape_confidences(hand: np.ndarray) -> dict[HandShape, float]:
    """Confidence (0..1) of every built-in hand shape for one isotropic (21, 2 or 3) hand; all 0
    for a degenerate hand. Raises ValueError for a wrong shape."""
    f = hand_facts(hand)
    if not f:
        return {shape: 0.0 for shape in HandShape}
    extended = [f["index_extended"], f["middle_extended"], f["ring_extended"], f["pinky_extended"]]
    curled = [f["index_curled"], f["middle_curled"], f["ring_curled"], f["pinky_curled"]]
    last_three_open = min(extended[1:])
    return {
        HandShape.OPEN_PALM: min(*extended, 1.0 - f["touch"]),
        HandShape.FIST: min(*curled, 1.0 - f["thumb_up"], 1.0 - f["touch"] * f["index_reaching"]),
        HandShape.POINTING: min(extended[0], *curled[1:], 1.0 - f["touch"]),
        HandShape.VICTORY: min(extended[0], extended[1], curled[2], curled[3], f["v_spread"]),
        HandShape.THUMBS_UP: min(*curled, f["thumb_out"], f["thumb_up"]),
        HandShape.PINCH: min(f["touch"], f["index_reaching"], 1.0 - last_three_open),
        HandShape.OK: min(f["touch"], last_three_open),
    }


def best_shape(hand: np.ndarray) -> tuple[HandShape | None, float]:
    """The most confident built-in shape of one isotropic hand and its confidence; (None, 0.0)
    when no shape has any confidence."""
    confidences = shape_confidences(hand)
    shape = max(confidences, key=confidences.__getitem__)
    return (shape, confidences[shape]) if confidences[shape] > 0.0 else (None, 0.0)
