"""MediaPipe selfie segmentation on a small copy of the camera's centred square.

``PersonMask.update(frame_bgr)`` cuts the visitor out: it crops the camera image to its centred
square (``geometry.CentreSquare``: the part of the camera the square picture shows), shrinks it
to ``size`` pixels, runs ``mp.solutions.selfie_segmentation`` (model 1, the landscape model,
which is the faster one) and keeps the soft mask (size, size) float32 in 0..1. Buffers are
allocated once per camera size; ``close`` releases the MediaPipe graph.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from installation.scene_kit.geometry import CentreSquare

log = logging.getLogger(__name__)

PERSON_THRESHOLD = 0.5  # mask value above which a pixel counts as the person


class SegmentationUnavailable(RuntimeError):
    """MediaPipe's selfie segmentation cannot be started here."""


class PersonMask:
    """The visitor's silhouette in the centred square of the camera image, at ``size`` pixels."""

    def __init__(self, size: int = 128, whole_frame: bool = False) -> None:
        """Start the segmentation graph. Raises SegmentationUnavailable if MediaPipe lacks it.
        ``whole_frame``: segment the whole camera image (``size`` pixels high, as wide as its
        shape makes it) instead of its centred square."""
        try:
            import mediapipe as mp  # imported here: scenes that never segment do not pay for it

            self._graph = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1)
        except (ImportError, AttributeError, RuntimeError) as error:
            raise SegmentationUnavailable(f"MediaPipe selfie segmentation is unavailable: {error}") from None
        self.size = int(size)
        self.whole_frame = whole_frame
        self.errors = 0
        self._allocate(self.size, self.size)

    def _allocate(self, height: int, width: int) -> None:
        self.rgb = np.zeros((height, width, 3), np.uint8)  # (h, w, 3) the small RGB copy segmented
        self.mask = np.zeros((height, width), np.float32)  # (h, w) person probability, 0..1
        self._small_bgr = np.zeros((height, width, 3), np.uint8)

    def update(self, image_bgr: np.ndarray) -> np.ndarray:
        """Segment the centred square of ``image_bgr`` (H, W, 3) uint8. Returns ``self.mask``
        (updated in place). A MediaPipe failure is logged, counted and leaves an empty mask."""
        region = image_bgr if self.whole_frame else CentreSquare.of(image_bgr).crop(image_bgr)
        width = max(1, round(self.size * region.shape[1] / region.shape[0]))
        if self.mask.shape != (self.size, width):  # a camera of another shape: buffers once per shape
            self._allocate(self.size, width)
        cv2.resize(region, (width, self.size), dst=self._small_bgr, interpolation=cv2.INTER_AREA)
        cv2.cvtColor(self._small_bgr, cv2.COLOR_BGR2RGB, dst=self.rgb)
        try:
            result = self._graph.process(self.rgb)
        except (RuntimeError, ValueError):  # MediaPipe's errors on bad input
            self.errors += 1
            if self.errors <= 3:
                log.exception("selfie segmentation failed; treating the frame as empty")
            self.mask[:] = 0.0
            return self.mask
        if result.segmentation_mask is None:
            self.mask[:] = 0.0
        else:
            np.copyto(self.mask, result.segmentation_mask, casting="same_kind")
        return self.mask

    def person_box(self, margin: float = 0.1) -> tuple[int, int, int] | None:
        """The square (x0, y0, side) around the person in mask pixels, grown by ``margin`` of its
        side and kept inside the mask; None when no pixel counts as the person."""
        rows = np.flatnonzero((self.mask > PERSON_THRESHOLD).any(axis=1))
        cols = np.flatnonzero((self.mask > PERSON_THRESHOLD).any(axis=0))
        if rows.size == 0:
            return None
        y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        height, width = self.mask.shape
        side = int(min(height, width, max(y1 - y0, x1 - x0) * (1.0 + 2.0 * margin)))
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        left = int(min(max(cx - side // 2, 0), width - side))
        top = int(min(max(cy - side // 2, 0), height - side))
        return left, top, side

    def close(self) -> None:
        """Release the MediaPipe graph (safe to call twice)."""
        graph, self._graph = getattr(self, "_graph", None), None
        if graph is not None:
            graph.close()
