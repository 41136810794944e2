"""OpenCV capture: what the camera and the file sources share in turning a decoded image into a
Frame's picture (3-channel BGR, mirrored on request) and in reading a capture's frame size.

Importing it silences OpenCV's own log: a camera that isn't there is reported in one line by the
source that tried it, not in OpenCV's warnings.
"""

from __future__ import annotations

import cv2
import numpy as np

cv2.setLogLevel(0)  # 0 = silent


def capture_size(capture: cv2.VideoCapture) -> tuple[int, int]:
    """The (width, height) a capture reports; (640, 480) when it reports none."""
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    return (width, height) if width > 0 and height > 0 else (640, 480)


def prepare_image(image: np.ndarray, mirror: bool) -> np.ndarray:
    """``image`` as 3-channel BGR (from grey or BGRA), flipped left-right if ``mirror``."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return cv2.flip(image, 1) if mirror else image
