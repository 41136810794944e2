"""Drawing on the images the people search looks at: painting a found body's head and torso out,
telling a ghost whose face lies on that paint, and mapping a crop's landmarks back to the image."""

from __future__ import annotations

import cv2
import numpy as np

from installation.contracts import POSE_LANDMARK_COUNT, PoseLandmark

GREY = 127  # the paint that hides a found person from the search: no edges, no skin, no colour
TORSO = [PoseLandmark.LEFT_SHOULDER, PoseLandmark.RIGHT_SHOULDER, PoseLandmark.LEFT_HIP, PoseLandmark.RIGHT_HIP]
HEAD = (PoseLandmark.NOSE, PoseLandmark.LEFT_EAR, PoseLandmark.RIGHT_EAR, PoseLandmark.LEFT_EYE, PoseLandmark.RIGHT_EYE)


def to_image(landmarks: np.ndarray, xa: int, ya: int, w: int, h: int, width: int, height: int) -> None:
    """Crop-normalised landmarks -> image-normalised, in place; z is in units of the width, like x."""
    landmarks[:, 0] = (xa + landmarks[:, 0] * w) / width
    landmarks[:, 1] = (ya + landmarks[:, 1] * h) / height
    landmarks[:, 2] *= w / width


def face_on_paint(painted: np.ndarray, landmarks: np.ndarray) -> bool:
    """True when most of the pixels around the found face (nose and eyes) are the search's paint:
    a real newcomer's face was there to be seen, so this is a painted person guessed again from
    their arms and legs (seen on two overlapping dancers: the back one came back facing away)."""
    height, width = painted.shape[:2]
    face = landmarks[[PoseLandmark.NOSE, PoseLandmark.LEFT_EYE, PoseLandmark.RIGHT_EYE], :2]
    xs = np.clip((face[:, 0] * width).astype(int), 0, width - 1)
    ys = np.clip((face[:, 1] * height).astype(int), 0, height - 1)
    grey = np.all(painted[ys, xs] == GREY, axis=1)  # (3,)
    return int(grey.sum()) >= 2


def paint_core(image: np.ndarray, landmarks: np.ndarray,
                region: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)) -> None:
    """Paint a found body's head and torso flat grey in ``image``, which shows ``region`` (x0, y0,
    width, height in image-normalised units). Only the core: a person overlapping them keeps the
    face and shoulders the detector looks for, and the painted person is not found again."""
    if landmarks.shape[0] != POSE_LANDMARK_COUNT:
        return
    height, width = image.shape[:2]
    x0, y0, rw, rh = region
    points = np.stack([(landmarks[:, 0] - x0) / rw * width, (landmarks[:, 1] - y0) / rh * height], axis=1)  # (33, 2) px
    shoulders = float(np.linalg.norm(points[PoseLandmark.LEFT_SHOULDER] - points[PoseLandmark.RIGHT_SHOULDER]))
    head = points[list(HEAD)]
    radius = max(0.45 * shoulders, 1.3 * float(np.linalg.norm(head - head.mean(axis=0), axis=1).max()), 4.0)
    centre = head.mean(axis=0)
    cv2.circle(image, (int(centre[0]), int(centre[1])), int(radius), (GREY,) * 3, thickness=-1)
    torso = points[TORSO]
    middle = torso.mean(axis=0)
    grown = middle + 1.15 * (torso - middle)  # to the edges of the clothes, not the joints
    hull = cv2.convexHull(np.round(grown).astype(np.int32))
    cv2.fillConvexPoly(image, hull, (GREY,) * 3)
