"""Zones: named polygons in camera or screen coordinates (normalised, 0..1 across the picture).

An ``interaction`` zone filters visitors (someone outside every interaction zone is ignored);
an ``event`` zone only raises enter/leave events. A venue with no interaction zone filters no one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPACES = ("camera", "screen")
ROLES = ("interaction", "event")


@dataclass(frozen=True)
class Zone:
    """A polygon of three or more (x, y) vertices, in ``space`` ("camera" | "screen").

    ``role`` is "interaction" (visitors outside are ignored) or "event" (enter/leave only).
    """

    name: str
    points: tuple[tuple[float, float], ...]
    space: str = "camera"
    role: str = "interaction"

    def __post_init__(self) -> None:
        if len(self.points) < 3:
            raise ValueError(f"zone {self.name!r} needs at least 3 points, got {len(self.points)}")

    def contains(self, x: float, y: float) -> bool:
        """True when (x, y) is inside the polygon (even-odd rule; the edge counts as inside on the
        left/top and outside on the right/bottom, so two zones sharing an edge never both hold a point)."""
        return bool(self.contains_points(np.array([[x, y]], dtype=np.float64))[0])

    def contains_points(self, points: np.ndarray) -> np.ndarray:
        """(N,) booleans: which of the (N, 2+) points (x, y in columns 0, 1) are inside; NaN is outside."""
        points = np.asarray(points, dtype=np.float64)
        x, y = points[:, 0:1], points[:, 1:2]  # (N, 1) against (E,) edges
        start = np.asarray(self.points, dtype=np.float64)
        end = np.roll(start, -1, axis=0)
        straddles = (start[:, 1] > y) != (end[:, 1] > y)
        with np.errstate(divide="ignore", invalid="ignore"):  # horizontal edges never straddle
            crossing_x = start[:, 0] + (y - start[:, 1]) * (end[:, 0] - start[:, 0]) / (end[:, 1] - start[:, 1])
        crossings = straddles & (x < crossing_x)
        return (np.count_nonzero(crossings, axis=1) % 2) == 1
