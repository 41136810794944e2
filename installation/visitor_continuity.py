"""One visitor or another: noticing when the single-person pose jumps to a different body.

MediaPipe's Pose in tracking mode follows one body, but with two people close together it can
hop from one to the other between frames (seen for ~30 frames on two dancers). Passed on as the
same visitor, the smoother glides the landmarks across and gestures and movements join two people.
``VisitorContinuity`` compares each pose with the last one: if the body moved further than a body
can in that time (``max_speed`` torso lengths a second), or its torso colour changed beyond what a
frame's lighting does (``max_appearance``, Bhattacharyya distance), it is another visitor, and the
visitor number goes up. A pose that comes back after frames with none is judged against the
last one seen, over the whole gap: the same visitor back in place after a dropout stays the same
(smoothing and gesture histories go on), someone else elsewhere is new.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from installation.appearance import histogram_distance, torso_descriptor
from installation.contracts import POSE_LANDMARK_COUNT
from installation.contracts import PoseLandmark as P

log = logging.getLogger(__name__)

MAX_SPEED = 8.0  # torso lengths per second: a quick step is ~3; a hop to a neighbour 1+ in one frame (30+)
MAX_APPEARANCE = 0.6  # torso colour distance between frames of one person stays under ~0.3
_TORSO = [P.LEFT_SHOULDER, P.RIGHT_SHOULDER, P.LEFT_HIP, P.RIGHT_HIP]


class VisitorContinuity:
    """``update(rgb, pose, t)`` -> the visitor number of this pose (0 before anyone was seen).

    ``jumps`` counts the poses judged to be another body, not the same one moving."""

    def __init__(self, max_speed: float = MAX_SPEED, max_appearance: float = MAX_APPEARANCE) -> None:
        self.max_speed, self.max_appearance = max_speed, max_appearance
        self.visitor = 0
        self.jumps = 0
        self._last: tuple[np.ndarray, np.ndarray, float, float] | None = None  # centre, colours, torso, t

    def update(self, rgb: np.ndarray, pose: np.ndarray, t: float) -> int:
        """The visitor of ``pose`` (33, 4) seen at media time ``t`` in ``rgb``; with no pose, the
        last visitor."""
        if pose.shape[0] != POSE_LANDMARK_COUNT:
            return self.visitor
        height, width = rgb.shape[:2]
        points = pose[:, :2] * np.array([width / height, 1.0], np.float32)  # isotropic units
        centre = points[_TORSO].mean(axis=0)
        torso = float(np.linalg.norm(points[_TORSO[:2]].mean(axis=0) - points[_TORSO[2:]].mean(axis=0)))
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        colours = torso_descriptor(hsv, pose, np.array([0, 0, 1, 1], np.float32))
        if self._last is None:
            self.visitor += 1
        elif self._jumped(centre, colours, torso, t):
            self.visitor += 1
            self.jumps += 1
            log.info("pose jumped to another body at %.2f s: visitor %d", t, self.visitor)
        self._last = (centre, colours, torso, t)
        return self.visitor

    def _jumped(self, centre: np.ndarray, colours: np.ndarray, torso: float, t: float) -> bool:
        last_centre, last_colours, last_torso, last_t = self._last
        unit = max(last_torso, torso, 1e-3)
        dt = max(t - last_t, 1e-3)
        speed = float(np.linalg.norm(centre - last_centre)) / unit / dt
        return speed > self.max_speed or histogram_distance(colours, last_colours) > self.max_appearance
