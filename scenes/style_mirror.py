"""Style mirror: visitors see themselves re-imagined in the style the model learned.

What the visitor sees and does: standing in front of the camera, they appear on the picture as
a silhouette filled with their own image as the art-trained VAE redraws it (their cut-out,
encoded and decoded: shapes and colours the way the training art has them), blended over a
slowly drifting picture through a soft-edged mask. Moving moves the silhouette and reshapes
the redrawn figure; the picture behind leans toward their encoding (``follow``). With nobody
there it shows only the drifting picture.

Geometry: the square picture shows the camera's centred square (``scene_kit.geometry``: the
middle 9/16 of a 16:9 frame), as the frame arrives, so a mirrored source gives a mirror.

Per frame, for a new camera frame with someone present: one selfie segmentation of a 160 px
copy (MediaPipe, model 1), one encode and one extra render of the model. Made for ``vae_art64``;
without tools (no encoder or no render) the silhouette shows the picture's negative instead.
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from installation.contracts import LatentState
from installation.generator import THEME_PARAM
from installation.mapping import LatentDrift
from installation.scene_kit.segmentation import PersonMask, SegmentationUnavailable
from scenes.base import ParamSpec, Scene, SceneInputs, SceneTools

log = logging.getLogger(__name__)

MASK_SIZE = 160  # pixels of the square copy that is segmented
MIN_PRESENCE = 0.05  # below this nobody is there: no segmentation is run
MIN_PERSON_AREA = 0.01  # share of the square the mask must cover to count as a person
MASK_EDGE = (0.3, 0.7)  # the soft mask is sharpened by a smoothstep between these values


def smoothstep(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Returns 0 below ``low``, 1 above ``high``, a smooth S-curve between (in place on x)."""
    np.subtract(x, low, out=x)
    np.multiply(x, 1.0 / (high - low), out=x)
    np.clip(x, 0.0, 1.0, out=x)
    x *= x * (3.0 - 2.0 * x)
    return x


class StyleMirrorScene(Scene):
    name = "style_mirror"
    MODEL = "vae_art64"
    PARAMETERS = (
        ParamSpec("blend", 0.0, 1.0, 0.85, "how opaque the restyled visitor is over the picture"),
        ParamSpec("feather", 0.0, 0.1, 0.02, "softness of the silhouette's edge, in picture sides"),
        ParamSpec("style_theme", -1.0, 15.0, -1.0, "theme index of a conditional model (wraps); -1 = all themes blended"),
        ParamSpec("follow", 0.0, 1.0, 0.4, "how far the picture behind leans toward the visitor's encoding"),
        ParamSpec("morph_s", 0.05, 10.0, 1.0, "time constant of the picture's glide, seconds"),
        ParamSpec("drift", 0.0, 2.0, 1.0, "size of the picture's slow wander (latent units)"),
    )

    def setup(self, latent_dim: int, seed: int, tools: SceneTools | None = None) -> None:
        self.close()  # set up again (a new seed): release the previous graph first
        self.tools = tools
        self._drift = LatentDrift(latent_dim, seed + 41, 1.0, min_hz=0.005, max_hz=0.03)
        self.z = (self.params["drift"] * self._drift.at(0.0)).astype(np.float32)
        self.visitor_z: np.ndarray | None = None  # the latent of the visitor's cut-out
        try:
            self.segmenter: PersonMask | None = PersonMask(MASK_SIZE)
        except SegmentationUnavailable as error:
            log.warning("style mirror runs without a silhouette: %s", error)
            self.segmenter = None
        self.alpha = np.zeros((MASK_SIZE, MASK_SIZE), np.float32)  # (S, S) blend weight of the visitor, 0..1
        self._on_white = np.zeros((MASK_SIZE, MASK_SIZE, 3), np.uint8)  # the cut-out on white paper
        size = tools.resolution if tools is not None else MASK_SIZE
        self.layer = np.zeros((size, size, 3), np.uint8)  # (R, R, 3) the restyled visitor, placed
        self.visible = False  # a silhouette is to be blended this frame
        self._frame_index: int | None = None
        self._resized: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # picture size -> buffers

    def close(self) -> None:
        """Release MediaPipe's segmentation graph (safe to call more than once)."""
        segmenter = getattr(self, "segmenter", None)
        if segmenter is not None:
            segmenter.close()
            self.segmenter = None

    def _theme_params(self) -> dict[str, float]:
        theme = self.params["style_theme"]
        return {THEME_PARAM: float(round(theme))} if theme >= 0 else {}

    def update(self, inputs: SceneInputs) -> LatentState:
        present = inputs.features.presence >= MIN_PRESENCE and inputs.frame is not None
        if not present or self.segmenter is None:
            self.visible, self.visitor_z = False, None
        elif inputs.frame.index != self._frame_index:  # a live loop may run ahead of the camera
            self._frame_index = inputs.frame.index
            self._restyle(inputs.frame.image_bgr)
        drift = self.params["drift"] * self._drift.at(inputs.t)
        target = drift
        if self.visitor_z is not None:
            lean = self.params["follow"] * min(inputs.features.presence, 1.0)
            target = (1.0 - lean) * drift + lean * self.visitor_z
        ease = 1.0 - math.exp(-max(inputs.dt, 0.0) / self.params["morph_s"])
        self.z = (self.z + ease * (target - self.z)).astype(np.float32)
        return LatentState(self.z.copy(), {**self._theme_params(), "visitor": float(self.visible)})

    def _restyle(self, image_bgr: np.ndarray) -> None:
        """Segment the frame, redraw the cut-out with the model, and place it on ``layer``."""
        mask = self.segmenter.update(image_bgr)
        self.visible = float((mask > 0.5).mean()) >= MIN_PERSON_AREA
        if not self.visible:
            self.visitor_z = None
            return
        np.copyto(self.alpha, mask)
        smoothstep(self.alpha, *MASK_EDGE)
        sigma = self.params["feather"] * MASK_SIZE
        if sigma > 0.0:
            cv2.GaussianBlur(self.alpha, (0, 0), sigma, dst=self.alpha)
        tools = self.tools
        if tools is None or tools.encode is None or tools.render is None:
            self.visitor_z = None
            return
        # the cut-out on white: the training art is composited on white
        np.copyto(self._on_white, (self.segmenter.rgb * self.alpha[..., None]
                                   + 255.0 * (1.0 - self.alpha[..., None])).astype(np.uint8))
        left, top, side = self.segmenter.person_box()
        self.visitor_z = np.asarray(tools.encode(self._on_white[top:top + side, left:left + side]), np.float32)
        styled = tools.render(LatentState(self.visitor_z, self._theme_params()))  # (R, R, 3)
        self._place(styled, left, top, side)

    def _place(self, styled: np.ndarray, left: int, top: int, side: int) -> None:
        """Put the redrawn cut-out where the person stands, on ``layer`` (picture pixels)."""
        R = self.layer.shape[0]
        scale = R / MASK_SIZE
        x0, y0 = int(round(left * scale)), int(round(top * scale))
        size = max(1, min(int(round(side * scale)), R - x0, R - y0))
        self.layer[:] = styled[0, 0]  # beyond the box the feathered edge fades into the art's paper colour
        cv2.resize(styled, (size, size), dst=self.layer[y0:y0 + size, x0:x0 + size], interpolation=cv2.INTER_AREA)

    def compose(self, image: np.ndarray, inputs: SceneInputs) -> np.ndarray:
        """The picture with the restyled visitor blended in through the silhouette; the picture
        itself where the silhouette is not (nobody there: ``image`` unchanged)."""
        if not self.visible or self.params["blend"] <= 0.0:
            return image
        height, width = image.shape[:2]
        alpha, layer = self._buffers(height, width)
        cv2.resize(self.alpha, (width, height), dst=alpha, interpolation=cv2.INTER_LINEAR)
        alpha *= self.params["blend"]
        if self.visitor_z is None:  # no model to redraw with: the picture's negative shows the figure
            np.subtract(255, image, out=layer)
        elif layer.shape != self.layer.shape:
            cv2.resize(self.layer, (width, height), dst=layer, interpolation=cv2.INTER_LINEAR)
        else:
            np.copyto(layer, self.layer)
        blended = image + alpha[..., None] * (layer.astype(np.float32) - image) + 0.5  # + 0.5: the cast truncates
        return blended.astype(np.uint8)

    def _buffers(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """The (H, W) alpha and (H, W, 3) layer buffers for a picture size, allocated once."""
        if (height, width) not in self._resized:
            self._resized[(height, width)] = (np.empty((height, width), np.float32),
                                              np.empty((height, width, 3), np.uint8))
        return self._resized[(height, width)]


SCENE = StyleMirrorScene
