"""Steady painting: the painted texture sticks to what it paints instead of boiling.

Painting each video frame on its own flickers: the network places its strokes afresh every time.
``FlowCarry`` keeps the last shown painting and carries it along the optical flow of the content
(DIS flow on a small grey copy), then blends in the newest painting, leaning on the carried one
only where the flow can be trusted: where the content, warped the same way, matches the content
now (a photometric consistency check; occluded and newly seen parts take the new painting). The
same carry shows a painting made from an older content frame (a painter thread behind the loop)
moved to where its content is now.

``flicker`` is the measure the benchmarks and tests use: the mean absolute difference between
painted frame t and painted frame t-1 warped to t, divided by the same for the unpainted content.
"""

from __future__ import annotations

import cv2
import numpy as np

FLOW_WIDTH = 192  # the flow is computed on a grey copy this wide (it is smooth; more costs time)
TRUST_SCALE = 16.0  # grey levels: a warped content pixel this far from now has trust e^-1
TRUST_BLUR = 2.0  # pixels of the flow copy: trust is smoothed so seams don't show


class FlowField:
    """Backward flow between two content frames: for each pixel of ``now``, where it was ``before``,
    and how much to trust that (0..1), at the pictures' size."""

    def __init__(self) -> None:
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._grid: dict[tuple[int, int], np.ndarray] = {}  # size -> (H, W, 2) pixel coordinates

    def small_grey(self, rgb: np.ndarray) -> np.ndarray:
        """The (h, FLOW_WIDTH) grey copy flow is computed on."""
        height, width = rgb.shape[:2]
        small_width = min(FLOW_WIDTH, width)
        small_height = max(8, round(height * small_width / width))
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)  # one channel to shrink, not three
        return cv2.resize(grey, (small_width, small_height), interpolation=cv2.INTER_AREA)

    def between(self, grey_now: np.ndarray, grey_before: np.ndarray, size: tuple[int, int],
                trusted: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """The (H, W, 2) float32 sampling map into ``before`` for each pixel of ``now`` (for
        ``cv2.remap``), and the (H, W) float32 trust (None unless ``trusted``), for pictures of
        ``size`` (width, height)."""
        flow = self._dis.calc(grey_now, grey_before, None)  # (h, w, 2) small pixels, now -> before
        small_h, small_w = grey_now.shape
        trust = None
        if trusted:
            warped = cv2.remap(grey_before, *self._map(flow, (small_w, small_h)), cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
            error = cv2.absdiff(warped, grey_now).astype(np.float32)
            trust = np.exp(-cv2.GaussianBlur(error, (0, 0), TRUST_BLUR) / TRUST_SCALE)
        width, height = size
        scale = np.float32(width / small_w), np.float32(height / small_h)
        big = cv2.resize(flow, size, interpolation=cv2.INTER_LINEAR)
        big[..., 0] *= scale[0]
        big[..., 1] *= scale[1]
        big += self._coordinates(size)
        return big, None if trust is None else cv2.resize(trust, size, interpolation=cv2.INTER_LINEAR)

    def _map(self, flow: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        sampled = flow + self._coordinates(size)
        return sampled[..., 0], sampled[..., 1]

    def _coordinates(self, size: tuple[int, int]) -> np.ndarray:
        if size not in self._grid:
            width, height = size
            xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
            self._grid[size] = np.dstack([xs, ys])
        return self._grid[size]


def warp(image: np.ndarray, sampling: np.ndarray) -> np.ndarray:
    """``image`` moved along a ``FlowField.between`` sampling map."""
    return cv2.remap(image, sampling[..., 0], sampling[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class FlowCarry:
    """The shown painting, carried along the content's motion and renewed by new paintings.

    ``carry`` (0..1) is the carried painting's share, where the flow is fully trusted, when a new
    painting arrives: 0 shows each new painting as it is (per-frame painting); 0.7 keeps seven
    tenths of the texture where it still fits. Between new paintings the shown one is carried.
    """

    def __init__(self, carry: float) -> None:
        self.carry = float(carry)
        self.flow = FlowField()
        self._shown: np.ndarray | None = None  # (H, W, 3) uint8, the last picture returned
        self._grey_shown: np.ndarray | None = None  # the small grey content it was made for

    def reset(self) -> None:
        self._shown = self._grey_shown = None

    @property
    def empty(self) -> bool:
        """Nothing is being carried (at the start, or after ``reset``)."""
        return self._shown is None

    def step(self, content: np.ndarray, painting: np.ndarray | None, grey_painting: np.ndarray | None = None) -> np.ndarray | None:
        """The picture to show for ``content`` (H, W, 3) uint8: the shown painting carried to it,
        blended with ``painting`` (same size; None when no new one arrived) of the content whose
        small grey copy is ``grey_painting`` (None: of ``content`` itself). Returns (H, W, 3) uint8,
        or None while there has been no painting to show."""
        grey_now = self.flow.small_grey(content)
        size = (content.shape[1], content.shape[0])
        if painting is not None and grey_painting is not None and grey_painting.shape == grey_now.shape \
                and not np.array_equal(grey_painting, grey_now):
            sampling, _ = self.flow.between(grey_now, grey_painting, size, trusted=False)
            painting = warp(painting, sampling)  # an older content's painting moved to where its content is now
        if self._shown is None or self._shown.shape != content.shape or self._grey_shown.shape != grey_now.shape:
            shown = painting
        else:
            sampling, trust = self.flow.between(grey_now, self._grey_shown, size, trusted=painting is not None)
            carried = warp(self._shown, sampling)
            if painting is None:
                shown = carried
            else:
                weight = (self.carry * trust)[..., None]  # (H, W, 1) share of the carried painting
                shown = (painting + weight * (carried.astype(np.float32) - painting) + 0.5).astype(np.uint8)
        if shown is not None:
            self._shown, self._grey_shown = shown, grey_now
        return shown


def flicker(painted: list[np.ndarray], content: list[np.ndarray]) -> float:
    """Temporal flicker of a painted clip against its content: the mean |painted t - painted t-1
    warped to t| over the clip, divided by the same for the content, both warped by the content's
    flow. 1 = it changes as much as the picture it paints; lower is steadier."""
    if len(painted) != len(content) or len(painted) < 2:
        raise ValueError("flicker needs two or more painted frames and as many content frames")
    field = FlowField()
    painted_change = content_change = 0.0
    for t in range(1, len(content)):
        size = (content[t].shape[1], content[t].shape[0])
        sampling, _ = field.between(field.small_grey(content[t]), field.small_grey(content[t - 1]), size, trusted=False)
        painted_change += float(cv2.absdiff(painted[t], warp(painted[t - 1], sampling)).mean())
        content_change += float(cv2.absdiff(content[t], warp(content[t - 1], sampling)).mean())
    return painted_change / max(content_change, 1e-9)
