"""Latent tools: slerp, truncation, and meaningful directions (computed once, cached on disk)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from models import latent_tools
from models.cppn import CPPN, CPPNConfig
from models.importers import load_imported
from models.latent_tools import (
    LatentDirections,
    cache_key,
    directions_for,
    image_change,
    model_fingerprint,
    slerp,
    truncate,
)

D = 16
SAMPLES = 128  # enough for stable components at these sizes, quick on the CPU

# Tracing the CPPN turns its shape checks into constants: intended for a fixed-size export.
pytestmark = pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")


@pytest.fixture(scope="module")
def cppn() -> CPPN:
    return CPPN(CPPNConfig(latent_dim=D, resolution=32, seed=7)).eval()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def directions(cppn: CPPN, cache_dir: Path) -> LatentDirections:
    return directions_for(cppn, cache_dir=cache_dir, samples=SAMPLES)


def _pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(D).astype(np.float32), rng.standard_normal(D).astype(np.float32)


def test_slerp_ends_at_its_ends_and_keeps_the_length_between() -> None:
    a, b = _pair()
    np.testing.assert_allclose(slerp(a, b, 0.0), a, atol=1e-6)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-6)
    path = slerp(a, b, np.linspace(0.0, 1.0, 11))
    assert path.shape == (11, D) and path.dtype == np.float32
    lengths = np.linalg.norm(path, axis=1)
    np.testing.assert_allclose(lengths, np.linspace(np.linalg.norm(a), np.linalg.norm(b), 11), rtol=1e-5)
    straight = np.linalg.norm(0.5 * (a + b))
    assert lengths[5] > straight, "the midpoint stays off the origin, unlike a straight line"


def test_slerp_turns_at_an_even_rate() -> None:
    a, b = _pair(1)
    path = slerp(a, b, np.linspace(0.0, 1.0, 5)).astype(np.float64)
    units = path / np.linalg.norm(path, axis=1, keepdims=True)
    steps = np.arccos(np.clip(np.sum(units[1:] * units[:-1], axis=1), -1.0, 1.0))
    np.testing.assert_allclose(steps, steps[0], rtol=1e-4)


def test_slerp_of_parallel_or_zero_latents_is_a_straight_line() -> None:
    a, _ = _pair()
    np.testing.assert_allclose(slerp(a, 2.0 * a, 0.5), 1.5 * a, rtol=1e-5)
    np.testing.assert_allclose(slerp(np.zeros(D), a, 0.25), 0.25 * a, rtol=1e-5)
    with pytest.raises(ValueError, match="one length"):
        slerp(a, a[:4], 0.5)


def test_truncation_pulls_toward_the_mean() -> None:
    a, mean = _pair(2)
    np.testing.assert_allclose(truncate(a, 1.0), a)
    np.testing.assert_allclose(truncate(a, 0.0, mean), mean)
    np.testing.assert_allclose(truncate(a, 0.5), 0.5 * a, rtol=1e-6)
    batch = truncate(np.stack([a, mean]), 0.7)
    assert batch.shape == (2, D) and batch.dtype == np.float32
    with pytest.raises(ValueError, match="psi"):
        truncate(a, -0.1)


def test_directions_are_unit_vectors_sorted_by_visible_effect(directions: LatentDirections) -> None:
    K = directions.directions.shape[0]
    assert directions.directions.shape == (K, D) and 1 <= K <= D
    np.testing.assert_allclose(np.linalg.norm(directions.directions, axis=1), 1.0, rtol=1e-5)
    assert np.all(np.diff(directions.effect) <= 0), "most visible first"
    assert directions.effect[-1] > 0


def test_the_top_direction_changes_the_picture_more_than_a_random_one(
    cppn: CPPN, directions: LatentDirections
) -> None:
    generator = torch.Generator().manual_seed(123)  # fresh latents: not the ones the analysis used
    probes = torch.randn(16, D, generator=generator)
    step = directions.step
    top = float(image_change(cppn, probes, step * torch.from_numpy(directions.directions[0])))
    randoms = []
    for _ in range(12):
        direction = torch.randn(D, generator=generator)
        randoms.append(float(image_change(cppn, probes, step * direction / direction.norm())))
    assert top > 1.1 * np.mean(randoms), (top, randoms)


def test_directions_are_cached_and_reused(cppn: CPPN, directions: LatentDirections, cache_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    files = list(cache_dir.glob("directions-*.npz"))
    assert len(files) == 1 and directions.key in files[0].name
    with np.load(files[0], allow_pickle=False) as data:  # a plain npz: no pickled objects
        assert set(data.files) == {"directions", "effect", "explained_variance", "step", "key"}

    def never(*args: object, **kwargs: object) -> LatentDirections:
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(latent_tools, "compute_directions", never)
    again = directions_for(cppn, cache_dir=cache_dir, samples=SAMPLES)
    np.testing.assert_array_equal(again.directions, directions.directions)
    np.testing.assert_array_equal(again.effect, directions.effect)


def test_the_cache_key_follows_the_weights_and_the_settings(cppn: CPPN) -> None:
    other_seed = CPPN(CPPNConfig(latent_dim=D, resolution=32, seed=8)).eval()
    assert model_fingerprint(cppn) == model_fingerprint(CPPN(CPPNConfig(latent_dim=D, resolution=32, seed=7)))
    assert model_fingerprint(cppn) != model_fingerprint(other_seed)
    assert cache_key(cppn, samples=64) != cache_key(cppn, samples=128)


def test_an_unreadable_cache_file_is_computed_again(cppn: CPPN, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    first = directions_for(cppn, cache_dir=tmp_path, samples=32, components=4)
    (cached,) = tmp_path.glob("directions-*.npz")
    cached.write_bytes(b"not an npz")
    with caplog.at_level(logging.WARNING, logger="models.latent_tools"):
        again = directions_for(cppn, cache_dir=tmp_path, samples=32, components=4)
    assert any("unreadable" in record.getMessage() for record in caplog.records)
    np.testing.assert_allclose(again.directions, first.directions, atol=1e-6)
    assert np.load(cached, allow_pickle=False)["directions"].shape == first.directions.shape


def test_steer_moves_along_the_first_directions(directions: LatentDirections) -> None:
    z = np.zeros(D, np.float32)
    moved = directions.steer(z, [2.0, -1.0])
    np.testing.assert_allclose(moved, 2.0 * directions.directions[0] - directions.directions[1], atol=1e-6)


def test_an_imported_generator_gets_directions_keyed_by_its_file(tmp_path: Path) -> None:
    model = CPPN(CPPNConfig(latent_dim=4, resolution=16, seed=3)).eval()
    path = tmp_path / "cppn.pt"
    with torch.no_grad():
        traced = torch.jit.trace(model, torch.zeros(1, 4), check_trace=False)
    torch.jit.save(traced, str(path), _extra_files={"generator.json": json.dumps({"latent_dim": 4})})
    imported = load_imported(path)
    assert model_fingerprint(imported) == imported.meta.sha256
    result = directions_for(imported, cache_dir=tmp_path, samples=32, components=4)
    assert result.directions.shape == (4, 4) and np.all(np.diff(result.effect) <= 0)
