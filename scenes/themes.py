"""Themes: the visitor picks a theme of a theme-conditioned model, and their body explores it.

What the visitor sees and does: the picture is drawn by a conditional GAN (``gan_art64``:
themes "emoji" and "openclipart"). A swipe to the left or up, or a thumbs-up, moves to the next
theme; a swipe to the right or down goes back (the visitor's own left and right). After a change,
theme gestures rest for ``gesture_rest_s``: a thumbs-up held a little long, which the recogniser
may report as ending and starting again, moves one theme, not two. Within a
theme the body steers the latent exactly as in Body latent (``scenes/body_latent.py``, which
this scene extends: features along fixed directions, a spring, a drift when nobody is there).
A performer sets the theme over OSC: ``/scene/param theme 1``.

A theme change cross-fades in pixels over ``theme_fade_s``: the model takes one integer theme
per frame (``LatentState.params["theme"]``), so during the fade ``compose`` renders the same
latent once more in the old theme and blends the two, an extra render per frame while it lasts.
Without tools (no extra render) the theme switches at once.
"""

from __future__ import annotations

import logging

import numpy as np

from installation.contracts import LatentState
from installation.generator import THEME_PARAM
from installation.scene_kit.blend import blend_pixels, smoothstep
from scenes.base import ParamSpec, SceneInputs, SceneTools, paint_param
from scenes.body_latent import BodyLatentScene

log = logging.getLogger(__name__)

MAX_THEMES = 16
NEXT_GESTURES = ("swipe_left", "swipe_up", "thumbs_up")  # installation.gestures names
PREVIOUS_GESTURES = ("swipe_right", "swipe_down")


class ThemesScene(BodyLatentScene):
    name = "themes"
    MODEL = "gan_art64"
    WHOLE_PICTURE = True  # an emoji or a clip-art drawing: its top and bottom matter
    PARAMETERS = tuple(p for p in BodyLatentScene.PARAMETERS if p.name != "paint") + (
        paint_param(0.0),  # the GAN's own pictures, as trained
        ParamSpec("theme", 0.0, MAX_THEMES - 1, 0.0,
                  "index of the model's theme (rounded; wraps around its theme count): gan_art64 0 emoji, 1 openclipart"),
        ParamSpec("theme_fade_s", 0.0, 10.0, 1.5, "length of the cross-fade when the theme changes, seconds"),
        ParamSpec("gestures", 0.0, 1.0, 1.0, "1 = swipes and thumbs-up change the theme, 0 = only OSC / config"),
        ParamSpec("gesture_rest_s", 0.0, 10.0, 2.0, "after a gesture changed the theme, theme gestures are ignored "
                  "this long, seconds"),
    )

    def setup(self, latent_dim: int, seed: int, tools: SceneTools | None = None) -> None:
        super().setup(latent_dim, seed, tools)
        self.tools = tools
        self.theme_count = len(tools.themes) if tools is not None and tools.themes else 0
        self.theme = self._wrapped(self.params["theme"])  # the theme being shown
        self.fading_from: int | None = None  # the previous theme while a cross-fade lasts
        self._fade_start_t = 0.0
        self._fade = 1.0  # 0 at a change, 1 once the new theme shows alone
        self._z = np.zeros(latent_dim, np.float32)
        self._gesture_rest_until = -np.inf  # media time before which theme gestures are ignored

    def _wrapped(self, value: float) -> int:
        index = int(round(value))
        return index % self.theme_count if self.theme_count else index

    def update(self, inputs: SceneInputs) -> LatentState:
        if self.params["gestures"] >= 0.5:
            self._theme_gestures(inputs)
        wanted = self._wrapped(self.params["theme"])
        if wanted != self.theme:
            log.info("themes: theme %s -> %s", self._label(self.theme), self._label(wanted))
            self.fading_from, self.theme, self._fade_start_t = self.theme, wanted, inputs.t
        self._advance_fade(inputs.t)
        state = super().update(inputs)
        self._z = state.z
        return LatentState(state.z, {**state.params, THEME_PARAM: float(self.theme), "theme_fade": self._fade})

    def _theme_gestures(self, inputs: SceneInputs) -> None:
        """A started swipe or thumbs-up moves the ``theme`` parameter on or back by one: one step a
        frame at most (both hands swiping up together is one swipe, not two that cancel out)."""
        steps = [1 if event.name in NEXT_GESTURES else -1 if event.name in PREVIOUS_GESTURES else 0
                 for event in inputs.gestures if event.phase.value == "start"]
        step = int(np.sign(sum(steps)))
        if step and inputs.t < self._gesture_rest_until:
            log.debug("themes: a theme gesture %.2f s after the last change, ignored", inputs.t - self._fade_start_t)
            return
        if step:
            self._gesture_rest_until = inputs.t + self.params["gesture_rest_s"]
            count = self.theme_count or MAX_THEMES
            self.params["theme"] = float((self._wrapped(self.params["theme"]) + step) % count)

    def _advance_fade(self, t: float) -> None:
        length = self.params["theme_fade_s"]
        self._fade = 1.0 if self.fading_from is None or length <= 0.0 else min(1.0, (t - self._fade_start_t) / length)
        if self._fade >= 1.0:
            self.fading_from = None

    def _label(self, index: int) -> str:
        themes = self.tools.themes if self.tools is not None else ()
        return themes[index] if 0 <= index < len(themes) else str(index)

    def compose(self, image: np.ndarray, inputs: SceneInputs) -> np.ndarray:
        """During a theme change, the same latent in the old theme, fading out; else ``image``."""
        if self.fading_from is None or self.tools is None or self.tools.render is None:
            return image
        old = self.tools.render(LatentState(self._z, {THEME_PARAM: float(self.fading_from)}))  # one extra render
        return blend_pixels(old, image, smoothstep(self._fade))


SCENE = ThemesScene
