"""Features: ``TrackedBody`` -> named floats, each in a documented range.

This module owns the measuring: ``FeatureExtractor`` and the body geometry it uses. What the
features are (``Features``, their ranges, rest values and meanings, ``FEATURE_SPECS`` and
``docs/features.md``) is declared in ``installation.feature_specs``.

Conventions (also written into the docs, see ``feature_specs.DOC_NOTES``):

- Positions are MediaPipe's normalised coordinates of the *perceived* image, x right, y down.
  x and y have different scales when the image is not square, so every distance and angle is
  measured after scaling x (and a hand's z, which MediaPipe gives on x's scale) by the image
  aspect (width / height): distances are in image heights. ``FeatureExtractor`` takes the
  aspect at construction, because the perceived image size is fixed for a run.
- Pose landmarks with visibility below 0.5 count as not seen. Trust ramps from 0 at visibility
  0.5 to 1 at 0.6, so a landmark crossing the threshold eases in instead of jumping.
- Every feature moves toward its rest value in proportion to how much its sources are present
  (hand presence for hand features, pose presence for body features), so a part that fades out
  fades its features, and a part that is missing leaves them at rest.
- Sides are the visitor's own (``Side``, and pose LEFT_* landmarks), as decided by perception.
- Whatever the input, features are finite and inside their range: anything that cannot be
  computed (a degenerate body, non-finite numbers) gives the rest value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from installation.contracts import (
    HAND_LANDMARK_COUNT,
    POSE_LANDMARK_COUNT,
    HandLandmark,
    PoseLandmark,
    Side,
    TrackedBody,
)
from installation.feature_specs import FEATURE_SPECS, Features

VISIBILITY_THRESHOLD = 0.5  # below this a pose landmark is not seen
VISIBILITY_RAMP = 0.1  # trust goes 0 -> 1 over threshold .. threshold + ramp
MIN_SCALE = 1e-3  # image heights; a shoulder width, torso or palm shorter than this is degenerate
TORSO_PER_SHOULDER_WIDTH = 1.5  # torso length when the hips are not seen (upper-body shots)
SPREAD_SHOULDER_WIDTHS = 3.0  # wrists this far apart = hands_spread 1
BODY_SIZE_GAIN = 2.5  # shoulder width of 0.4 image widths = body_size 1
LEAN_FULL_SCALE_DEG = 30.0
MOTION_SPEED_SCALE = 2.0  # shoulder widths / s; energy = 1 - exp(-speed / scale)
MOTION_TIME_CONSTANT_S = 0.2  # low-pass on motion energy: a derivative of noisy landmarks jitters
# Mean fingertip-to-wrist distance in palm lengths: ~0.8 for a fist, ~2 for a flat hand
# (measured on MediaPipe landmarks of real fists and open hands, tests/test_features.py).
OPENNESS_FIST_RATIO = 0.9
OPENNESS_OPEN_RATIO = 1.8
# Thumb tip to index tip in palm lengths: ~0.1 when they touch (landmarks sit inside the tips).
PINCH_TOUCH_RATIO = 0.15
PINCH_APART_RATIO = 0.8

MOTION_LANDMARKS = (
    PoseLandmark.NOSE,
    PoseLandmark.LEFT_SHOULDER,
    PoseLandmark.RIGHT_SHOULDER,
    PoseLandmark.LEFT_ELBOW,
    PoseLandmark.RIGHT_ELBOW,
    PoseLandmark.LEFT_WRIST,
    PoseLandmark.RIGHT_WRIST,
)
FINGERTIPS = (HandLandmark.INDEX_TIP, HandLandmark.MIDDLE_TIP, HandLandmark.RING_TIP, HandLandmark.PINKY_TIP)
POSE_WRIST = {Side.LEFT: PoseLandmark.LEFT_WRIST, Side.RIGHT: PoseLandmark.RIGHT_WRIST}
_SPEC_BY_NAME = {spec.name: spec for spec in FEATURE_SPECS}


# --- geometry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Estimate:
    """A value (point or scalar) with a trust weight in [0, 1]; weight 0 means unknown."""

    value: np.ndarray
    weight: float


def _blend(primary: _Estimate, fallback: _Estimate) -> _Estimate:
    """Primary where trusted, fallback for the rest; continuous as either weight changes."""
    a = primary.weight
    b = (1.0 - primary.weight) * fallback.weight
    if a + b <= 0.0:
        return _Estimate(np.zeros_like(primary.value), 0.0)
    return _Estimate((a * primary.value + b * fallback.value) / (a + b), a + b)


def _fade(name: str, raw: float, weight: float) -> float:
    """Feature ``name`` measured as ``raw`` (clipped to its range) and trusted with ``weight``:
    its rest value at weight 0, ``raw`` at weight 1, linear in between."""
    spec = _SPEC_BY_NAME[name]
    if not (weight > 0.0 and math.isfinite(raw)):
        return spec.rest
    raw = min(max(raw, spec.low), spec.high)
    return spec.rest + min(weight, 1.0) * (raw - spec.rest)


def _unit(value: float) -> float:
    """A presence clipped to [0, 1]; non-finite -> 0."""
    return min(max(float(value), 0.0), 1.0) if math.isfinite(value) else 0.0


@dataclass(frozen=True)
class _PoseView:
    """The pose in image-height units: points (33, 2), their visibility trust (33,), presence."""

    xy: np.ndarray
    trust: np.ndarray
    presence: float

    @staticmethod
    def of(body: TrackedBody, aspect: float) -> _PoseView:
        pose = np.asarray(body.pose, dtype=np.float64)
        if pose.shape != (POSE_LANDMARK_COUNT, 4):
            return _PoseView(np.zeros((POSE_LANDMARK_COUNT, 2)), np.zeros(POSE_LANDMARK_COUNT), 0.0)
        finite = np.isfinite(pose).all(axis=1)
        xy = np.where(finite[:, None], pose[:, :2] * (aspect, 1.0), 0.0)
        trust = np.clip((pose[:, 3] - VISIBILITY_THRESHOLD) / VISIBILITY_RAMP, 0.0, 1.0)
        trust = np.where(finite, trust, 0.0)
        return _PoseView(xy, trust, _unit(body.pose_presence))

    def point(self, landmark: PoseLandmark) -> _Estimate:
        """A landmark, trusted by its visibility (the pose's presence not included)."""
        return _Estimate(self.xy[landmark], float(self.trust[landmark]))

    def pair(self, left: PoseLandmark, right: PoseLandmark) -> tuple[np.ndarray, np.ndarray, float]:
        """Two landmarks and the visibility trust of the pair (presence not included)."""
        return self.xy[left], self.xy[right], float(min(self.trust[left], self.trust[right]))


@dataclass(frozen=True)
class _Shoulders:
    """The shoulder line: midpoint, width (image heights), roll (degrees), visibility trust."""

    mid: np.ndarray
    width: float
    roll_deg: float
    trust: float

    @staticmethod
    def of(pose: _PoseView) -> _Shoulders:
        left, right, trust = pose.pair(PoseLandmark.LEFT_SHOULDER, PoseLandmark.RIGHT_SHOULDER)
        width = float(np.linalg.norm(left - right))
        if not width >= MIN_SCALE:  # also catches NaN
            return _Shoulders(np.zeros(2), 0.0, 0.0, 0.0)
        # Roll from the image-left to the image-right shoulder, whatever their labels: y grows
        # downwards, so a positive angle is the image-right shoulder lower = tilt toward +x.
        image_left, image_right = (left, right) if left[0] <= right[0] else (right, left)
        dx, dy = image_right - image_left
        return _Shoulders((left + right) / 2.0, width, math.degrees(math.atan2(dy, dx)), trust)


def _torso_length(pose: _PoseView, shoulders: _Shoulders) -> float:
    """Shoulder mid to hip mid, easing to 1.5 x shoulder width as the hips become unseen."""
    left, right, hip_trust = pose.pair(PoseLandmark.LEFT_HIP, PoseLandmark.RIGHT_HIP)
    from_hips = _Estimate(np.array(np.linalg.norm((left + right) / 2.0 - shoulders.mid)), hip_trust)
    from_width = _Estimate(np.array(TORSO_PER_SHOULDER_WIDTH * shoulders.width), 1.0)
    return float(_blend(from_hips, from_width).value)


def _hand_points(body: TrackedBody, side: Side, aspect: float) -> tuple[np.ndarray, float]:
    """A hand's (21, 3) landmarks in image-height units and its presence (0 if unusable)."""
    hand = np.asarray(body.hand(side), dtype=np.float64)
    if hand.shape != (HAND_LANDMARK_COUNT, 3) or not np.isfinite(hand).all():
        return np.zeros((HAND_LANDMARK_COUNT, 3)), 0.0
    # MediaPipe gives a hand's z on roughly x's scale, so it is scaled with x.
    return hand * (aspect, 1.0, aspect), _unit(body.hand_presence(side))


def _hand_shape(points: np.ndarray) -> tuple[float, float]:
    """(openness, pinch) of one hand in [0, 1]; NaN if the palm is degenerate."""
    palm = float(np.linalg.norm(points[HandLandmark.MIDDLE_MCP] - points[HandLandmark.WRIST]))
    if not palm >= MIN_SCALE:
        return math.nan, math.nan
    reach = float(np.linalg.norm(points[list(FINGERTIPS)] - points[HandLandmark.WRIST], axis=1).mean()) / palm
    gap = float(np.linalg.norm(points[HandLandmark.THUMB_TIP] - points[HandLandmark.INDEX_TIP])) / palm
    openness = (reach - OPENNESS_FIST_RATIO) / (OPENNESS_OPEN_RATIO - OPENNESS_FIST_RATIO)
    pinch = (PINCH_APART_RATIO - gap) / (PINCH_APART_RATIO - PINCH_TOUCH_RATIO)
    return float(np.clip(openness, 0.0, 1.0)), float(np.clip(pinch, 0.0, 1.0))


# --- the extractor --------------------------------------------------------------------------


class FeatureExtractor:
    """TrackedBody -> Features, one call per frame.

    ``image_aspect`` is the perceived image's width / height, used to measure distances on one
    scale. The extractor keeps the previous pose and the motion energy, so it is stateful: call
    ``update`` once per frame in time order, and ``reset`` when the visitor changes.
    """

    def __init__(self, image_aspect: float) -> None:
        if not (math.isfinite(image_aspect) and image_aspect > 0):
            raise ValueError(f"image_aspect must be a positive width / height, got {image_aspect!r}")
        self.image_aspect = float(image_aspect)
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame: motion energy restarts from 0."""
        self._last_timestamp_s: float | None = None
        self._previous_pose: _PoseView | None = None
        self._energy = 0.0

    def update(self, body: TrackedBody) -> Features:
        """The features of ``body``; every value finite and inside its FEATURE_SPECS range."""
        # Garbage in (overflow, inf - inf) is allowed to produce NaN: from_values turns any
        # non-finite value into the rest value, so the warnings would only be noise.
        with np.errstate(all="ignore"):
            pose = _PoseView.of(body, self.image_aspect)
            shoulders = _Shoulders.of(pose)
            values = {"presence": max(pose.presence, _unit(body.left_presence), _unit(body.right_presence))}
            values.update(self._body_features(pose, shoulders))
            values["motion_energy"] = self._motion_energy(pose, shoulders, body.timestamp_s)
            wrists = {side: self._wrist(body, side, pose) for side in Side}
            values.update(self._spread(wrists, pose, shoulders))
            for side in Side:
                values.update(self._hand_features(body, side, wrists[side], pose, shoulders))
        return Features.from_values(values)

    def _body_features(self, pose: _PoseView, shoulders: _Shoulders) -> dict[str, float]:
        weight = pose.presence * shoulders.trust
        centre = _blend(_Estimate(shoulders.mid, shoulders.trust), pose.point(PoseLandmark.NOSE))
        centre_x, centre_y = self._to_unit_square(centre.value)
        size = BODY_SIZE_GAIN * shoulders.width / self.image_aspect
        return {
            "body_x": _fade("body_x", centre_x, pose.presence * centre.weight),
            "body_y": _fade("body_y", centre_y, pose.presence * centre.weight),
            "body_size": _fade("body_size", size, weight),
            "lean": _fade("lean", shoulders.roll_deg / LEAN_FULL_SCALE_DEG, weight),
        }

    def _wrist(self, body: TrackedBody, side: Side, pose: _PoseView) -> _Estimate:
        """The wrist from the hand tracker where it has one, easing to the pose's wrist."""
        hand, presence = _hand_points(body, side, self.image_aspect)
        pose_wrist = pose.point(POSE_WRIST[side])
        pose_wrist = _Estimate(pose_wrist.value, pose_wrist.weight * pose.presence)
        return _blend(_Estimate(hand[HandLandmark.WRIST, :2], presence), pose_wrist)

    def _spread(self, wrists: dict[Side, _Estimate], pose: _PoseView, shoulders: _Shoulders) -> dict[str, float]:
        left, right = wrists[Side.LEFT], wrists[Side.RIGHT]
        weight = min(left.weight, right.weight, pose.presence * shoulders.trust)
        spread = math.nan
        if weight > 0.0:
            spread = float(np.linalg.norm(left.value - right.value)) / (SPREAD_SHOULDER_WIDTHS * shoulders.width)
        return {"hands_spread": _fade("hands_spread", spread, weight)}

    def _hand_features(
        self, body: TrackedBody, side: Side, wrist: _Estimate, pose: _PoseView, shoulders: _Shoulders
    ) -> dict[str, float]:
        name = side.value
        hand_x, hand_y = self._to_unit_square(wrist.value)
        features = {
            f"{name}_hand_x": _fade(f"{name}_hand_x", hand_x, wrist.weight),
            f"{name}_hand_y": _fade(f"{name}_hand_y", hand_y, wrist.weight),
        }
        height_weight = min(wrist.weight, pose.presence * shoulders.trust)
        torso = _torso_length(pose, shoulders) if height_weight > 0.0 else 0.0
        height = float(shoulders.mid[1] - wrist.value[1]) / torso if torso >= MIN_SCALE else math.nan
        features[f"{name}_hand_height"] = _fade(f"{name}_hand_height", height, height_weight)  # y grows down
        points, presence = _hand_points(body, side, self.image_aspect)
        openness, pinch = _hand_shape(points) if presence > 0.0 else (math.nan, math.nan)
        features[f"{name}_hand_openness"] = _fade(f"{name}_hand_openness", openness, presence)
        features[f"{name}_pinch"] = _fade(f"{name}_pinch", pinch, presence)
        return features

    def _motion_energy(self, pose: _PoseView, shoulders: _Shoulders, timestamp_s: float) -> float:
        """Low-passed 1 - exp(-speed / scale) of the upper body; unchanged on a repeated timestamp."""
        if self._last_timestamp_s is None:
            dt_s = 0.0
        else:
            dt_s = float(timestamp_s) - self._last_timestamp_s
            if not dt_s > 0.0:
                return self._energy * pose.presence
        target = self._target_energy(pose, shoulders, dt_s)
        self._energy += (1.0 - math.exp(-dt_s / MOTION_TIME_CONSTANT_S)) * (target - self._energy)
        if not math.isfinite(self._energy):
            self._energy = 0.0  # never let one bad frame poison the state
        self._last_timestamp_s = float(timestamp_s)
        self._previous_pose = pose if pose.presence > 0.0 else None
        return self._energy * pose.presence

    def _target_energy(self, pose: _PoseView, shoulders: _Shoulders, dt_s: float) -> float:
        previous = self._previous_pose
        if previous is None or dt_s <= 0.0 or pose.presence <= 0.0 or shoulders.trust <= 0.0:
            return 0.0
        index = list(MOTION_LANDMARKS)
        trust = np.minimum(pose.trust[index], previous.trust[index])
        if trust.sum() <= 0.0:
            return 0.0
        speeds = np.linalg.norm(pose.xy[index] - previous.xy[index], axis=1) / dt_s
        speed = float((trust * speeds).sum() / trust.sum()) / shoulders.width  # shoulder widths / s
        return 1.0 - math.exp(-speed / MOTION_SPEED_SCALE)

    def _to_unit_square(self, point: np.ndarray) -> tuple[float, float]:
        """A point in image-height units -> (x, y) in [-1, 1] across the image (unclipped)."""
        return 2.0 * float(point[0]) / self.image_aspect - 1.0, 2.0 * float(point[1]) - 1.0
