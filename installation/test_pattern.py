"""A test pattern for aligning a projector: what the runtime shows while ``test_pattern`` is on
(the staff page's "test pattern" switch).

A grid every eighth of the picture, a border one pixel in from each edge (a projector that crops
shows it cut), the diagonals and a centre circle (keystone and lens distortion show as bent or
uneven lines), and grey steps along the bottom (black level and gamma). Drawn once per size and
kept: the loop only hands out the stored array.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

GRID_DIVISIONS = 8
GREY_STEPS = 8


@functools.lru_cache(maxsize=4)
def alignment_grid(size: int) -> np.ndarray:
    """The (size, size, 3) RGB uint8 pattern; the same (read-only) array for the same size."""
    image = np.full((size, size, 3), 24, np.uint8)
    line = max(1, size // 256)
    for i in range(1, GRID_DIVISIONS):
        at = i * size // GRID_DIVISIONS
        cv2.line(image, (at, 0), (at, size - 1), (140, 140, 140), line)
        cv2.line(image, (0, at), (size - 1, at), (140, 140, 140), line)
    cv2.rectangle(image, (0, 0), (size - 1, size - 1), (255, 255, 255), line)
    cv2.line(image, (0, 0), (size - 1, size - 1), (90, 200, 255), line)
    cv2.line(image, (size - 1, 0), (0, size - 1), (90, 200, 255), line)
    cv2.circle(image, (size // 2, size // 2), size // 4, (255, 80, 80), line)
    step_height = size // GRID_DIVISIONS // 2
    for i in range(GREY_STEPS):
        grey = round(255 * i / (GREY_STEPS - 1))
        left, right = i * size // GREY_STEPS, (i + 1) * size // GREY_STEPS
        image[size - 1 - step_height : size - 1, left:right] = grey
    image.flags.writeable = False  # shared between frames: nobody may draw on it
    return image
