"""Whose hand is it: a hand belongs to the body whose pose wrist it sits on.

A hand model run on a crop around one visitor also finds the hands of anyone reaching into that
crop (two dancers close together gave one dancer's hand to the other for ten frames, and it fired
gestures). So a found hand is kept for a person only if its wrist lies within ``reach`` body
units (shoulder widths; the torso length / 1.5 when side-on) of one of that person's pose wrists,
and no other person's pose wrist is nearer to it. Everything else is dropped, and counted.

A pose whose hand is bigger than ``max_palm`` body units is no body to judge by: the camera sees
a close-up of a hand, and the pose around it is a guess (there is then nobody else either).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from installation.contracts import POSE_LANDMARK_COUNT, Hand, HandLandmark
from installation.contracts import PoseLandmark as P

REACH = 0.8  # body units between a hand's wrist and its pose wrist (measured agreement ~0.1-0.4)
MAX_PALM = 0.9  # a palm longer than this many body units: a hand close-up, not a body with hands


@dataclass(frozen=True)
class Ownership:
    """The hands kept for the person and how many were dropped as someone else's or nobody's."""

    hands: tuple[Hand, ...]
    dropped: int


def body_unit(pose: np.ndarray, aspect: float) -> float:
    """A body's size in isotropic image units (x scaled by ``aspect``): the shoulder width, or the
    torso length / 1.5 when that is larger (side-on shoulders overlap); 0 for no pose."""
    if pose.shape[0] != POSE_LANDMARK_COUNT:
        return 0.0
    scale = np.array([aspect, 1.0])
    shoulders = pose[[P.LEFT_SHOULDER, P.RIGHT_SHOULDER], :2] * scale
    hips = pose[[P.LEFT_HIP, P.RIGHT_HIP], :2] * scale
    torso = float(np.linalg.norm(shoulders.mean(axis=0) - hips.mean(axis=0)))
    return max(float(np.linalg.norm(shoulders[0] - shoulders[1])), torso / 1.5)


def is_hand_closeup(pose: np.ndarray, hands: Sequence[Hand], aspect: float) -> bool:
    """True when some hand's palm (wrist to middle knuckle) is longer than ``MAX_PALM`` of the
    pose's body unit, or there is no pose: the picture is a hand, not a body."""
    unit = body_unit(pose, aspect)
    if unit <= 0:
        return True
    scale = np.array([aspect, 1.0])
    return any(float(np.linalg.norm((h.landmarks[HandLandmark.MIDDLE_MCP, :2] - h.landmarks[HandLandmark.WRIST, :2])
                                    * scale)) > MAX_PALM * unit for h in hands)


def owned_hands(hands: Sequence[Hand], owner: np.ndarray, others: Sequence[np.ndarray], aspect: float,
                reach: float = REACH) -> Ownership:
    """The hands of ``hands`` that belong to the body ``owner`` (33, 4), given everyone else's poses
    ``others``; all of them when ``owner`` is a hand close-up (see the module docstring) and nobody
    else is there. Coordinates are normalised image units; ``aspect`` is width / height."""
    if not hands:
        return Ownership((), 0)
    if not others and is_hand_closeup(owner, hands, aspect):
        return Ownership(tuple(hands), 0)
    unit = body_unit(owner, aspect)
    scale = np.array([aspect, 1.0])
    kept = []
    for hand in hands:
        wrist = hand.landmarks[HandLandmark.WRIST, :2] * scale
        mine = _wrist_distance(owner, wrist, scale)
        theirs = min((_wrist_distance(pose, wrist, scale) for pose in others), default=np.inf)
        if unit > 0 and mine <= reach * unit and mine <= theirs:
            kept.append(hand)
    return Ownership(tuple(kept), len(hands) - len(kept))


def _wrist_distance(pose: np.ndarray, wrist: np.ndarray, scale: np.ndarray) -> float:
    """Distance from ``wrist`` (isotropic units) to the nearer of the pose's two wrists."""
    if pose.shape[0] != POSE_LANDMARK_COUNT:
        return float("inf")
    wrists = pose[[P.LEFT_WRIST, P.RIGHT_WRIST], :2] * scale
    return float(np.linalg.norm(wrists - wrist, axis=1).min())
