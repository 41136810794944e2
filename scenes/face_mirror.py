"""Face mirror: a close-range portrait piece that answers the visitor's face.

Reads the face with MediaPipe FaceMesh (installation/faces.py): a show with this scene turns
``perception.faces`` on by itself. Each expression pushes the
latent along its own direction: opening the mouth, smiling, raising the brows, closing the eyes
and turning, nodding or tilting the head each change the picture in their own way, through a
spring so that a blink does not jolt it. With no face read, the picture drifts slowly on its own
and glides back to the face when one is found. The picture's brightness breathes with the smile
(``glow``), so even a model whose directions are subtle visibly answers.
"""

from __future__ import annotations

import math

import numpy as np

from installation.contracts import LatentState
from installation.faces import FaceReading
from scenes.base import ParamSpec, Scene, SceneInputs, SceneTools, paint_param

# the expressions that steer, each as 0..1 (angles scaled by STEERING_ANGLE_DEG, kept signed)
EXPRESSIONS = ("mouth_open", "smile", "brows_raised", "eyes_closed", "yaw", "pitch", "roll")
STEERING_ANGLE_DEG = 30.0  # a 30-degree head turn steers as far as a wide-open mouth


def expression_vector(face: FaceReading) -> np.ndarray:
    """(len(EXPRESSIONS),) the face's expressions; zeros when no face is read."""
    if not face.found:
        return np.zeros(len(EXPRESSIONS))
    angles = np.clip(np.array([face.yaw, face.pitch, face.roll]) / STEERING_ANGLE_DEG, -1.0, 1.0)
    return np.concatenate([[face.mouth_open, face.smile, face.brows_raised, 1.0 - face.eyes_open], angles])


class FaceMirrorScene(Scene):
    name = "face_mirror"
    NEEDS_FACES = True
    PARAMETERS = (
        ParamSpec("gain", 0.0, 4.0, 1.6, "how far a full expression pushes the latent (latent units)"),
        ParamSpec("response_s", 0.02, 5.0, 0.25, "how quickly the picture follows the face (spring time)"),
        ParamSpec("drift_s", 1.0, 600.0, 40.0, "with no face: seconds for one slow turn of the drift"),
        ParamSpec("glow", 0.0, 1.0, 0.5, "how much a smile brightens the picture (the 'glow' render parameter)"),
        paint_param(1.0),
    )

    def setup(self, latent_dim: int, seed: int, tools: SceneTools | None = None) -> None:
        rng = np.random.default_rng(seed + 21)
        directions = tools.directions(len(EXPRESSIONS)) if tools is not None and tools.directions is not None else None
        if directions is None or len(directions) < len(EXPRESSIONS):
            directions = rng.standard_normal((len(EXPRESSIONS), latent_dim))
            directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        self.directions = np.asarray(directions, np.float64)  # (E, D), unit rows
        self.home = rng.standard_normal(latent_dim)  # (D,) where the portrait rests
        self.drift_axes = rng.standard_normal((2, latent_dim))  # (2, D): a slow circle around home
        self.expression = np.zeros(len(EXPRESSIONS))  # (E,) the spring's position
        self.presence = 0.0  # 0..1: how much the face steers (glides in and out)
        self.glow = 0.0  # this frame's brightening, from update to compose

    def update(self, inputs: SceneInputs) -> LatentState:
        face = inputs.face
        follow = 1.0 - math.exp(-max(0.0, inputs.dt) / self.params["response_s"])  # spring step, frame-rate free
        self.expression += follow * (expression_vector(face) - self.expression)
        self.presence += follow * (float(face.found) - self.presence)
        angle = 2.0 * math.pi * inputs.t / self.params["drift_s"]
        drift = 0.6 * (math.cos(angle) * self.drift_axes[0] + math.sin(angle) * self.drift_axes[1])
        steer = self.params["gain"] * self.expression @ self.directions  # (D,)
        z = self.home + (1.0 - 0.7 * self.presence) * drift + self.presence * steer
        self.glow = self.params["glow"] * self.presence * self.expression[EXPRESSIONS.index("smile")]
        return LatentState(z.astype(np.float32), {"face": self.presence})

    def compose(self, image: np.ndarray, inputs: SceneInputs) -> np.ndarray:
        """The model's picture, brightened by the smile: visible whatever the model's directions."""
        if self.glow <= 0.0:
            return image
        return np.clip(image.astype(np.float32) * (1.0 + 0.6 * self.glow) + 40.0 * self.glow, 0, 255).astype(np.uint8)


SCENE = FaceMirrorScene
