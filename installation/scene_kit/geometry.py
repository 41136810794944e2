"""How the camera image maps onto the square generated picture.

The generated picture is square (R x R) while a camera is usually 16:9, so the scenes show the
largest centred square of the camera image: the middle 9/16 of a landscape frame's width (all
of its height), or the middle of a portrait frame's height. A visitor standing outside that
square is perceived (features still use the whole frame) but is not drawn. The camera frame is
used as it arrives: when the source mirrors it (``source.mirror``, a selfie view), the picture
is mirrored too, so a visitor's hand moving to their right moves right on the screen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CentreSquare:
    """The centred square of a ``width`` x ``height`` camera image, in its pixels."""

    width: int
    height: int

    @staticmethod
    def of(image: np.ndarray) -> CentreSquare:
        """Returns the centred square of ``image`` (H, W, ...)."""
        return CentreSquare(int(image.shape[1]), int(image.shape[0]))

    @property
    def side(self) -> int:
        """Returns the square's side, pixels."""
        return min(self.width, self.height)

    @property
    def origin(self) -> tuple[int, int]:
        """Returns the square's top-left corner (x0, y0), pixels."""
        return (self.width - self.side) // 2, (self.height - self.side) // 2

    def crop(self, image: np.ndarray) -> np.ndarray:
        """Returns the square of ``image`` as a view (no copy)."""
        x0, y0 = self.origin
        return image[y0:y0 + self.side, x0:x0 + self.side]

    def to_square(self, x: float, y: float) -> tuple[float, float]:
        """Normalised image coordinates (MediaPipe's, 0..1 across the frame) -> 0..1 across the
        square; outside 0..1 for a point outside the square."""
        x0, y0 = self.origin
        return (x * self.width - x0) / self.side, (y * self.height - y0) / self.side


def matte(image: np.ndarray, aspect: float) -> np.ndarray:
    """``image`` (H, W, 3) widened (or heightened) to width/height = ``aspect`` by a matte of its own
    border colour (the median of its outermost pixels), the picture whole in the middle: how a
    square artwork fills a 16:9 screen without losing its top and bottom to a "cover" crop."""
    height, width = image.shape[:2]
    if abs(width / height - aspect) < 1e-3:
        return image
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])  # (2W + 2H, 3)
    colour = np.median(border, axis=0).astype(image.dtype)
    new_width, new_height = max(width, round(height * aspect)), max(height, round(width / aspect))
    out = np.empty((new_height, new_width, 3), image.dtype)
    out[:] = colour
    top, left = (new_height - height) // 2, (new_width - width) // 2
    out[top:top + height, left:left + width] = image
    return out
