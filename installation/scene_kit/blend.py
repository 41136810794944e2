"""Easing and pixel blending, shared by the show's cross-fades and the scenes' own fades."""

from __future__ import annotations

import cv2
import numpy as np


def smoothstep(x: float) -> float:
    """0 at or below 0, 1 at or above 1, an S-curve between: no kink at either end."""
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


def blend_pixels(leaving: np.ndarray, incoming: np.ndarray, amount: float) -> np.ndarray:
    """``amount`` of ``incoming`` over ``leaving`` (RGB uint8), at the larger of the two sizes."""
    if leaving.shape != incoming.shape:
        height = max(leaving.shape[0], incoming.shape[0])
        width = max(leaving.shape[1], incoming.shape[1])
        leaving = cv2.resize(leaving, (width, height), interpolation=cv2.INTER_LINEAR)
        incoming = cv2.resize(incoming, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.addWeighted(incoming, amount, leaving, 1.0 - amount, 0.0)
