"""Keystone and mesh warps of one output's frame, for a projector that does not hit its wall square.

Both end as one ``cv2.remap`` a frame through maps computed once at set-up:

- **corners** (keystone): where the frame's four corners must land in the projector's frame,
  (x, y) normalised 0..1 of the output, in the order top-left, top-right, bottom-right,
  bottom-left. (0, 0) is the outer edge of the top-left pixel, (1, 1) that of the bottom-right one.
- **mesh** (optional, after the corners): a grid of ROWS x COLS points, each the place in the
  keystoned frame (normalised 0..1) that the projector pixel at that grid node shows; the identity
  grid is evenly spaced. It bends what four corners cannot (a curved wall, a lens's barrel).

The maps are converted to OpenCV's fixed-point form, which remaps about twice as fast as floats.
"""

from __future__ import annotations

import cv2
import numpy as np

IDENTITY_CORNERS = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))


class Warp:
    """One output's warp at a fixed ``size`` (width, height); ``apply`` writes into ``out``."""

    def __init__(self, size: tuple[int, int], corners=IDENTITY_CORNERS, mesh=None) -> None:
        self.size = size
        self.identity = tuple(map(tuple, corners)) == IDENTITY_CORNERS and mesh is None
        map_x, map_y = sampling_maps(size, corners, mesh)
        self._map1, self._map2 = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)

    def apply(self, image: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``image`` (H, W, C) warped into ``out`` of the same shape; outside the quad is black."""
        if self.identity:
            np.copyto(out, image)
            return out
        return cv2.remap(image, self._map1, self._map2, cv2.INTER_LINEAR, dst=out,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def keystone_homography(size: tuple[int, int], corners) -> np.ndarray:
    """The 3x3 homography from the frame's edge coordinates (pixels, (0, 0) = the top-left pixel's
    outer corner) to the projector's, putting the frame's corners at ``corners`` x size."""
    width, height = size
    source = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    target = np.float32([[x * width, y * height] for x, y in corners])
    return cv2.getPerspectiveTransform(source, target)


def sampling_maps(size: tuple[int, int], corners=IDENTITY_CORNERS, mesh=None) -> tuple[np.ndarray, np.ndarray]:
    """For every projector pixel, the frame pixel it shows: (map_x, map_y), each (H, W) float32 in
    OpenCV's pixel-centre coordinates, as ``cv2.remap`` takes them."""
    width, height = size
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float64) + 0.5, np.arange(height, dtype=np.float64) + 0.5)
    if mesh is not None:  # projector pixel -> the place in the keystoned frame it shows
        grid = np.asarray(mesh, np.float64)  # (rows, cols, 2), normalised
        u, v = xs / width, ys / height
        xs, ys = _bilinear(grid[:, :, 0], u, v) * width, _bilinear(grid[:, :, 1], u, v) * height
    inverse = np.linalg.inv(keystone_homography(size, corners))
    denominator = inverse[2, 0] * xs + inverse[2, 1] * ys + inverse[2, 2]
    map_x = (inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]) / denominator - 0.5
    map_y = (inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]) / denominator - 0.5
    return map_x.astype(np.float32), map_y.astype(np.float32)


def identity_mesh(rows: int, cols: int) -> np.ndarray:
    """The evenly spaced (rows, cols, 2) grid that leaves the frame as it is."""
    v, u = np.meshgrid(np.linspace(0.0, 1.0, rows), np.linspace(0.0, 1.0, cols), indexing="ij")
    return np.stack([u, v], axis=-1)


def _bilinear(values: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``values`` given on an evenly spaced (rows, cols) grid over 0..1, read at (u, v)."""
    rows, cols = values.shape
    gx, gy = np.clip(u, 0.0, 1.0) * (cols - 1), np.clip(v, 0.0, 1.0) * (rows - 1)
    x0, y0 = np.minimum(gx.astype(int), cols - 2), np.minimum(gy.astype(int), rows - 2)
    fx, fy = gx - x0, gy - y0
    top = values[y0, x0] * (1 - fx) + values[y0, x0 + 1] * fx
    bottom = values[y0 + 1, x0] * (1 - fx) + values[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy
