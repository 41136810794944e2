"""The small typed records that travel between the stages of the frame loop.

A frame's path: Source -> ``Frame`` -> Perception -> ``Observation`` -> Smoother ->
``TrackedBody`` -> features -> ``Features`` -> Scene -> ``LatentState`` -> Generator -> image.

Coordinates are MediaPipe's normalised image coordinates: x to the right and y downwards, both in
[0, 1] across the *perceived* image; z is MediaPipe's relative depth (smaller is nearer).
Times are seconds. ``timestamp_s`` is media time (the video's own clock, or the live monotonic
clock); ``wall_s`` is only ever used for telemetry, never to drive the piece.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # types only: these modules build on this one
    from installation.audience.crowd import Audience
    from installation.faces import FaceReading

POSE_LANDMARK_COUNT = 33
HAND_LANDMARK_COUNT = 21


class PoseLandmark(enum.IntEnum):
    """MediaPipe Pose's 33 landmarks (the subset scene code is expected to name)."""

    NOSE = 0
    LEFT_EYE = 2
    RIGHT_EYE = 5
    LEFT_EAR = 7
    RIGHT_EAR = 8
    LEFT_SHOULDER = 11
    RIGHT_SHOULDER = 12
    LEFT_ELBOW = 13
    RIGHT_ELBOW = 14
    LEFT_WRIST = 15
    RIGHT_WRIST = 16
    LEFT_HIP = 23
    RIGHT_HIP = 24
    LEFT_KNEE = 25
    RIGHT_KNEE = 26
    LEFT_ANKLE = 27
    RIGHT_ANKLE = 28


class HandLandmark(enum.IntEnum):
    """MediaPipe Hands' 21 landmarks."""

    WRIST = 0
    THUMB_CMC = 1
    THUMB_MCP = 2
    THUMB_IP = 3
    THUMB_TIP = 4
    INDEX_MCP = 5
    INDEX_PIP = 6
    INDEX_DIP = 7
    INDEX_TIP = 8
    MIDDLE_MCP = 9
    MIDDLE_PIP = 10
    MIDDLE_DIP = 11
    MIDDLE_TIP = 12
    RING_MCP = 13
    RING_PIP = 14
    RING_DIP = 15
    RING_TIP = 16
    PINKY_MCP = 17
    PINKY_PIP = 18
    PINKY_DIP = 19
    PINKY_TIP = 20


class Side(str, enum.Enum):
    """The visitor's own left or right (not the side of the image)."""

    LEFT = "left"
    RIGHT = "right"


@dataclass(frozen=True)
class Frame:
    """One captured image. ``image_bgr`` is (H, W, 3) uint8, as OpenCV delivers it."""

    index: int  # 0, 1, 2 ... in capture order; gaps mean the source dropped frames
    timestamp_s: float  # media time of capture
    wall_s: float  # monotonic wall clock when the frame left the source (telemetry only)
    image_bgr: np.ndarray
    mirrored: bool = False  # flipped left-right by the source (a selfie view)


@dataclass(frozen=True)
class Hand:
    """One detected hand: (21, 3) landmarks x, y, z, which of the visitor's hands, and a score."""

    landmarks: np.ndarray
    side: Side
    score: float


@dataclass(frozen=True)
class Observation:
    """What perception found in one frame. Nobody there is an empty observation, never None."""

    frame_index: int
    timestamp_s: float
    wall_s: float  # the source frame's wall time, carried for end-to-end latency
    pose: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))  # (33, 4) x y z vis, or (0, 4)
    hands: tuple[Hand, ...] = ()
    perception_ms: float = 0.0
    audience: Audience | None = None  # with several visitors: everyone, their ids, the primary
    visitor: int = 0  # whose body this is: a change means another person (smoothing and gestures restart)
    face: FaceReading | None = None  # with perception.faces: the face read (found or not)

    @property
    def has_pose(self) -> bool:
        return self.pose.shape[0] == POSE_LANDMARK_COUNT

    @property
    def is_empty(self) -> bool:
        return not self.has_pose and not self.hands


@dataclass(frozen=True)
class TrackedBody:
    """The smoothed visitor. A part that is missing has an empty array and presence 0.

    Presence is 1 while a part is seen, stays 1 for the hold time after it drops out (the last
    smoothed value is held), then fades linearly to 0.
    """

    timestamp_s: float
    pose: np.ndarray  # (33, 4) or (0, 4)
    left_hand: np.ndarray  # (21, 3) or (0, 3)
    right_hand: np.ndarray  # (21, 3) or (0, 3)
    pose_presence: float
    left_presence: float
    right_presence: float
    visitor: int = 0  # the Observation's visitor this body was smoothed from

    @staticmethod
    def nobody(timestamp_s: float) -> TrackedBody:
        return TrackedBody(
            timestamp_s,
            np.zeros((0, 4), np.float32),
            np.zeros((0, 3), np.float32),
            np.zeros((0, 3), np.float32),
            0.0,
            0.0,
            0.0,
        )

    def hand(self, side: Side) -> np.ndarray:
        return self.left_hand if side is Side.LEFT else self.right_hand

    def hand_presence(self, side: Side) -> float:
        return self.left_presence if side is Side.LEFT else self.right_presence


@dataclass(frozen=True)
class LatentState:
    """What a scene asks the generator for: a latent (D,) and named render parameters.

    ``source``: a picture to turn into a work of the model's art (image to image) instead of
    drawing from z alone, for a model that can refine (a diffusion model); ``params["refine"]``
    (0..1, default 0.6) is how far it may depart from it. Keep passing the same array object while
    the picture is unchanged: the generator then reuses its last frame as it does for a still z.
    """

    z: np.ndarray  # (D,) float32
    params: dict[str, float] = field(default_factory=dict)
    source: np.ndarray | None = None  # (H, W, 3) uint8 RGB, any size
