"""A stroke canvas: lines drawn in unit-square coordinates, kept as an image a model can read.

The canvas looks like the art the shipped models learned from (``../shared/art``: dark
outlines and shapes on white), so a sketch on it is something the VAE's encoder knows how to
read. Everything is allocated at construction; drawing writes into the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAPER_RGB = (255, 255, 255)
INK_RGB = (24, 24, 24)


@dataclass(frozen=True)
class InkStats:
    """Where the ink is: centroid (cx, cy) in -1..1 (0 = middle), spread (sx, sy) as standard
    deviations in the canvas's half-sides, and coverage, the share of the canvas inked (0..1)."""

    cx: float
    cy: float
    sx: float
    sy: float
    coverage: float

    def as_array(self) -> np.ndarray:
        """Returns (cx, cy, sx, sy, coverage) as a (5,) float64 array."""
        return np.array([self.cx, self.cy, self.sx, self.sy, self.coverage])


class StrokeCanvas:
    """A square canvas of ``size`` pixels; strokes are polylines of points in 0..1 coordinates.

    ``version`` grows with every change, so a reader can tell cheaply whether to look again.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = int(size)
        self.image = np.empty((size, size, 3), np.uint8)  # (S, S, 3) RGB: ink on paper
        self.ink = np.empty((size, size), np.uint8)  # (S, S) 255 where inked, for overlays and statistics
        self.version = 0
        self._last: tuple[int, int] | None = None  # the open stroke's last point, canvas pixels
        self.clear()

    @property
    def is_empty(self) -> bool:
        """Returns True when nothing has been drawn since the last clear."""
        return self._inked_points == 0

    @property
    def drawing(self) -> bool:
        """Returns True while a stroke is open."""
        return self._last is not None

    def clear(self) -> None:
        """Wipe the canvas and end any open stroke."""
        self.image[:] = PAPER_RGB
        self.ink[:] = 0
        self._last = None
        self._inked_points = 0
        self.version += 1

    def end_stroke(self) -> None:
        """Close the open stroke (the next point starts a new one)."""
        self._last = None

    def add_point(self, x: float, y: float, width: float) -> None:
        """Extend the open stroke (or start one) to (x, y) in 0..1 across the canvas, with a line
        ``width`` in canvas sides. Points outside the canvas are clipped to its edge."""
        s = self.size - 1
        point = (int(round(min(max(x, 0.0), 1.0) * s)), int(round(min(max(y, 0.0), 1.0) * s)))
        thickness = max(1, int(round(width * self.size)))
        start = self._last if self._last is not None else point
        if self._last is not None and point == self._last:
            return  # the finger rests: nothing new to draw
        cv2.line(self.image, start, point, INK_RGB, thickness, cv2.LINE_AA)
        cv2.line(self.ink, start, point, 255, thickness, cv2.LINE_AA)
        self._last = point
        self._inked_points += 1
        self.version += 1

    def stats(self) -> InkStats:
        """Returns where the ink is (all zeros for an empty canvas)."""
        moments = cv2.moments(self.ink, binaryImage=False)
        mass = moments["m00"]
        if mass <= 0.0:
            return InkStats(0.0, 0.0, 0.0, 0.0, 0.0)
        half = self.size / 2.0
        cx, cy = moments["m10"] / mass, moments["m01"] / mass
        sx = np.sqrt(max(moments["mu20"] / mass, 0.0)) / half
        sy = np.sqrt(max(moments["mu02"] / mass, 0.0)) / half
        coverage = mass / 255.0 / (self.size * self.size)
        return InkStats(cx / half - 1.0, cy / half - 1.0, float(sx), float(sy), float(coverage))
