"""What a body looks like, for telling two people apart: torso colour and limb proportions.

The audience tracker (and the single-visitor continuity check) let an id move from one sighting to
the next only when these agree (docs/audience.md):
clothing colour changes little from frame to frame while a person is followed, and the lengths of
a person's bones relative to each other do not change at all, only their foreshortening.

- ``torso_descriptor``: an L1-normalised hue x saturation histogram of the torso (shoulders to
  hips). Brightness is left out: it follows the lighting.
- ``limb_proportions``: bone lengths (upper arms, forearms, thighs, shins, torso) divided by the
  shoulder width, NaN where a bone's ends are not both visible.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from installation.contracts import POSE_LANDMARK_COUNT
from installation.contracts import PoseLandmark as P

HIST_BINS = (16, 4)  # hue x saturation
DESCRIPTOR_SIZE = HIST_BINS[0] * HIST_BINS[1]
TORSO = (P.LEFT_SHOULDER, P.RIGHT_SHOULDER, P.LEFT_HIP, P.RIGHT_HIP)
BONES = (
    (P.LEFT_SHOULDER, P.LEFT_ELBOW), (P.RIGHT_SHOULDER, P.RIGHT_ELBOW),
    (P.LEFT_ELBOW, P.LEFT_WRIST), (P.RIGHT_ELBOW, P.RIGHT_WRIST),
    (P.LEFT_HIP, P.LEFT_KNEE), (P.RIGHT_HIP, P.RIGHT_KNEE),
    (P.LEFT_KNEE, P.LEFT_ANKLE), (P.RIGHT_KNEE, P.RIGHT_ANKLE),
    (P.LEFT_SHOULDER, P.LEFT_HIP), (P.RIGHT_SHOULDER, P.RIGHT_HIP),
)
PROPORTION_SIZE = len(BONES)
MIN_VISIBILITY = 0.5


def torso_descriptor(image_hsv: np.ndarray, landmarks: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The (64,) L1-normalised hue-saturation histogram of the torso (shoulders to hips), or of the
    middle of ``box`` when the torso landmarks are missing; a uniform histogram if nothing is left."""
    height, width = image_hsv.shape[:2]
    if landmarks.shape[0] == POSE_LANDMARK_COUNT:
        torso = landmarks[list(TORSO), :2]
        x0, y0 = torso.min(axis=0)
        x1, y1 = torso.max(axis=0)
    else:
        bw, bh = box[2] - box[0], box[3] - box[1]
        x0, y0, x1, y1 = box[0] + 0.25 * bw, box[1] + 0.25 * bh, box[2] - 0.25 * bw, box[1] + 0.6 * bh
    xa, xb = int(np.clip(x0 * width, 0, width - 1)), int(np.clip(x1 * width, 1, width))
    ya, yb = int(np.clip(y0 * height, 0, height - 1)), int(np.clip(y1 * height, 1, height))
    patch = image_hsv[ya:max(yb, ya + 1), xa:max(xb, xa + 1)]
    hist = cv2.calcHist([patch], [0, 1], None, list(HIST_BINS), [0, 180, 0, 256]).reshape(-1)
    total = float(hist.sum())
    if total <= 0:
        return np.full(DESCRIPTOR_SIZE, 1.0 / DESCRIPTOR_SIZE, np.float32)
    return (hist / total).astype(np.float32)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya (Hellinger) distance of two L1-normalised histograms: 0 same, 1 disjoint."""
    return float(np.sqrt(max(0.0, 1.0 - float(np.sum(np.sqrt(a * b))))))


def limb_proportions(landmarks: np.ndarray, aspect: float = 1.0) -> np.ndarray:
    """(10,) bone lengths in shoulder widths (see ``BONES``), NaN where either end is less visible
    than 0.5 or there is no pose. ``aspect`` (width / height) makes x and y one unit."""
    out = np.full(PROPORTION_SIZE, np.nan, np.float32)
    if landmarks.shape[0] != POSE_LANDMARK_COUNT:
        return out
    points = landmarks[:, :2] * np.array([aspect, 1.0], np.float32)
    seen = landmarks[:, 3] >= MIN_VISIBILITY
    if not (seen[P.LEFT_SHOULDER] and seen[P.RIGHT_SHOULDER]):
        return out
    shoulders = float(np.linalg.norm(points[P.LEFT_SHOULDER] - points[P.RIGHT_SHOULDER]))
    # Side-on, the shoulder width collapses: the torso length then stands in for it (about 1.5x).
    torso = float(np.linalg.norm(points[[P.LEFT_SHOULDER, P.RIGHT_SHOULDER]].mean(0)
                                 - points[[P.LEFT_HIP, P.RIGHT_HIP]].mean(0)))
    unit = max(shoulders, torso / 1.5)
    if unit <= 1e-6:
        return out
    for i, (a, b) in enumerate(BONES):
        if seen[a] and seen[b]:
            out[i] = float(np.linalg.norm(points[a] - points[b])) / unit
    return out


def proportion_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Median relative difference of the bones measured in both (0 = same build); 0 when fewer
    than three bones are shared, so a half-seen body is judged by colour and motion alone. The
    median, because a bone pointing at the camera looks short on one frame."""
    both = np.isfinite(a) & np.isfinite(b)
    if int(both.sum()) < 3:
        return 0.0
    x, y = a[both], b[both]
    relative = np.abs(x - y) / np.maximum((x + y) / 2, 1e-6)
    value = float(np.median(relative))
    return value if math.isfinite(value) else 0.0
