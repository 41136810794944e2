"""Body latent: the visitor's body steers the picture through latent space.

Each body feature (hand heights, spread, lean, openness, pinch, position, energy...) pushes the
latent along its own direction through a spring-damper; with nobody there the picture drifts on
its own, and it glides back to the visitor's pose when someone steps in.
"""

from __future__ import annotations

import numpy as np

from installation.contracts import LatentState
from installation.features import FEATURE_SPECS
from installation.mapping import FeatureLatentMapping
from scenes.base import ParamSpec, Scene, SceneInputs

# presence blends drift and body, so it is not itself a direction
_STEERING = tuple(spec for spec in FEATURE_SPECS if spec.name != "presence")


class BodyLatentScene(Scene):
    name = "body_latent"
    PARAMETERS = (
        ParamSpec("gain", 0.0, 4.0, 1.2, "how far the body pushes the latent (latent units at full feature)"),
        ParamSpec("drift_when_present", 0.0, 1.0, 0.35, "share of the autonomous drift kept while someone is there"),
    )

    def setup(self, latent_dim: int, seed: int) -> None:
        lows = np.array([spec.low for spec in _STEERING])
        highs = np.array([spec.high for spec in _STEERING])
        self.mapping = FeatureLatentMapping(latent_dim, lows, highs, seed, drift_amplitude=1.0)
        self._names = [spec.name for spec in _STEERING]

    def update(self, inputs: SceneInputs) -> LatentState:
        values = inputs.features.as_dict()
        vector = np.array([values[name] for name in self._names], np.float64)
        self.mapping.gain = self.params["gain"]
        self.mapping.drift_when_present = self.params["drift_when_present"]
        z = self.mapping.step(vector, inputs.features.presence, inputs.t, inputs.dt)
        return LatentState(z, {"presence": inputs.features.presence, "energy": inputs.features.motion_energy})


SCENE = BodyLatentScene
