"""Body latent: the visitor's body steers the picture through latent space.

Each body feature (hand heights, spread, lean, openness, pinch, position, energy...) pushes the
latent along its own direction through a spring-damper; with nobody there the picture drifts on
its own, and it glides back to the visitor's pose when someone steps in. The directions are the
model's meaningful ones (GANSpace components, most visible first: see models/latent_tools.py), so
raising a hand changes something one can see; ``meaningful_directions`` 0 uses random ones.
Values from outside models (Wekinator's ``/wek/outputs``, then the outputs of mappings taught by
demonstration, 0..1 each) push along directions of their own.
"""

from __future__ import annotations

import math

import numpy as np

from installation.contracts import LatentState
from installation.feature_specs import FEATURE_SPECS
from installation.mapping import FeatureDirections, FeatureLatentMapping
from installation.painting.painter import STYLE_POSITION
from scenes.base import ParamSpec, Scene, SceneInputs, SceneTools, paint_param

# presence blends drift and body, so it is not itself a direction
_STEERING = tuple(spec for spec in FEATURE_SPECS if spec.name != "presence")
# who gets the most visible directions: deliberate movements first, then where one stands (which
# barely changes while someone stands still), the small hand details last (they jitter most)
DIRECTION_PRIORITY = ("left_hand_height", "right_hand_height", "hands_spread", "lean", "motion_energy",
                      "left_hand_x", "right_hand_x", "left_hand_y", "right_hand_y", "body_x", "body_y",
                      "body_size", "left_hand_openness", "right_hand_openness", "left_pinch", "right_pinch")
MAX_EXTERNAL = 64  # outside values (/wek/outputs, then taught mappings' outputs) a scene listens to


class BodyLatentScene(Scene):
    name = "body_latent"
    PARAMETERS = (
        ParamSpec("gain", 0.0, 4.0, 1.2, "how far the body pushes the latent (latent units at full feature)"),
        ParamSpec("drift_when_present", 0.0, 1.0, 0.35, "share of the autonomous drift kept while someone is there"),
        ParamSpec("external_gain", 0.0, 4.0, 1.0, "how far each outside value (/wek/outputs) pushes the latent"),
        paint_param(1.0),
        ParamSpec("style_walk", 0.0, 8.0, 0.0, "painted: walking across the picture glides through this many "
                  "styles of paint.styles (0 = the style set by config or /style/*)"),
        ParamSpec("meaningful_directions", 0.0, 1.0, 1.0, "1 = the body moves along the model's meaningful "
                  "(GANSpace) directions, 0 = along random ones; read when the scene is built"),
    )

    def setup(self, latent_dim: int, seed: int, tools: SceneTools | None = None) -> None:
        lows = np.array([spec.low for spec in _STEERING])
        highs = np.array([spec.high for spec in _STEERING])
        self.mapping = FeatureLatentMapping(latent_dim, lows, highs, seed, drift_amplitude=1.0)
        self._names = [spec.name for spec in _STEERING]
        if self.params["meaningful_directions"] >= 0.5 and tools is not None and tools.directions is not None:
            order = [self._names.index(name) for name in DIRECTION_PRIORITY if name in self._names]
            self.mapping.directions.use_directions(tools.directions(len(order)), order)
        self.external = FeatureDirections(np.zeros(MAX_EXTERNAL), np.ones(MAX_EXTERNAL), latent_dim, seed + 7)
        self.style_position = 0.0

    def update(self, inputs: SceneInputs) -> LatentState:
        values = inputs.features.as_dict()
        vector = np.array([values[name] for name in self._names], np.float64)
        self.mapping.gain = self.params["gain"]
        self.mapping.drift_when_present = self.params["drift_when_present"]
        z = self.mapping.step(vector, inputs.features.presence, inputs.t, inputs.dt, self._external_offset(inputs))
        params = {"presence": inputs.features.presence, "energy": inputs.features.motion_energy}
        if self.params["style_walk"] > 0.0:
            params[STYLE_POSITION] = self._style_position(inputs)
        return LatentState(z, params)

    def _style_position(self, inputs: SceneInputs) -> float:
        """Where the visitor stands, left to right, as a point along the styles (eased over about a
        second, so a step sideways glides); back to the first style when nobody is there."""
        features = inputs.features
        across = (features.body_x + 1.0) / 2.0 if features.presence >= 0.5 else 0.0
        target = self.params["style_walk"] * min(max(across, 0.0), 1.0)
        ease = 1.0 - math.exp(-max(inputs.dt, 0.0) / 1.0)
        self.style_position += ease * (target - self.style_position)
        return self.style_position

    def _external_offset(self, inputs: SceneInputs) -> np.ndarray | None:
        outside = inputs.outside_values()
        if not outside:
            return None
        values = np.full(MAX_EXTERNAL, 0.5)  # the middle of 0..1 pushes nothing
        count = min(len(outside), MAX_EXTERNAL)
        values[:count] = outside[:count]
        return self.params["external_gain"] * self.external.offset(values)


SCENE = BodyLatentScene
