"""Built-in body poses: the smoothed pose -> a confidence (0..1) per pose.

Measured in body coordinates (``BodyFrame``: shoulder widths from the shoulder midpoint, u to
the visitor's right, v up), so they hold at any distance from the camera and in mirrored or
unmirrored images. Each confidence is a fuzzy AND (``min``) of soft facts (linear ramps, 0.5 at
the midpoint of their thresholds), times the trust of the landmarks it uses: their visibility,
and 0 for a landmark more than 5 % outside the picture (Pose guesses legs below the frame's edge with a
visibility that can pass): a pose whose wrists or knees are not in the picture has no
confidence, rather than a guessed one. The recogniser gives no body poses at all when a hand is
big beside the shoulders (a hand close-up: the "body" around it is a guess).

- arms up: both wrists at least ~0.55 shoulder widths above the shoulder line and above the nose.
- T-pose: both wrists ~1.3+ shoulder widths out from their shoulder, within ~0.4 of shoulder
  height, elbows at shoulder height too (arms level, not raised or hanging).
- hands together: the wrists (the hand tracker's palm centres where seen) within ~0.4 shoulder
  widths, at chest height or above (hands clasped at rest in front of the hips do not count).
- crouch: both thighs near horizontal: each knee less than ~0.45 torso lengths below its hip
  (standing, the drop is ~0.8 torso lengths; in a squat 0.15-0.35). Needs hips and knees in the picture.
"""

from __future__ import annotations

import enum

import numpy as np

from installation.contracts import PoseLandmark, Side
from installation.gestures.hand_shapes import ramp
from installation.gestures.normalise import MIN_SCALE, BodyFrame, isotropic, visibility_trust


class BodyPose(str, enum.Enum):
    ARMS_UP = "arms_up"
    T_POSE = "t_pose"
    HANDS_TOGETHER = "hands_together"
    CROUCH = "crouch"


# (low, high) ramps, shoulder widths unless said otherwise
ARMS_UP_HEIGHT = (0.3, 0.8)  # wrist above the shoulder line
T_REACH = (1.0, 1.5)  # wrist out from its own shoulder, horizontally
T_LEVEL = (0.6, 0.3)  # |wrist or elbow height - shoulder height|
TOGETHER_GAP = (0.6, 0.3)  # between the two wrists
TOGETHER_HEIGHT = (-1.3, -0.9)  # the hands' midpoint above this height (chest or higher)
IN_VIEW_MARGIN = 0.05  # image units: a wrist raised just past the top edge still counts as seen
CROUCH_THIGH_DROP = (0.6, 0.35)  # knee below hip, in torso lengths (shoulder mid to hip mid)

_SIDES = {
    Side.LEFT: (PoseLandmark.LEFT_SHOULDER, PoseLandmark.LEFT_ELBOW, PoseLandmark.LEFT_WRIST),
    Side.RIGHT: (PoseLandmark.RIGHT_SHOULDER, PoseLandmark.RIGHT_ELBOW, PoseLandmark.RIGHT_WRIST),
}
_OUTWARD = {Side.LEFT: -1.0, Side.RIGHT: 1.0}  # the visitor's left is -u


class PoseView:
    """A pose in body coordinates: ``point(landmark)`` (u, v) and ``trust(*landmarks)``."""

    def __init__(self, pose: np.ndarray, frame: BodyFrame, aspect: float) -> None:
        self.frame = frame
        self.uv = frame.to_body(isotropic(pose[:, :2], aspect))  # (33, 2)
        inside = np.all((pose[:, :2] >= -IN_VIEW_MARGIN) & (pose[:, :2] <= 1.0 + IN_VIEW_MARGIN), axis=1)  # (33,)
        self._trust = visibility_trust(pose[:, 3]) * inside  # (33,)

    def point(self, landmark: PoseLandmark) -> np.ndarray:
        return self.uv[landmark]

    def trust(self, *landmarks: PoseLandmark) -> float:
        """The least visibility trust among ``landmarks`` (and the shoulders')."""
        return float(min(self.frame.trust, *(self._trust[landmark] for landmark in landmarks)))


def pose_confidences(view: PoseView, palms: dict[Side, np.ndarray]) -> dict[BodyPose, float]:
    """Confidence of every built-in body pose. ``palms`` holds the body coordinates (u, v) of the
    hand tracker's palm centre for each side whose hand is seen (used for hands together)."""
    return {
        BodyPose.ARMS_UP: _arms_up(view),
        BodyPose.T_POSE: _t_pose(view),
        BodyPose.HANDS_TOGETHER: _hands_together(view, palms),
        BodyPose.CROUCH: _crouch(view),
    }


def _arms_up(view: PoseView) -> float:
    nose_v = view.point(PoseLandmark.NOSE)[1]
    facts = []
    for side in Side:
        wrist = view.point(_SIDES[side][2])
        facts += [ramp(wrist[1], ARMS_UP_HEIGHT), ramp(wrist[1] - nose_v, (0.0, 0.2))]
    return min(facts) * view.trust(PoseLandmark.LEFT_WRIST, PoseLandmark.RIGHT_WRIST, PoseLandmark.NOSE)


def _t_pose(view: PoseView) -> float:
    facts = []
    for side in Side:
        shoulder, elbow, wrist = (view.point(landmark) for landmark in _SIDES[side])
        facts.append(ramp(_OUTWARD[side] * (wrist[0] - shoulder[0]), T_REACH))
        facts.append(ramp(abs(wrist[1] - shoulder[1]), T_LEVEL))
        facts.append(ramp(abs(elbow[1] - shoulder[1]), T_LEVEL))
    landmarks = [landmark for side in Side for landmark in _SIDES[side][1:]]
    return min(facts) * view.trust(*landmarks)


def _hands_together(view: PoseView, palms: dict[Side, np.ndarray]) -> float:
    points, trust = [], 1.0
    for side in Side:
        if side in palms:
            points.append(palms[side])
        else:
            points.append(view.point(_SIDES[side][2]))
            trust = min(trust, view.trust(_SIDES[side][2]))
    gap = float(np.linalg.norm(points[0] - points[1]))
    height = float((points[0][1] + points[1][1]) / 2.0)
    return min(ramp(gap, TOGETHER_GAP), ramp(height, TOGETHER_HEIGHT)) * min(trust, view.frame.trust)


def _crouch(view: PoseView) -> float:
    hips = (view.point(PoseLandmark.LEFT_HIP) + view.point(PoseLandmark.RIGHT_HIP)) / 2.0
    torso = float(np.linalg.norm(hips))  # the origin is the shoulder midpoint
    if torso < MIN_SCALE:
        return 0.0
    # Both thighs must be near horizontal: one knee raised (a step, a dance move) is no crouch.
    drop = max(
        float(view.point(hip)[1] - view.point(knee)[1]) / torso  # v is up: knees are below hips
        for hip, knee in (
            (PoseLandmark.LEFT_HIP, PoseLandmark.LEFT_KNEE),
            (PoseLandmark.RIGHT_HIP, PoseLandmark.RIGHT_KNEE),
        )
    )
    trust = view.trust(PoseLandmark.LEFT_HIP, PoseLandmark.RIGHT_HIP, PoseLandmark.LEFT_KNEE, PoseLandmark.RIGHT_KNEE)
    return ramp(drop, CROUCH_THIGH_DROP) * trust
