"""Features -> latent: the spring never jumps, converges, and drifts alone when nobody is there."""

from __future__ import annotations

import numpy as np
import pytest

from installation.mapping import FeatureLatentMapping, LatentDrift, LatentSpring, SpringSettings


def test_spring_reaches_its_target_without_jumping():
    spring = LatentSpring(4)
    target = np.array([2.0, -1.0, 0.5, 0.0])
    previous, steps = spring.position.copy(), []
    for _ in range(300):  # 5 s at 60 fps
        z = spring.step(target, 1 / 60)
        steps.append(np.abs(z - previous).max())
        previous = z.astype(np.float64)
    assert np.allclose(previous, target, atol=1e-2)
    assert max(steps) < 0.15  # a 2-unit change spreads over many frames


def test_spring_is_stable_on_a_long_frame_and_critically_damped():
    spring = LatentSpring(1, SpringSettings(stiffness=9.0))
    z = spring.step(np.array([1.0]), 2.0)  # a 2 s hiccup is integrated in small sub-steps
    assert 0.9 < z[0] <= 1.0 + 1e-6
    positions = [spring.step(np.array([1.0]), 1 / 60)[0] for _ in range(120)]
    assert max(positions) <= 1.0 + 1e-6  # no overshoot


def test_drift_is_smooth_and_deterministic():
    drift = LatentDrift(16, seed=3)
    a, b = drift.at(10.0), drift.at(10.0 + 1 / 60)
    assert np.array_equal(a, LatentDrift(16, seed=3).at(10.0))
    assert np.abs(a - b).max() < 0.01
    assert np.abs(drift.at(0.0) - drift.at(30.0)).max() > 0.3  # it does wander


def test_nobody_there_follows_the_drift_and_a_visitor_pushes_away_from_it():
    lows, highs = np.zeros(3), np.ones(3)
    mapping = FeatureLatentMapping(8, lows, highs, seed=1)
    t = 5.0
    alone = mapping.target(np.array([1.0, 1.0, 1.0]), presence=0.0, t=t)
    assert np.allclose(alone, mapping.drift.at(t))
    present = mapping.target(np.array([1.0, 1.0, 1.0]), presence=1.0, t=t)
    other = mapping.target(np.array([0.0, 0.0, 0.0]), presence=1.0, t=t)
    assert np.linalg.norm(present - other) > 1.0  # the body steers the latent


def test_drift_spreads_each_dimension_as_widely_as_the_latent_prior() -> None:
    drift = LatentDrift(64, seed=5, amplitude=1.0)
    path = np.stack([drift.at(t) for t in np.arange(0.0, 2000.0, 0.5)])  # (T, 64), many periods
    assert np.sqrt((path ** 2).mean()) == pytest.approx(1.0, abs=0.05)
    assert np.sqrt((LatentDrift(64, seed=5, amplitude=0.5).at(3.0) ** 2).mean()) < 1.0
