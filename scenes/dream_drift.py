"""Dream drift: an autonomous walk through latent anchors that pulses with the beat.

Generative art with nobody needed: the latent glides along great circles between seeded anchor
points, one anchor every ``seconds_per_anchor``; when a tempo is known (OSC ``/tempo`` and
``/beat``), each beat gives the picture a short swell along its own direction. As the default
attract mode it answers a passer-by: the dream quickens with the motion it sees
(``motion_speedup``), and settles back to its own pace when they are still or gone.

With audio in ([audio] on) it listens too: the music's loudness quickens the glide
(``audio_speedup``) and every onset heard (a kick, a chord's attack) kicks the picture along a
second direction (``audio_pulse``), fading over a quarter of a second.
"""

from __future__ import annotations

import math

import numpy as np

from installation.contracts import LatentState
from installation.painting.painter import STYLE_POSITION
from installation.scene_kit.blend import smoothstep
from scenes.base import ParamSpec, Scene, SceneInputs, SceneTools, paint_param

ANCHORS = 12
ONSET_FADE_S = 0.25  # an onset's kick falls to 1/e in this long


def slerp(a: np.ndarray, b: np.ndarray, amount: float) -> np.ndarray:
    """Spherical interpolation between two latents: keeps the norm a Gaussian latent expects."""
    cos_angle = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
    angle = math.acos(max(-1.0, min(1.0, cos_angle)))
    if angle < 1e-6:
        return (1.0 - amount) * a + amount * b
    return (math.sin((1.0 - amount) * angle) * a + math.sin(amount * angle) * b) / math.sin(angle)


class DreamDriftScene(Scene):
    name = "dream_drift"
    PARAMETERS = (
        ParamSpec("seconds_per_anchor", 1.0, 120.0, 12.0, "time to glide from one anchor to the next"),
        ParamSpec("pulse", 0.0, 2.0, 0.6, "size of the swell on each beat (latent units)"),
        ParamSpec("motion_speedup", 0.0, 10.0, 4.0, "how much faster the dream glides at full motion energy"),
        ParamSpec("audio_speedup", 0.0, 10.0, 3.0, "how much faster the dream glides at full loudness ([audio] on)"),
        ParamSpec("audio_pulse", 0.0, 2.0, 0.8, "size of the kick on each onset heard ([audio] on; latent units)"),
        paint_param(1.0),
        ParamSpec("seconds_per_style", 0.0, 600.0, 30.0, "painted: time to glide from one style of paint.styles "
                  "to the next (0 = the style set by config or /style/*)"),
    )

    def setup(self, latent_dim: int, seed: int, tools: SceneTools | None = None) -> None:
        rng = np.random.default_rng(seed + 2)
        self.anchors = rng.standard_normal((ANCHORS, latent_dim))  # (A, D)
        self.pulse_direction = rng.standard_normal(latent_dim)
        self.pulse_direction /= np.linalg.norm(self.pulse_direction)
        self.onset_direction = rng.standard_normal(latent_dim)  # drawn after the others: their pictures stay
        self.onset_direction /= np.linalg.norm(self.onset_direction)
        self.onset_kick = 0.0  # the last onset's kick, fading
        self.position: float | None = None  # anchors travelled (media time at the scene's own pace)

    def update(self, inputs: SceneInputs) -> LatentState:
        if self.position is None:
            self.position = inputs.t / self.params["seconds_per_anchor"]  # the same picture for the same time
        audio = inputs.audio  # AudioFeatures, or None with [audio] off
        pace = 1.0 + self.params["motion_speedup"] * inputs.features.motion_energy * inputs.features.presence
        pace += self.params["audio_speedup"] * (audio.level if audio is not None else 0.0)
        self.position += max(0.0, inputs.dt) * pace / self.params["seconds_per_anchor"]
        position = self.position
        index, amount = int(position) % ANCHORS, position - math.floor(position)
        eased = smoothstep(amount)  # no kink at the anchors
        z = slerp(self.anchors[index], self.anchors[(index + 1) % ANCHORS], eased)
        swell = 0.0
        if inputs.beat_phase is not None:
            swell = math.exp(-6.0 * inputs.beat_phase)  # 1 on the beat, decaying before the next
            z = z + self.params["pulse"] * swell * self.pulse_direction
        self.onset_kick *= math.exp(-max(0.0, inputs.dt) / ONSET_FADE_S)
        if audio is not None and audio.onset:
            self.onset_kick = max(self.onset_kick, audio.onset_strength)
        z = z + self.params["audio_pulse"] * self.onset_kick * self.onset_direction
        params = {"swell": max(swell, self.onset_kick)}
        if self.params["seconds_per_style"] > 0.0:  # the painting glides through the styles with media time
            params[STYLE_POSITION] = inputs.t / self.params["seconds_per_style"]
        return LatentState(z.astype(np.float32), params)


SCENE = DreamDriftScene
