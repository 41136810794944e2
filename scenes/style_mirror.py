"""Style mirror: visitors see themselves painted in the manner of a master, over a painted dream.

What the visitor sees and does: standing in front of the camera, they appear where they stand,
cut out of the room (MediaPipe selfie segmentation) and laid over a slowly drifting generated
picture; the painting stage then paints the whole — the visitor and the picture behind — in the
chosen style (``[paint]``, OSC ``/style/set``), steady along their motion, so the texture clings
to the body. Moving moves the figure; the picture behind leans toward the visitor's encoding by
a model with an encoder (``follow``; the configured generator draws the picture behind, the CPPN
by default). With nobody there it shows only the drifting picture.

Geometry: the picture is the whole camera frame at ``PICTURE_HEIGHT`` pixels high, the generated
picture scaled to cover it, as the frame arrives (a mirrored source gives a mirror). Per new
camera frame with someone present: one selfie segmentation of a 144 px high copy (model 1) and
one encode of the cut-out (with an encoder). Without painting (``paint`` 0, or no style networks) the visitor
shows as a photograph cut out over the picture.
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
from scenes.base import ParamSpec, Scene, SceneInputs, SceneTools, paint_param

log = logging.getLogger(__name__)

MASK_HEIGHT = 144  # pixels high of the copy that is segmented
PICTURE_HEIGHT = 432  # pixels high of the composed picture (the painter scales it to its own size)
MIN_PRESENCE = 0.05  # below this nobody is there: no segmentation is run
MIN_PERSON_AREA = 0.01  # share of the frame the mask must cover to count as a person
MASK_EDGE = (0.3, 0.7)  # the soft mask is sharpened by a smoothstep between these values
ENCODE_SIDE = 96  # the cut-out is encoded from a square this big
DRIFT_PACE_PRESENT = 0.2  # the picture behind wanders at this share of its pace while someone is there


def smoothstep(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Returns 0 below ``low``, 1 above ``high``, a smooth S-curve between (in place on x)."""
    np.subtract(x, low, out=x)
    np.multiply(x, 1.0 / (high - low), out=x)
    np.clip(x, 0.0, 1.0, out=x)
    x *= x * (3.0 - 2.0 * x)
    return x


def cover(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` scaled to fill ``size`` (width, height), its centre cropped to that shape."""
    width, height = size
    scale = max(width / image.shape[1], height / image.shape[0])
    scaled = cv2.resize(image, (max(width, round(image.shape[1] * scale)), max(height, round(image.shape[0] * scale))),
                        interpolation=cv2.INTER_CUBIC)
    top, left = (scaled.shape[0] - height) // 2, (scaled.shape[1] - width) // 2
    return scaled[top:top + height, left:left + width]


class StyleMirrorScene(Scene):
    name = "style_mirror"
    MODEL = None  # the configured generator: the CPPN's fields paint well; a VAE also lends its encoder
    PARAMETERS = (
        ParamSpec("blend", 0.0, 1.0, 1.0, "how opaque the visitor is over the picture"),
        ParamSpec("feather", 0.0, 0.1, 0.01, "softness of the silhouette's edge, in picture heights"),
        ParamSpec("style_theme", -1.0, 15.0, -1.0, "theme index of a conditional model (wraps); -1 = all themes blended"),
        ParamSpec("follow", 0.0, 1.0, 0.4, "how far the picture behind leans toward the visitor's encoding"),
        ParamSpec("morph_s", 0.05, 10.0, 1.0, "time constant of the picture's glide, seconds"),
        ParamSpec("drift", 0.0, 2.0, 0.4, "size of the picture's slow wander (latent units)"),
        paint_param(1.0),
    )

    def setup(self, latent_dim: int, seed: int, tools: SceneTools | None = None) -> None:
        self.close()  # set up again (a new seed): release the previous graph first
        self.tools = tools
        self._drift = LatentDrift(latent_dim, seed + 41, 1.0, min_hz=0.005, max_hz=0.03)
        self.z = (self.params["drift"] * self._drift.at(0.0)).astype(np.float32)
        self._drift_t: float | None = None  # the wander's own clock: slower while someone is there
        self.visitor_z: np.ndarray | None = None  # the latent of the visitor's cut-out
        try:
            self.segmenter: PersonMask | None = PersonMask(MASK_HEIGHT, whole_frame=True)
        except SegmentationUnavailable as error:
            log.warning("style mirror runs without a silhouette: %s", error)
            self.segmenter = None
        self.alpha: np.ndarray | None = None  # (h, w) blend weight of the visitor at the mask's size, 0..1
        self.visitor_rgb: np.ndarray | None = None  # (H, W, 3) the camera frame at the picture's size
        self.visible = False  # a silhouette is to be blended this frame
        self._frame_index: int | None = None
        self._picture_size = (round(PICTURE_HEIGHT * 16 / 9), PICTURE_HEIGHT)  # (W, H) until a frame says otherwise

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
        if inputs.frame is not None:
            height, width = inputs.frame.image_bgr.shape[:2]
            self._picture_size = (max(1, round(PICTURE_HEIGHT * width / height)), PICTURE_HEIGHT)
        if not present or self.segmenter is None:
            self.visible, self.visitor_z = False, None
        elif inputs.frame.index != self._frame_index:  # a live loop may run ahead of the camera
            self._frame_index = inputs.frame.index
            self._cut_out(inputs.frame.image_bgr)
        drift = self.params["drift"] * self._drift.at(self._wander(inputs))
        target = drift
        if self.visitor_z is not None:
            lean = self.params["follow"] * min(inputs.features.presence, 1.0)
            target = (1.0 - lean) * drift + lean * self.visitor_z
        ease = 1.0 - math.exp(-max(inputs.dt, 0.0) / self.params["morph_s"])
        self.z = (self.z + ease * (target - self.z)).astype(np.float32)
        return LatentState(self.z.copy(), {**self._theme_params(), "visitor": float(self.visible)})

    def _wander(self, inputs: SceneInputs) -> float:
        """The picture behind's own time: it hushes while a visitor stands in front (they are the subject)."""
        if self._drift_t is None:
            self._drift_t = inputs.t
        presence = min(max(inputs.features.presence, 0.0), 1.0)
        self._drift_t += max(inputs.dt, 0.0) * (1.0 - (1.0 - DRIFT_PACE_PRESENT) * presence)
        return self._drift_t

    def _cut_out(self, image_bgr: np.ndarray) -> None:
        """Segment the frame; keep the soft silhouette, the frame at the picture's size, and the
        cut-out's encoding (what the picture behind leans toward)."""
        mask = self.segmenter.update(image_bgr)
        self.visible = float((mask > 0.5).mean()) >= MIN_PERSON_AREA
        if not self.visible:
            self.visitor_z = None
            return
        alpha = smoothstep(mask.copy(), *MASK_EDGE)
        sigma = self.params["feather"] * MASK_HEIGHT
        if sigma > 0.0:
            cv2.GaussianBlur(alpha, (0, 0), sigma, dst=alpha)
        self.alpha = alpha
        self.visitor_rgb = cv2.cvtColor(cv2.resize(image_bgr, self._picture_size, interpolation=cv2.INTER_AREA),
                                        cv2.COLOR_BGR2RGB)
        self.visitor_z = self._encode(alpha)

    def _encode(self, alpha: np.ndarray) -> np.ndarray | None:
        """The VAE's latent of the cut-out on white (the training art is composited on white)."""
        tools = self.tools
        box = self.segmenter.person_box()
        if tools is None or tools.encode is None or box is None:
            return None
        left, top, side = box
        rgb = self.segmenter.rgb[top:top + side, left:left + side].astype(np.float32)
        weight = alpha[top:top + side, left:left + side, None]
        on_white = (rgb * weight + 255.0 * (1.0 - weight)).astype(np.uint8)
        small = cv2.resize(on_white, (ENCODE_SIDE, ENCODE_SIDE), interpolation=cv2.INTER_AREA)
        return np.asarray(tools.encode(small), np.float32)

    def compose(self, image: np.ndarray, inputs: SceneInputs) -> np.ndarray:
        """The generated ``image`` scaled to cover the camera frame's shape, with the visitor laid
        over it through the silhouette: (PICTURE_HEIGHT, W, 3) uint8, for the painter to paint."""
        picture = cover(image, self._picture_size)
        if not self.visible or self.params["blend"] <= 0.0 or self.visitor_rgb is None:
            return np.ascontiguousarray(picture)
        width, height = self._picture_size
        if self.visitor_rgb.shape[:2] != (height, width):  # the camera changed shape since the cut-out
            return np.ascontiguousarray(picture)
        alpha = cv2.resize(self.alpha, (width, height), interpolation=cv2.INTER_LINEAR)[..., None]
        alpha *= self.params["blend"]
        blended = picture + alpha * (self.visitor_rgb.astype(np.float32) - picture) + 0.5  # + 0.5: the cast truncates
        return blended.astype(np.uint8)


SCENE = StyleMirrorScene
