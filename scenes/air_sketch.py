"""Air sketch: draw in the air, and the model completes the picture.

What the visitor sees and does: pinching thumb and index finger together puts the "pen" down;
the index fingertip then draws dark lines on a white sheet (the kind of picture the VAE learned
from), shown faintly over the picture with a small ring where the fingertip is (filled while
drawing). The model turns the sketch into a finished work of its training art: a diffusion model
(``diffusion_art64``) refines the sketch itself (image to image, ``refine`` says how far it may
stray from the lines), a VAE encodes it and shows the artwork its latent implies; either way the
picture morphs as the sketch grows. Holding an open palm up for a moment clears the sheet. With an
empty sheet the picture drifts gently on its own.

Without a model that refines or encodes (``tools`` None, or the CPPN), where the ink sits (centroid,
spread, coverage) pushes the latent along fixed directions
instead. The camera's centred square is the sheet (``installation.scene_kit.geometry``).
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from installation.contracts import HandLandmark, LatentState, Side
from installation.mapping import FeatureDirections, LatentDrift
from installation.scene_kit.canvas import INK_RGB, StrokeCanvas
from installation.scene_kit.geometry import CentreSquare
from scenes.base import ParamSpec, Scene, SceneInputs, SceneTools, paint_param, refine_param

log = logging.getLogger(__name__)

CANVAS_SIZE = 256  # pixels: finer than the 64 px model, which reads it through area averaging
PINCH_RELEASE_GAP = 0.25  # the pen lifts once the pinch falls this far below pinch_threshold (hysteresis)
MIN_HAND_PRESENCE = 0.5  # a hand held after a drop-out still draws; a fading one does not
OPEN_PALM = "open_palm"  # the gesture (installation.gestures) that clears the sheet
OPEN_PALM_OPENNESS = 0.95  # without gesture events: a hand this open and not pinching is an open palm
# Ink statistics (InkStats order) and their ranges, for the encoder-less fallback
INK_LOWS = np.array([-1.0, -1.0, 0.0, 0.0, 0.0])
INK_HIGHS = np.array([1.0, 1.0, 1.0, 1.0, 0.2])
CURSOR_RADIUS = 0.03  # picture sides
PICTURE_SIDE = 432  # pixels: the composed picture at least this big, for the painter


class AirSketchScene(Scene):
    name = "air_sketch"
    MODEL = "diffusion_art64"  # refines the sketch itself; a copy with "vae_art64" encodes it instead
    WHOLE_PICTURE = True  # the visitor's whole sheet, not the middle of it
    PARAMETERS = (
        ParamSpec("pinch_threshold", 0.3, 1.0, 0.6, "pinch feature (0..1) at which the pen goes down"),
        ParamSpec("stroke_width", 0.005, 0.1, 0.025, "line width, in sheet widths"),
        ParamSpec("smoothing_s", 0.0, 0.5, 0.05, "time constant smoothing the fingertip's path, seconds"),
        ParamSpec("encodes_per_s", 0.5, 30.0, 4.0, "how often a changed sketch is re-encoded, at most"),
        ParamSpec("morph_s", 0.05, 5.0, 0.5, "time constant of the picture's morph toward the sketch's artwork"),
        ParamSpec("clear_hold_s", 0.0, 3.0, 0.6, "how long an open palm must be held to clear the sheet"),
        ParamSpec("sketch_opacity", 0.0, 1.0, 0.6, "how strongly the drawn lines show over the picture"),
        ParamSpec("drift", 0.0, 2.0, 0.7, "size of the gentle wander while the sheet is empty (latent units)"),
        ParamSpec("fallback_gain", 0.0, 4.0, 2.0, "without an encoder: how far the ink's placement pushes the latent"),
        refine_param(0.5),
        paint_param(1.0),
    )

    def setup(self, latent_dim: int, seed: int, tools: SceneTools | None = None) -> None:
        self.tools = tools
        self.canvas = StrokeCanvas(CANVAS_SIZE)
        self._drift = LatentDrift(latent_dim, seed + 31, 1.0)
        self._ink_directions = FeatureDirections(INK_LOWS, INK_HIGHS, latent_dim, seed + 37)
        self.z = (self.params["drift"] * self._drift.at(0.0)).astype(np.float32)
        self._sketch_z: np.ndarray | None = None  # the latent the sketch implies, None = empty sheet
        self._source: np.ndarray | None = None  # the sheet at the model's size, for a model that refines
        self._held_z: np.ndarray | None = None  # the noise the sketch is refined with, while there is ink
        self._encoded_version = self.canvas.version
        self._last_encode_t = -math.inf
        self._pen: tuple[float, float] | None = None  # smoothed fingertip on the sheet, while drawing
        self._pen_side: Side | None = None
        self.cursor: tuple[float, float] | None = None  # fingertip on the sheet (0..1), None = no hand
        self._palm_since: float | None = None  # media time the open palm was first seen
        self._palm_gesture = False  # the recogniser's open_palm is between its start and end
        self._palm_cleared = False  # this palm already cleared the sheet
        self._square: CentreSquare | None = None
        self._overlay: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # picture size -> buffers

    @property
    def drawing(self) -> bool:
        """Returns True while the pen is down."""
        return self._pen is not None

    def update(self, inputs: SceneInputs) -> LatentState:
        if inputs.frame is not None:
            self._square = CentreSquare.of(inputs.frame.image_bgr)
        self._draw(inputs)
        self._watch_palm(inputs)
        self._refresh_sketch_latent(inputs.t)
        if self._source is not None:
            # Image to image: the noise holds still while there is ink, so the picture changes
            # only with the sketch (and the generator reuses its frame in between).
            if self._held_z is None:
                self._held_z = self.z.copy()
            target = self._held_z
        else:
            self._held_z = None
            target = self._sketch_z if self._sketch_z is not None else self.params["drift"] * self._drift.at(inputs.t)
        ease = 1.0 - math.exp(-max(inputs.dt, 0.0) / self.params["morph_s"])
        self.z = (self.z + ease * (target - self.z)).astype(np.float32)
        params = {"drawing": float(self.drawing), "refine": self.params["refine"]}
        return LatentState(self.z.copy(), params, source=self._source)

    # --- the pen ---------------------------------------------------------------------------

    def _draw(self, inputs: SceneInputs) -> None:
        """Pen down while a hand pinches, up when it lets go; the stroke follows the smoothed tip."""
        values = inputs.features.as_dict()
        side = self._pen_side or max(Side, key=lambda s: values[f"{s.value}_pinch"])
        tip = self._fingertip(inputs, side)
        self.cursor = tip
        pinch = values[f"{side.value}_pinch"]
        threshold = self.params["pinch_threshold"]
        down = tip is not None and pinch >= (threshold - PINCH_RELEASE_GAP if self.drawing else threshold)
        if not down:
            if self.drawing:
                self.canvas.end_stroke()
            self._pen, self._pen_side = None, None
            return
        if self._pen is None:
            self._pen, self._pen_side = tip, side
        else:
            keep = math.exp(-max(inputs.dt, 0.0) / self.params["smoothing_s"]) if self.params["smoothing_s"] > 0 else 0.0
            self._pen = (keep * self._pen[0] + (1 - keep) * tip[0], keep * self._pen[1] + (1 - keep) * tip[1])
        self.cursor = self._pen
        self.canvas.add_point(*self._pen, self.params["stroke_width"])

    def _fingertip(self, inputs: SceneInputs, side: Side) -> tuple[float, float] | None:
        """The index fingertip of the visitor's ``side`` hand on the sheet (0..1), or None."""
        body = inputs.body
        if body is None or body.hand_presence(side) < MIN_HAND_PRESENCE:
            return None
        hand = body.hand(side)
        if hand.shape[0] <= HandLandmark.INDEX_TIP or not np.isfinite(hand[HandLandmark.INDEX_TIP, :2]).all():
            return None
        x, y = (float(v) for v in hand[HandLandmark.INDEX_TIP, :2])
        return self._square.to_square(x, y) if self._square is not None else (x, y)

    def _watch_palm(self, inputs: SceneInputs) -> None:
        """Clear the sheet once an open palm has been held for ``clear_hold_s``."""
        if not self._palm_open(inputs):
            self._palm_since, self._palm_cleared = None, False
            return
        if self._palm_since is None:
            self._palm_since = inputs.t
        if not self._palm_cleared and inputs.t - self._palm_since >= self.params["clear_hold_s"]:
            if not self.canvas.is_empty:
                log.info("air sketch: open palm, sheet cleared")
            self.canvas.clear()
            self._pen, self._pen_side = None, None
            self._palm_cleared = True

    def _palm_open(self, inputs: SceneInputs) -> bool:
        """An open palm: the recogniser's open_palm gesture (start .. end), or a wide-open hand
        that is not pinching (so it works with gestures switched off). Never while drawing."""
        for event in inputs.gestures:
            if getattr(event, "name", None) == OPEN_PALM:
                self._palm_gesture = event.phase.value != "end"
        if self.drawing:
            return False
        f = inputs.features
        release = self.params["pinch_threshold"] - PINCH_RELEASE_GAP
        wide_open = any(getattr(f, f"{s.value}_hand_openness") >= OPEN_PALM_OPENNESS
                        and getattr(f, f"{s.value}_pinch") < release for s in Side)
        return self._palm_gesture or wide_open

    # --- sketch -> latent ------------------------------------------------------------------

    def _refresh_sketch_latent(self, t: float) -> None:
        """Re-read a changed sketch, at most ``encodes_per_s`` times a second."""
        if self.canvas.version == self._encoded_version:
            return
        if self.canvas.is_empty:
            self._sketch_z, self._source, self._encoded_version = None, None, self.canvas.version
            return
        if t - self._last_encode_t < 1.0 / self.params["encodes_per_s"]:
            return
        self._last_encode_t, self._encoded_version = t, self.canvas.version
        encode = self.tools.encode if self.tools is not None else None
        if self.tools is not None and self.tools.refines:
            # A new array each time the sheet changes: the generator redraws only then.
            R = self.tools.resolution
            self._source = cv2.resize(self.canvas.image, (R, R), interpolation=cv2.INTER_AREA)
        elif encode is not None:
            self._sketch_z = np.asarray(encode(self.canvas.image), np.float32)
        else:
            offset = self._ink_directions.offset(self.canvas.stats().as_array())
            self._sketch_z = (self.params["fallback_gain"] * offset).astype(np.float32)

    # --- picture ---------------------------------------------------------------------------

    def compose(self, image: np.ndarray, inputs: SceneInputs) -> np.ndarray:
        """The picture, at least ``PICTURE_SIDE`` pixels a side (so the lines stay sharp for the
        painter to turn into brushwork), with the sketch's lines at ``sketch_opacity`` and a ring
        at the fingertip."""
        if image.shape[0] < PICTURE_SIDE:
            image = cv2.resize(image, (PICTURE_SIDE, PICTURE_SIDE), interpolation=cv2.INTER_CUBIC)
        out = image.copy()
        height, width = image.shape[:2]
        opacity = self.params["sketch_opacity"]
        if not self.canvas.is_empty and opacity > 0.0:
            ink_small, alpha = self._overlay_buffers(height, width)
            cv2.resize(self.canvas.ink, (width, height), dst=ink_small, interpolation=cv2.INTER_AREA)
            np.multiply(ink_small, opacity / 255.0, out=alpha)
            ink = np.asarray(INK_RGB, np.float32)
            out[:] = image - alpha[..., None] * (image.astype(np.float32) - ink) + 0.5  # + 0.5: the cast truncates
        if self.cursor is not None:
            centre = (int(round(self.cursor[0] * (width - 1))), int(round(self.cursor[1] * (height - 1))))
            radius = max(2, int(round(CURSOR_RADIUS * width)))
            cv2.circle(out, centre, radius, INK_RGB, -1 if self.drawing else max(1, radius // 3), cv2.LINE_AA)
        return out

    def _overlay_buffers(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """The (H, W) uint8 ink and float32 alpha buffers for a picture size, allocated once."""
        if (height, width) not in self._overlay:
            self._overlay[(height, width)] = (np.empty((height, width), np.uint8), np.empty((height, width), np.float32))
        return self._overlay[(height, width)]


SCENE = AirSketchScene
