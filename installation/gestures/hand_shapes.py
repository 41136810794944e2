"""Built-in static hand gestures: one hand's landmarks -> a confidence (0..1) per gesture.

Each gesture is a conjunction of a few geometric facts about the hand, each measured as a soft
truth value (a linear ramp between two thresholds, 0.5 at their midpoint) and combined with
``min`` (fuzzy AND). The thresholds were read off real MediaPipe hands (``keypoint.csv``, the
photos in ``media/images/hands`` and the letters of ``tfjs_asl_hand.25fps.mp4``); see
docs/gestures.md for the table and the confusion matrix.

The facts are angles between the hand's bones in 3-D (x, y and MediaPipe's z, one unit after
``isotropic``), so they do not change with the hand's size, distance, left/right, mirroring or
how it is turned: a finger pointing at the camera is foreshortened to a dot in the image, but its
joints are still straight. Up/down is used only for the thumb's direction (up vs down).

Facts:
- finger extended / curled: the sum of its three joint angles (knuckle, middle and end joint;
  0 = straight). Straight fingers bend ~10-60 degrees in all, a fist's ~200-280.
- thumb out: the thumb straight (its two outer joints bend little) and its tip clear of every
  landmark of the four fingers, in palm lengths (wrist to middle knuckle).
- thumb up / down: the thumb's direction (knuckle to tip) within ~45 degrees of straight up
  (down), and its tip above (below) every other landmark.
- thumb across: its tip over the palm, near the middle and ring knuckles (four, not an open palm).
- touch: thumb tip and index tip within ~0.3 palm lengths.
"""

from __future__ import annotations

import enum
import functools
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
    THUMBS_DOWN = "thumbs_down"
    PINCH = "pinch"
    OK = "ok"
    CALL = "call"  # thumb and little finger out (the "phone" / shaka)
    ROCK = "rock"  # index and little finger up
    THREE = "three"  # index, middle and ring up
    FOUR = "four"  # four fingers up, thumb folded in
    LITTLE_FINGER = "little_finger"
    GUN = "gun"  # index out, thumb up
    TWO_FINGERS = "two_fingers"  # index and middle together (not spread as in victory)


# (low, high) of each ramp: the fact is 0 at low and 1 at high (either order).
EXTENDED_BEND = (110.0, 60.0)  # sum of a finger's three joint angles, degrees
CURLED_BEND = (80.0, 140.0)  # "not extended" is looser than "extended": a half-bent finger is neither
THUMB_STRAIGHT = (70.0, 35.0)  # sum of the thumb's two outer joint angles, degrees
THUMB_CLEAR = (0.35, 0.55)  # thumb tip to the nearest landmark of the four fingers, palm lengths
THUMB_UP_COS = (0.55, 0.8)  # cosine between the thumb and straight up / down (~57 .. ~37 degrees)
THUMB_ABOVE = (0.1, 0.3)  # thumb tip above (below) the highest (lowest) other landmark, palm lengths
TOUCH = (0.45, 0.25)  # thumb tip to index tip, palm lengths
INDEX_REACHING = (140.0, 90.0)  # pinch: the index bends less than a fist's, reaching out to the thumb
THUMB_ACROSS = (0.6, 0.4)  # four: thumb tip to the middle of the middle and ring knuckles, palm lengths
V_SPREAD = (0.2, 0.4)  # victory: index tip to middle tip, palm lengths (two fingers: less)

_FINGERS = {
    "index": (HandLandmark.INDEX_MCP, HandLandmark.INDEX_PIP, HandLandmark.INDEX_DIP,
              HandLandmark.INDEX_TIP),
    "middle": (HandLandmark.MIDDLE_MCP, HandLandmark.MIDDLE_PIP, HandLandmark.MIDDLE_DIP,
               HandLandmark.MIDDLE_TIP),
    "ring": (HandLandmark.RING_MCP, HandLandmark.RING_PIP, HandLandmark.RING_DIP,
             HandLandmark.RING_TIP),
    "pinky": (HandLandmark.PINKY_MCP, HandLandmark.PINKY_PIP, HandLandmark.PINKY_DIP, HandLandmark.PINKY_TIP),
}
_THUMB = (HandLandmark.THUMB_CMC, HandLandmark.THUMB_MCP, HandLandmark.THUMB_IP, HandLandmark.THUMB_TIP)
# each finger's chain from the wrist: (4 fingers, 5 points) indices into the 21 landmarks
_FINGER_CHAINS = np.array([(HandLandmark.WRIST, *joints) for joints in _FINGERS.values()])


def ramp(value: float, bounds: tuple[float, float]) -> float:
    """A soft truth value: 0 at bounds[0], 1 at bounds[1], linear between, clipped; NaN -> 0."""
    low, high = bounds
    if not math.isfinite(value):
        return 0.0
    return float(min(max((value - low) / (high - low), 0.0), 1.0))


def bend_degrees(points: np.ndarray) -> float:
    """Sum of the angles (degrees) between consecutive bones of a chain of (n, 2 or 3) points:
    0 for a straight chain; NaN if a bone has no length."""
    bones = np.diff(points, axis=0)
    lengths = np.linalg.norm(bones, axis=1)
    if float(lengths.min()) <= MIN_SCALE * 1e-2:
        return math.nan
    unit = bones / lengths[:, None]
    cosines = np.clip(np.sum(unit[:-1] * unit[1:], axis=1), -1.0, 1.0)
    return float(np.degrees(np.arccos(cosines)).sum())


def finger_bends(hand: np.ndarray) -> np.ndarray:
    """``bend_degrees`` of the four fingers' chains from the wrist at once: (4,) degrees, NaN
    where a bone has no length."""
    bones = np.diff(hand[_FINGER_CHAINS], axis=1)  # (4, 4, d)
    lengths = np.linalg.norm(bones, axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = bones / lengths[:, :, None]
    cosines = np.clip(np.sum(unit[:, :-1] * unit[:, 1:], axis=2), -1.0, 1.0)
    bends = np.degrees(np.arccos(cosines)).sum(axis=1)
    return np.where(lengths.min(axis=1) <= MIN_SCALE * 1e-2, np.nan, bends)


def hand_facts(hand: np.ndarray) -> dict[str, float]:
    """The soft facts of one isotropic (21, 2 or 3) hand, each in [0, 1] (see module docstring).

    Raises ValueError for a wrong shape. One frame asks for the same hand's facts several times
    (its shape, the two-hand shapes): the last few hands' facts are kept."""
    hand = np.ascontiguousarray(hand, np.float64)
    if hand.ndim != 2 or hand.shape[0] != HAND_LANDMARK_COUNT or hand.shape[1] not in (2, 3):
        raise ValueError(f"expected a hand of shape ({HAND_LANDMARK_COUNT}, 2 or 3), got {hand.shape}")
    return dict(_facts_of(hand.tobytes(), hand.shape[1]))


@functools.lru_cache(maxsize=8)
def _facts_of(raw: bytes, dims: int) -> dict[str, float]:
    hand = np.frombuffer(raw, np.float64).reshape(HAND_LANDMARK_COUNT, dims)
    palm = palm_length(hand)
    if not (np.isfinite(hand).all() and palm > MIN_SCALE):
        return {}
    facts = {}
    for name, bend in zip(_FINGERS, finger_bends(hand).tolist()):
        facts[f"{name}_extended"] = ramp(bend, EXTENDED_BEND)
        facts[f"{name}_curled"] = ramp(bend, CURLED_BEND)
        if name == "index":
            facts["index_reaching"] = ramp(bend, INDEX_REACHING)
    thumb_tip = hand[HandLandmark.THUMB_TIP]
    # Clear of the fingers: a thumb folded across a fist or along the index lies on them (~0.1-0.3
    # palms), one held out is ~0.7-1.0 away. (Its distance to the index knuckle can't tell: a
    # thumb wrapped over a fist's middle finger is as far from that knuckle as one held out.)
    away = ramp(float(np.linalg.norm(hand[5:] - thumb_tip, axis=1).min()) / palm, THUMB_CLEAR)
    facts["thumb_out"] = min(away, ramp(bend_degrees(hand[list(_THUMB[1:])]), THUMB_STRAIGHT))
    direction = thumb_tip - hand[HandLandmark.THUMB_MCP]
    norm = float(np.linalg.norm(direction))
    cosine = -float(direction[1]) / norm if norm > MIN_SCALE else math.nan  # image y grows downwards
    others = np.delete(hand[:, 1], [HandLandmark.THUMB_TIP, HandLandmark.THUMB_IP])
    above = (float(others.min()) - float(thumb_tip[1])) / palm
    below = (float(thumb_tip[1]) - float(others.max())) / palm
    facts["thumb_up"] = min(ramp(cosine, THUMB_UP_COS), ramp(above, THUMB_ABOVE))
    facts["thumb_down"] = min(ramp(-cosine, THUMB_UP_COS), ramp(below, THUMB_ABOVE))
    # Folded across the palm (four), not merely held along the index (a relaxed open palm):
    # in keypoint.csv's open palms read as four, the tip was a median 0.8 palms from there.
    knuckles = (hand[HandLandmark.MIDDLE_MCP] + hand[HandLandmark.RING_MCP]) / 2
    facts["thumb_across"] = ramp(float(np.linalg.norm(thumb_tip - knuckles)) / palm, THUMB_ACROSS)
    facts["touch"] = ramp(float(np.linalg.norm(thumb_tip - hand[HandLandmark.INDEX_TIP])) / palm, TOUCH)
    tips_apart = float(np.linalg.norm(hand[HandLandmark.INDEX_TIP] - hand[HandLandmark.MIDDLE_TIP])) / palm
    facts["v_spread"] = ramp(tips_apart, V_SPREAD)
    return facts


def shape_confidences(hand: np.ndarray) -> dict[HandShape, float]:
    """Confidence (0..1) of every built-in hand shape for one isotropic (21, 2 or 3) hand; all 0
    for a degenerate hand. Raises ValueError for a wrong shape."""
    f = hand_facts(hand)
    if not f:
        return {shape: 0.0 for shape in HandShape}
    e = {name: f[f"{name}_extended"] for name in _FINGERS}
    c = {name: f[f"{name}_curled"] for name in _FINGERS}
    thumb_in, no_touch = 1.0 - f["thumb_out"], 1.0 - f["touch"]
    thumb_level = 1.0 - max(f["thumb_up"], f["thumb_down"])
    last_three_open = min(e["middle"], e["ring"], e["pinky"])
    return {
        # the thumb out or held along the index: only one folded across the palm makes a four
        HandShape.OPEN_PALM: min(*e.values(), 1.0 - f["thumb_across"], no_touch),
        HandShape.FOUR: min(*e.values(), thumb_in, f["thumb_across"], no_touch),
        HandShape.FIST: min(*c.values(), thumb_level, 1.0 - f["touch"] * f["index_reaching"]),
        HandShape.POINTING: min(e["index"], c["middle"], c["ring"], c["pinky"], thumb_in, no_touch),
        HandShape.GUN: min(e["index"], c["middle"], c["ring"], c["pinky"], f["thumb_out"], no_touch),
        HandShape.VICTORY: min(e["index"], e["middle"], c["ring"], c["pinky"], f["v_spread"]),
        HandShape.TWO_FINGERS: min(e["index"], e["middle"], c["ring"], c["pinky"], 1.0 - f["v_spread"]),
        HandShape.THREE: min(e["index"], e["middle"], e["ring"], c["pinky"]),
        HandShape.THUMBS_UP: min(*c.values(), f["thumb_out"], f["thumb_up"]),
        HandShape.THUMBS_DOWN: min(*c.values(), f["thumb_out"], f["thumb_down"]),
        HandShape.PINCH: min(f["touch"], f["index_reaching"], 1.0 - last_three_open),
        HandShape.OK: min(f["touch"], last_three_open),
        HandShape.CALL: min(e["pinky"], c["index"], c["middle"], c["ring"], f["thumb_out"]),
        HandShape.ROCK: min(e["index"], e["pinky"], c["middle"], c["ring"]),
        HandShape.LITTLE_FINGER: min(e["pinky"], c["index"], c["middle"], c["ring"], thumb_in),
    }


def best_shape(hand: np.ndarray) -> tuple[HandShape | None, float]:
    """The most confident built-in shape of one isotropic hand and its confidence; (None, 0.0)
    when no shape has any confidence."""
    confidences = shape_confidences(hand)
    shape = max(confidences, key=confidences.__getitem__)
    return (shape, confidences[shape]) if confidences[shape] > 0.0 else (None, 0.0)
