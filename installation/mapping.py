"""Features -> latent: fixed feature directions, a slow drift, and a spring-damper.

The building blocks a scene uses to own its mapping. The default (``FeatureLatentMapping``) maps
each feature onto a fixed random direction of latent space, blends toward a slow autonomous drift
as the visitor's presence fades, and moves the latent toward that target through a critically
damped spring, so the picture glides and never jumps, whatever the features do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SpringSettings:
    stiffness: float = 9.0  # 1/s², natural angular frequency sqrt(k) ≈ 3 rad/s
    damping_ratio: float = 1.0  # 1 = critically damped: fastest approach without overshoot
    max_substep_s: float = 1.0 / 120.0  # long frames are integrated in small steps, stably


class LatentSpring:
    """A latent point on a damped spring. ``step(target, dt)`` returns the new position (D,)."""

    def __init__(self, dim: int, settings: SpringSettings = SpringSettings()) -> None:
        self.settings = settings
        self.position = np.zeros(dim, np.float64)
        self.velocity = np.zeros(dim, np.float64)
        self._damping = 2.0 * settings.damping_ratio * np.sqrt(settings.stiffness)

    def reset(self, position: np.ndarray) -> None:
        self.position = np.asarray(position, np.float64).copy()
        self.velocity[:] = 0.0

    def step(self, target: np.ndarray, dt: float) -> np.ndarray:
        if dt <= 0.0:
            return self.position.astype(np.float32)
        substeps = max(1, int(np.ceil(dt / self.settings.max_substep_s)))
        h = dt / substeps
        for _ in range(substeps):  # semi-implicit Euler: stable for h * sqrt(k) < 2
            accel = self.settings.stiffness * (target - self.position) - self._damping * self.velocity
            self.velocity += h * accel
            self.position += h * self.velocity
        return self.position.astype(np.float32)


class LatentDrift:
    """A slow, smooth, endless wander through latent space, a pure function of time.

    Each dimension is a sum of three sinusoids with incommensurate periods between
    ``1 / max_hz`` and ``1 / min_hz`` seconds, so the path never visibly repeats. ``amplitude``
    is each dimension's spread over time (its RMS): 1 wanders as widely as the N(0, I) latents
    a GAN or VAE was trained on. (It was once 0.71 of that, which left the GAN's pictures near
    its average picture.)
    """

    def __init__(self, dim: int, seed: int, amplitude: float = 1.0, min_hz: float = 0.01, max_hz: float = 0.06) -> None:
        rng = np.random.default_rng(seed)
        self._freq = rng.uniform(min_hz, max_hz, size=(dim, 3)) * 2.0 * np.pi  # (D, 3) rad/s
        self._phase = rng.uniform(0.0, 2.0 * np.pi, size=(dim, 3))  # (D, 3)
        self._amplitude = amplitude / np.sqrt(1.5)  # three sinusoids of variance 1/2 each

    def at(self, t: float) -> np.ndarray:
        return self._amplitude * np.sin(self._freq * t + self._phase).sum(axis=1)  # (D,)


class FeatureDirections:
    """Each feature pushes the latent along its own fixed, seeded direction.

    A feature at the middle of its range pushes nothing; at either end it pushes by ``gain``.
    """

    def __init__(self, lows: np.ndarray, highs: np.ndarray, dim: int, seed: int, gain: float = 1.0) -> None:
        rng = np.random.default_rng(seed + 1)
        directions = rng.standard_normal((dim, len(lows)))  # (D, F)
        self.matrix = gain * directions / np.linalg.norm(directions, axis=0, keepdims=True)
        self._centre = (np.asarray(highs) + np.asarray(lows)) / 2.0  # (F,)
        self._half = np.maximum((np.asarray(highs) - np.asarray(lows)) / 2.0, 1e-9)  # (F,)

    def use_directions(self, directions: np.ndarray, features: list[int] | None = None) -> None:
        """Push features along these unit directions (K, D) instead of random ones (a model's
        meaningful directions, most visible first): direction k goes to feature ``features[k]``
        (default: feature k); features left over keep their own."""
        features = list(range(self.matrix.shape[1])) if features is None else features
        count = min(directions.shape[0], len(features))
        columns = features[:count]
        gain = np.linalg.norm(self.matrix[:, columns], axis=0, keepdims=True)  # (1, K) keep each column's length
        unit = directions[:count].T / np.maximum(np.linalg.norm(directions[:count].T, axis=0, keepdims=True), 1e-12)
        self.matrix[:, columns] = unit * gain

    def offset(self, values: np.ndarray) -> np.ndarray:
        unit = np.clip((values - self._centre) / self._half, -1.0, 1.0)  # (F,) in [-1, 1]
        return self.matrix @ unit  # (D,)


class FeatureLatentMapping:
    """The default mapping: body features along fixed directions, drift when nobody is there."""

    def __init__(
        self,
        dim: int,
        lows: np.ndarray,
        highs: np.ndarray,
        seed: int,
        gain: float = 1.0,
        drift_amplitude: float = 1.0,
        drift_when_present: float = 0.35,
        spring: SpringSettings = SpringSettings(),
    ) -> None:
        self.directions = FeatureDirections(lows, highs, dim, seed, 1.0)
        self.gain = gain  # how far a feature at either end of its range pushes (latent units)
        self.drift = LatentDrift(dim, seed, drift_amplitude)
        self.spring = LatentSpring(dim, spring)
        self.spring.reset(self.drift.at(0.0))
        self.drift_when_present = drift_when_present

    def target(self, values: np.ndarray, presence: float, t: float) -> np.ndarray:
        """Where the latent heads: the drift, plus the body's push scaled by its presence."""
        drift_share = 1.0 - presence * (1.0 - self.drift_when_present)
        return drift_share * self.drift.at(t) + presence * self.gain * self.directions.offset(values)

    def step(self, values: np.ndarray, presence: float, t: float, dt: float,
             offset: np.ndarray | None = None) -> np.ndarray:
        """Advance the spring toward the target (plus ``offset``, e.g. from an outside model);
        returns the latent (D,) float32."""
        target = self.target(values, float(np.clip(presence, 0.0, 1.0)), t)
        if offset is not None:
            target = target + offset
        return self.spring.step(target, dt)
