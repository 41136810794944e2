"""Body latent: the visitor's body steers the picture through latent space.

Each body feature (hand heights, spread, lean, openness, pinch, position, energy...) pushes the
latent along its own direction through a spring-damper; with nobody there the picture drifts on
its own, and it glides back to the visitor's pose when someone steps in.
"""

from __future__ import annotations

import numpy as np

from installation.contracts import LatentState
from installation.features import FEATURE_SPECS, Features
from installation.mapping import FeatureLatentMapping
from scenes.base import Scene

# presence blends drift and body, so it is not itself a direction
_STEERING = tuple(spec for spec in FEATURE_SPECS if spec.name != "presence")


class BodyLatentScene(Scene):
    name = "body_latent"

    def setup(self, latent_dim: int, seed: int) -> None:
        lows = np.array([spec.low for spec in _STEERING])
        highs = np.array([spec.high for spec in _STEERING])
        self.mapping = FeatureLatentMapping(latent_dim, lows, highs, seed, gain=1.2, drift_amplitude=1.0)
        self._names = [spec.name for spec in _STEERING]

    def update(self, features: Features, t: float, dt: float) -> LatentState:
        values = features.as_dict()
        vector = np.array([values[name] for name in self._names], np.float64)
        z = self.mapping.step(vector, features.presence, t, dt)
        return LatentState(z, {"presence": features.presence, "energy": features.motion_energy})


SCENE = BodyLatentScene
