"""Built-in two-hand shapes: both hands of one visitor (and their pose arms) -> a confidence each.

Like ``hand_shapes``, each shape is a fuzzy AND (``min``) of soft facts (linear ramps). The hands
are the visitor's own accepted hands (``installation.hand_ownership``: a hand on someone else's
wrist never gets here), in isotropic image units. Distances between the two hands are measured
in x and y only: MediaPipe's z of a hand is relative to its own wrist, so the two hands' z are on
different origins.

- heart: thumb tips touching below, index tips touching above, every finger curved (none
  straight) and the index not folded into a fist (its tip reaches out from the wrist); the
  wrists apart.
- cross (X): the forearms crossed: the visitor's left wrist right of their right wrist (body
  coordinates, from the pose) while the elbows are not, and each hand past the other's wrist.
  Needs the pose's wrists and elbows seen.
- time-out (T): both hands flat (four fingers straight), one pointing up or down and the other
  sideways, the fingertips of one touching the other's palm side between its wrist and its
  fingertips (a touch at the very tips is an L, not a T). Either hand may be the stem.
"""

from __future__ import annotations

import enum

import numpy as np

from installation.contracts import HandLandmark as H
from installation.contracts import PoseLandmark as P
from installation.gestures.body_poses import PoseView
from installation.gestures.hand_shapes import hand_facts, ramp
from installation.gestures.normalise import MIN_SCALE, palm_length


class TwoHandShape(str, enum.Enum):
    HEART = "heart"
    CROSS = "cross"
    TIME_OUT = "time_out"


# (low, high) ramps, in palm lengths unless named otherwise
TIPS_TOUCH = (0.6, 0.35)  # thumb tip to thumb tip, index tip to index tip
INDEX_ABOVE = (0.2, 0.45)  # heart: index tips above thumb tips (a real "C" hand: 0.5)
INDEX_REACH = (0.9, 1.2)  # heart: index tip to its own wrist (a fist's is ~0.7-0.9, a curved index ~1.2-1.6)
WRISTS_APART = (0.8, 1.3)  # heart: two hands side by side, not one over the other
CROSSED = (0.0, 0.25)  # X: how far the wrists (and each hand past the other's wrist) are crossed, shoulder widths
ELBOWS_APART = (-0.1, 0.2)  # X: the elbows stay on their own sides, shoulder widths
AXIS_ALIGNED = (0.8, 0.95)  # T: |cosine| of a hand's direction (wrist to middle tip) with vertical / horizontal
PALM_TOUCH = (0.6, 0.3)  # T: the stem's fingertips to the bar hand's centre line
ALONG_BAR = ((0.0, 0.2), (1.0, 0.85))  # T: where along the bar (0 wrist, 1 fingertips) the touch is
MIN_TRUST = 0.5  # pose wrists and elbows less visible than this: no X
_PALM_CENTRE = (H.WRIST, H.INDEX_MCP, H.MIDDLE_MCP, H.PINKY_MCP)


def two_hand_confidences(left: np.ndarray, right: np.ndarray, view: PoseView | None) -> dict[TwoHandShape, float]:
    """Confidence (0..1) of every two-hand shape for the visitor's isotropic (21, 3) ``left`` and
    ``right`` hands; ``view`` is their pose in body coordinates (None: no pose, so no X). All 0
    when a hand is degenerate."""
    palm = (palm_length(left) + palm_length(right)) / 2.0
    if not palm > MIN_SCALE:
        return {shape: 0.0 for shape in TwoHandShape}
    return {
        TwoHandShape.HEART: _heart(left, right, palm),
        TwoHandShape.CROSS: _cross(left, right, view) if view is not None else 0.0,
        TwoHandShape.TIME_OUT: max(_time_out(left, right, palm), _time_out(right, left, palm)),
    }


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a[:2] - b[:2]))


def _heart(left: np.ndarray, right: np.ndarray, palm: float) -> float:
    thumbs = _distance(left[H.THUMB_TIP], right[H.THUMB_TIP]) / palm
    indexes = _distance(left[H.INDEX_TIP], right[H.INDEX_TIP]) / palm
    # image y grows downwards: the index tips' y is smaller than the thumb tips'
    above = (left[H.THUMB_TIP, 1] + right[H.THUMB_TIP, 1] - left[H.INDEX_TIP, 1] - right[H.INDEX_TIP, 1]) / 2 / palm
    facts = [ramp(thumbs, TIPS_TOUCH), ramp(indexes, TIPS_TOUCH), ramp(float(above), INDEX_ABOVE),
             ramp(_distance(left[H.WRIST], right[H.WRIST]) / palm, WRISTS_APART)]
    for hand in (left, right):
        # every finger curved or folded: a straight index is pointing, a straight little finger a "call"
        hand_fact = hand_facts(hand)
        bent = [1.0 - hand_fact.get(f"{finger}_extended", 1.0) for finger in ("index", "middle", "ring", "pinky")]
        reach = ramp(_distance(hand[H.INDEX_TIP], hand[H.WRIST]) / palm_length(hand), INDEX_REACH)
        facts += [*bent, reach]
    return float(min(facts))


def _cross(left: np.ndarray, right: np.ndarray, view: PoseView) -> float:
    if view.trust(P.LEFT_WRIST, P.RIGHT_WRIST, P.LEFT_ELBOW, P.RIGHT_ELBOW) < MIN_TRUST:
        return 0.0
    u = {name: float(view.point(landmark)[0]) for name, landmark in
         (("lw", P.LEFT_WRIST), ("rw", P.RIGHT_WRIST), ("le", P.LEFT_ELBOW), ("re", P.RIGHT_ELBOW))}
    palm_u = {side: float(view.frame.to_body(hand[list(_PALM_CENTRE), :2].mean(axis=0))[0])
              for side, hand in (("l", left), ("r", right))}
    # u points to the visitor's right: uncrossed, the left wrist has the smaller u
    return float(min(ramp(u["lw"] - u["rw"], CROSSED), ramp(u["re"] - u["le"], ELBOWS_APART),
                     ramp(palm_u["l"] - u["rw"], CROSSED), ramp(u["lw"] - palm_u["r"], CROSSED)))


def _flat(hand: np.ndarray) -> float:
    facts = hand_facts(hand)
    return min(facts.get(f"{finger}_extended", 0.0) for finger in ("index", "middle", "ring", "pinky"))


def _direction(hand: np.ndarray) -> np.ndarray:
    """The unit (x, y) direction from the wrist to the middle fingertip (zeros when degenerate)."""
    along = hand[H.MIDDLE_TIP, :2] - hand[H.WRIST, :2]
    norm = float(np.linalg.norm(along))
    return along / norm if norm > MIN_SCALE else np.zeros(2)


def _time_out(stem: np.ndarray, bar: np.ndarray, palm: float) -> float:
    """The T with ``stem``'s fingertips on ``bar``'s palm side."""
    stem_dir, bar_dir = np.abs(_direction(stem)), np.abs(_direction(bar))
    crossed = max(min(ramp(stem_dir[1], AXIS_ALIGNED), ramp(bar_dir[0], AXIS_ALIGNED)),
                  min(ramp(stem_dir[0], AXIS_ALIGNED), ramp(bar_dir[1], AXIS_ALIGNED)))
    start, end = bar[H.WRIST, :2], bar[H.MIDDLE_TIP, :2]
    length = float(np.linalg.norm(end - start))
    if not length > MIN_SCALE:
        return 0.0
    tips = stem[[H.INDEX_TIP, H.MIDDLE_TIP, H.RING_TIP], :2].mean(axis=0)
    along = float(np.dot(tips - start, end - start)) / length ** 2  # 0 at the bar's wrist, 1 at its fingertips
    nearest = start + np.clip(along, 0.0, 1.0) * (end - start)
    touch = ramp(float(np.linalg.norm(tips - nearest)) / palm, PALM_TOUCH)
    on_palm = min(ramp(along, ALONG_BAR[0]), ramp(along, ALONG_BAR[1]))
    return float(min(_flat(stem), _flat(bar), crossed, touch, on_palm))
