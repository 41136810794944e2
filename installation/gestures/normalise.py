"""Normalisation: landmarks -> numbers that do not depend on where the visitor stands, how big
their hand is, how far they are from the camera, which hand they use, or whether the image is
mirrored.

- ``isotropic``: MediaPipe's x and y are fractions of the image's width and height; multiplying
  x (and a hand's z, which MediaPipe gives on x's scale) by the aspect puts all axes on one scale.
- ``hand_descriptor``: a hand's shape as the 210 distances between its 21 landmarks plus the
  heights of 20 landmarks above the wrist, all divided by the hand's RMS radius. Distances do not
  change under translation, scale, rotation or a left-right mirror, and heights do not change
  under translation, scale or a left-right mirror, so a left hand, a right hand, a mirrored image
  and a hand at any distance give the same descriptor. Heights keep up from down: a thumb up and
  a thumb down stay different gestures.
- ``BodyFrame``: body-centred coordinates for movements: origin at the shoulder midpoint, unit =
  the shoulder width, u toward the visitor's own right, v up. Whether the image is mirrored is
  given, so a swipe to the visitor's right is the same in a mirrored and an unmirrored image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from installation.contracts import HAND_LANDMARK_COUNT, POSE_LANDMARK_COUNT, HandLandmark, PoseLandmark

MIN_SCALE = 1e-4  # image heights; a hand or shoulder line smaller than this is degenerate
VISIBILITY_THRESHOLD = 0.5  # as installation.features: below this a pose landmark is not seen
VISIBILITY_RAMP = 0.1

_PAIR_A, _PAIR_B = np.triu_indices(HAND_LANDMARK_COUNT, k=1)  # the 210 landmark pairs
HAND_DESCRIPTOR_SIZE = len(_PAIR_A) + HAND_LANDMARK_COUNT - 1  # 230

FINGER_CHAINS: dict[str, tuple[HandLandmark, ...]] = {
    "thumb": (HandLandmark.THUMB_CMC, HandLandmark.THUMB_MCP, HandLandmark.THUMB_IP, HandLandmark.THUMB_TIP),
    "index": (HandLandmark.INDEX_MCP, HandLandmark.INDEX_PIP, HandLandmark.INDEX_DIP, HandLandmark.INDEX_TIP),
    "middle": (HandLandmark.MIDDLE_MCP, HandLandmark.MIDDLE_PIP, HandLandmark.MIDDLE_DIP, HandLandmark.MIDDLE_TIP),
    "ring": (HandLandmark.RING_MCP, HandLandmark.RING_PIP, HandLandmark.RING_DIP, HandLandmark.RING_TIP),
    "pinky": (HandLandmark.PINKY_MCP, HandLandmark.PINKY_PIP, HandLandmark.PINKY_DIP, HandLandmark.PINKY_TIP),
}


def isotropic(points: np.ndarray, aspect: float) -> np.ndarray:
    """``points`` (..., 2 or 3) of normalised image coordinates in image-height units (float64)."""
    points = np.asarray(points, np.float64)
    scale = np.array([aspect, 1.0, aspect][: points.shape[-1]])
    return points * scale


def hand_descriptors(hands: np.ndarray) -> np.ndarray:
    """(N, 21, 2 or 3) hands in isotropic units -> (N, 230) descriptors (z is ignored).

    Raises ValueError for a wrong shape; a degenerate hand (all landmarks in one point) or one
    with non-finite values gives a row of NaN, which callers treat as "no hand".
    """
    hands = np.asarray(hands, np.float64)
    if hands.ndim != 3 or hands.shape[1] != HAND_LANDMARK_COUNT or hands.shape[2] < 2:
        raise ValueError(f"expected hands of shape (N, {HAND_LANDMARK_COUNT}, 2 or 3), got {hands.shape}")
    xy = hands[:, :, :2] - hands[:, HandLandmark.WRIST, None, :2]  # (N, 21, 2), wrist at 0
    centred = xy - xy.mean(axis=1, keepdims=True)
    radius = np.sqrt((centred**2).sum(axis=2).mean(axis=1))  # (N,) RMS radius: pose-free size
    with np.errstate(all="ignore"):
        unit = xy / np.where(radius > MIN_SCALE, radius, np.nan)[:, None, None]
    distances = np.linalg.norm(unit[:, _PAIR_A] - unit[:, _PAIR_B], axis=2)  # (N, 210)
    heights = -unit[:, 1:, 1]  # (N, 20) image y grows downwards; + = above the wrist
    out = np.concatenate([distances, heights], axis=1)
    out[~np.isfinite(out).all(axis=1)] = np.nan
    return out


def hand_descriptor(hand: np.ndarray) -> np.ndarray | None:
    """One (21, 2 or 3) hand in isotropic units -> its (230,) descriptor, or None if degenerate."""
    row = hand_descriptors(np.asarray(hand)[None])[0]
    return None if np.isnan(row).any() else row


def mirror_points(points: np.ndarray) -> np.ndarray:
    """Landmarks (..., 2 or 3) reflected left-right (x -> -x): the other hand, or a flipped image."""
    out = np.array(points, np.float64, copy=True)
    out[..., 0] *= -1.0
    return out


def finger_straightness(hand: np.ndarray) -> dict[str, float]:
    """How straight each finger of one (21, 2 or 3) isotropic hand is: the chord from its base to
    its tip over the length of its bones, 1 = straight, ~0.3 = curled into the palm; NaN if the
    finger is degenerate."""
    hand = np.asarray(hand, np.float64)
    out = {}
    for finger, chain in FINGER_CHAINS.items():
        points = hand[list(chain)]
        bones = float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())
        chord = float(np.linalg.norm(points[-1] - points[0]))
        out[finger] = chord / bones if bones > MIN_SCALE else math.nan
    return out


def palm_length(hand: np.ndarray) -> float:
    """Wrist to middle-finger knuckle of an isotropic hand (a size that does not change with the
    gesture)."""
    return float(np.linalg.norm(hand[HandLandmark.MIDDLE_MCP] - hand[HandLandmark.WRIST]))


def visibility_trust(visibility: np.ndarray | float) -> np.ndarray:
    """Pose visibility -> trust in [0, 1], ramping from 0.5 to 0.6 like installation.features."""
    return np.clip((np.asarray(visibility, np.float64) - VISIBILITY_THRESHOLD) / VISIBILITY_RAMP, 0.0, 1.0)


@dataclass(frozen=True)
class BodyFrame:
    """Body-centred coordinates: origin at the shoulder midpoint (isotropic image units), unit the
    shoulder width, u toward the visitor's right, v up. ``trust`` is the shoulders' visibility
    trust (0..1)."""

    origin: np.ndarray  # (2,)
    shoulder_width: float  # image heights
    right_sign: float  # +1: the visitor's right is image +x (mirrored image), -1 otherwise
    trust: float

    @staticmethod
    def of(pose: np.ndarray, aspect: float, mirrored: bool) -> BodyFrame | None:
        """The frame of a (33, 4) pose in normalised coordinates; None without a usable pose."""
        pose = np.asarray(pose, np.float64)
        if pose.shape != (POSE_LANDMARK_COUNT, 4) or not np.isfinite(pose).all():
            return None
        left = isotropic(pose[PoseLandmark.LEFT_SHOULDER, :2], aspect)
        right = isotropic(pose[PoseLandmark.RIGHT_SHOULDER, :2], aspect)
        width = float(np.linalg.norm(left - right))
        if not width > MIN_SCALE:
            return None
        trust = float(visibility_trust(pose[[PoseLandmark.LEFT_SHOULDER, PoseLandmark.RIGHT_SHOULDER], 3]).min())
        # A visitor facing the camera has their right on the image's left, unless it is mirrored.
        return BodyFrame((left + right) / 2.0, width, 1.0 if mirrored else -1.0, trust)

    def to_body(self, points_xy: np.ndarray) -> np.ndarray:
        """Isotropic image points (..., 2) -> body coordinates (..., 2): (u right, v up) in
        shoulder widths from the shoulder midpoint."""
        offset = (np.asarray(points_xy, np.float64) - self.origin) / self.shoulder_width
        return np.stack([self.right_sign * offset[..., 0], -offset[..., 1]], axis=-1)


# --- movements: per-frame body descriptors for learned dynamic gestures ----------------------

MOVEMENT_JOINTS = {
    "left": (PoseLandmark.LEFT_WRIST, PoseLandmark.LEFT_ELBOW),
    "right": (PoseLandmark.RIGHT_WRIST, PoseLandmark.RIGHT_ELBOW),
}
NEUTRAL_STRAIGHTNESS = 0.7  # a finger's straightness when its hand is not seen


def movement_block_size(shape_weight: float) -> int:
    """Numbers per side in a movement descriptor: wrist and elbow (u, v), plus five finger
    straightnesses when hand shapes are weighted in."""
    return 4 + (len(FINGER_CHAINS) if shape_weight > 0.0 else 0)


def movement_descriptor(
    pose: np.ndarray,
    hands: dict[str, tuple[np.ndarray, float]],
    aspect: float,
    mirrored: bool,
    shape_weight: float = 0.0,
) -> np.ndarray | None:
    """One frame of a movement: for the visitor's left then right side, the wrist and elbow in
    body coordinates (shoulder widths, u right, v up), then, if ``shape_weight`` > 0, the five
    finger straightnesses x ``shape_weight`` (blended toward a neutral value as the hand's
    presence fades). ``hands`` maps "left"/"right" to (normalised (21, 3) landmarks, presence).

    The pose wrist is used even when the hand tracker sees the hand: the two are different
    estimates of one joint, and switching between them as hands come and go reads as motion.
    Returns None without a usable pose."""
    frame = BodyFrame.of(pose, aspect, mirrored)
    if frame is None:
        return None
    uv = frame.to_body(isotropic(np.asarray(pose, np.float64)[:, :2], aspect))
    parts = []
    for side, joints in MOVEMENT_JOINTS.items():
        parts.append(uv[list(joints)].ravel())
        if shape_weight > 0.0:
            parts.append(shape_weight * _finger_block(hands.get(side), aspect))
    return np.concatenate(parts)


def _finger_block(hand: tuple[np.ndarray, float] | None, aspect: float) -> np.ndarray:
    neutral = np.full(len(FINGER_CHAINS), NEUTRAL_STRAIGHTNESS)
    if hand is None:
        return neutral
    landmarks, presence = hand
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.shape != (HAND_LANDMARK_COUNT, 3) or not np.isfinite(landmarks).all():
        return neutral
    values = np.array(list(finger_straightness(isotropic(landmarks, aspect)).values()))
    values = np.where(np.isfinite(values), values, NEUTRAL_STRAIGHTNESS)
    weight = float(np.clip(presence, 0.0, 1.0))
    return weight * values + (1.0 - weight) * neutral


def mirror_movement(sequence: np.ndarray, shape_weight: float = 0.0) -> np.ndarray:
    """The same movement made with the other hand, mirrored: u negated, left and right swapped.
    ``sequence`` is (n, 2 x block) as made by ``movement_descriptor``."""
    block = movement_block_size(shape_weight)
    sequence = np.asarray(sequence, np.float64)
    if sequence.shape[-1] != 2 * block:
        raise ValueError(f"expected {2 * block} numbers per frame, got {sequence.shape[-1]}")
    left, right = sequence[..., :block].copy(), sequence[..., block:].copy()
    for part in (left, right):
        part[..., 0:4:2] *= -1.0  # u of the wrist and of the elbow
    return np.concatenate([right, left], axis=-1)


def trim_rest(sequence: np.ndarray, fraction: float = 0.15) -> np.ndarray:
    """A recorded movement without the stillness before and after it: frames are dropped from
    the start until the body has moved ``fraction`` of its largest excursion away from the first
    frame, and likewise at the end. Returns the whole sequence if it never moves."""
    sequence = np.asarray(sequence, np.float64)
    if len(sequence) < 3:
        return sequence
    from_start = np.linalg.norm(sequence - sequence[0], axis=1)
    from_end = np.linalg.norm(sequence - sequence[-1], axis=1)
    if from_start.max() <= 0.0 or from_end.max() <= 0.0:
        return sequence
    first = int(np.argmax(from_start > fraction * from_start.max()))
    last = len(sequence) - int(np.argmax(from_end[::-1] > fraction * from_end.max()))
    return sequence[max(first - 1, 0) : min(last + 1, len(sequence))] if last - first >= 2 else sequence
