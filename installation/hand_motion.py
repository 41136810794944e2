"""A hand's motion in the image between two runs of the hand landmark model.

The landmark model costs about half a pose per run, so HandRegions runs it only every few
frames; in between, a hand is carried by how its picture moved. ``HandMotion`` picks corners
inside the hand where the model last found it, follows them from frame to frame with pyramidal
Lucas-Kanade optical flow (on a crop around the hand, not the whole frame), and fits a
similarity (move, turn, scale) to them. The fit carries the landmarks; how far the corners stray
from it says how much the hand changed shape (fingers that bend or spread, which a rigid fit
cannot follow), and so when the model must look again. benchmarks/README.md has the measurement.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_CORNERS = 30
# MediaPipe's hand landmarks: the palm's outline, and each finger from its knuckle to its tip.
PALM = (0, 1, 5, 9, 13, 17)
FINGERS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
FINGER_WIDTH = 0.12  # a finger's width, in the hand's size
MIN_CORNERS = 4  # fewer left (hidden, blurred, gone): the motion is unknown
CORNER_QUALITY = 0.01
CORNER_SPACING_PX = 3
FLOW_WINDOW_PX = 15
FLOW_LEVELS = 2
FLOW_STOP = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)
OUTLIER_PX = 2.0  # a corner further than this from the fitted similarity is not the hand's rigid motion
LOST_WEIGHT = 20.0  # change: every corner lost from sight counts as 20 % of the hand's size


class HandMotion:
    """Follows one hand from the frame its landmarks were found in. ``follow(gray)`` says where
    those landmarks are in the next frame, and how much the hand has changed shape since it was
    found, in percent of its size; None when the hand can no longer be followed.

    The similarity is fitted from the corners as first picked to where they are now, not frame
    to frame, so the flow's small errors do not pile up into a change the hand never made."""

    def __init__(self, gray: np.ndarray, landmarks_px: np.ndarray) -> None:
        self._gray = gray
        self._landmarks = landmarks_px.astype(np.float32)  # (21, 2) as found
        corners = _corners_inside(gray, landmarks_px)
        self._picked = len(corners) if corners is not None else 0
        self._origin = corners  # (N, 2) where each corner still followed was first picked
        self._corners = corners  # (N, 2) where it is now
        self._size = float(np.ptp(landmarks_px, axis=0).max()) + 1e-6

    def follow(self, gray: np.ndarray) -> tuple[np.ndarray, float] | None:
        """(the landmarks moved into ``gray``'s frame, change since found in percent of the hand's
        size), or None."""
        previous, self._gray = self._gray, gray
        if self._corners is None or len(self._corners) < MIN_CORNERS or previous.shape != gray.shape:
            return None
        moved, kept = _flow_on_crop(previous, gray, self._corners, self._size)
        self._origin, self._corners = self._origin[kept], moved[kept]
        if len(self._corners) < MIN_CORNERS:
            return None
        fit, _ = cv2.estimateAffinePartial2D(self._origin, self._corners, ransacReprojThreshold=OUTLIER_PX)
        if fit is None:
            return None
        stray = np.linalg.norm(self._origin @ fit[:, :2].T + fit[:, 2] - self._corners, axis=1)
        lost = 1.0 - len(self._corners) / self._picked
        change = 100.0 * float(np.median(stray)) / self._size + LOST_WEIGHT * lost
        return (self._landmarks @ fit[:, :2].T + fit[:, 2]).astype(np.float32), change


def _corners_inside(gray: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray | None:
    """Up to MAX_CORNERS (N, 2) float32 corners on the hand (``_hand_mask``)."""
    height, width = gray.shape
    low = np.maximum(np.floor(landmarks_px.min(axis=0)) - 4, 0).astype(int)
    high = np.minimum(np.ceil(landmarks_px.max(axis=0)) + 4, [width - 1, height - 1]).astype(int)
    if np.any(high - low < 8):
        return None
    mask = _hand_mask(landmarks_px - low, (high[1] - low[1], high[0] - low[0]))
    corners = cv2.goodFeaturesToTrack(gray[low[1]:high[1], low[0]:high[0]], MAX_CORNERS, CORNER_QUALITY,
                                      CORNER_SPACING_PX, mask=mask)
    return None if corners is None else corners.reshape(-1, 2).astype(np.float32) + low.astype(np.float32)


def _hand_mask(landmarks_px: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The hand itself, not what shows between its fingers (a face, the background, which do
    not move with it): the palm filled, each finger a band along its joints."""
    mask = np.zeros(shape, np.uint8)
    points = np.round(landmarks_px).astype(np.int32)
    cv2.fillPoly(mask, [points[list(PALM)]], 255)
    width = max(3, int(round(FINGER_WIDTH * float(np.ptp(landmarks_px, axis=0).max()))))
    cv2.polylines(mask, [points[list(finger)] for finger in FINGERS], False, 255, width)
    return mask


def _flow_on_crop(previous: np.ndarray, gray: np.ndarray, corners: np.ndarray,
                  hand_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Each corner's place in ``gray`` and whether it was followed. The flow runs on the same crop
    of both frames, the hand with a margin of its own size for the motion, so its image pyramids
    are a hand's, not the whole frame's."""
    height, width = gray.shape
    margin = max(16.0, hand_size)
    low = np.maximum(np.floor(corners.min(axis=0) - margin), 0).astype(int)
    high = np.minimum(np.ceil(corners.max(axis=0) + margin), [width, height]).astype(int)
    if np.any(high - low < 2):  # the hand has left the picture
        return corners, np.zeros(len(corners), bool)
    offset = low.astype(np.float32)
    crop = (slice(low[1], high[1]), slice(low[0], high[0]))
    moved, status, _ = cv2.calcOpticalFlowPyrLK(previous[crop], gray[crop], (corners - offset).reshape(-1, 1, 2),
                                                None, winSize=(FLOW_WINDOW_PX, FLOW_WINDOW_PX),
                                                maxLevel=FLOW_LEVELS, criteria=FLOW_STOP)
    return moved.reshape(-1, 2) + offset, status.reshape(-1) == 1
