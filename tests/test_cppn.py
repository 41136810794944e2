"""The CPPN generator: contract, determinism, a picture worth showing, continuity in z."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from installation.config import GeneratorConfig
from installation.errors import ModelError
from models import Generator, build_generator
from models.cppn import CPPN, CPPNConfig

RESOLUTION = 64  # small: these tests check behaviour, not speed


def _render(model: CPPN, z: np.ndarray) -> np.ndarray:
    """(D,) -> (3, R, R) float32 in [-1, 1]."""
    with torch.inference_mode():
        return model(torch.from_numpy(z[None].astype(np.float32)))[0].numpy()


def _to_bytes(image: np.ndarray) -> np.ndarray:
    return np.round((image + 1.0) * 127.5).astype(np.uint8)


@pytest.fixture(scope="module")
def model() -> CPPN:
    return CPPN(CPPNConfig(resolution=RESOLUTION)).eval()


@pytest.fixture(scope="module")
def z() -> np.ndarray:
    return np.random.default_rng(0).standard_normal(16).astype(np.float32)


def test_output_shape_and_range(model: CPPN) -> None:
    with torch.inference_mode():
        images = model(torch.randn(2, 16, generator=torch.Generator().manual_seed(1)))
    assert images.shape == (2, 3, RESOLUTION, RESOLUTION)
    assert images.dtype == torch.float32
    assert torch.isfinite(images).all()
    assert images.min() >= -1.0 and images.max() <= 1.0


def test_meets_the_generator_contract(model: CPPN) -> None:
    assert isinstance(model, Generator)
    assert model.latent_dim == 16 and model.resolution == RESOLUTION


def test_wrong_latent_shape_is_rejected(model: CPPN) -> None:
    with pytest.raises(ValueError, match=r"\(B, 16\)"):
        model(torch.zeros(1, 15))


def test_same_seed_and_z_give_identical_bytes(z: np.ndarray) -> None:
    first = _render(CPPN(CPPNConfig(resolution=RESOLUTION, seed=3)).eval(), z)
    second = _render(CPPN(CPPNConfig(resolution=RESOLUTION, seed=3)).eval(), z)
    assert first.tobytes() == second.tobytes()


def test_rendering_is_a_pure_function_of_z(model: CPPN, z: np.ndarray) -> None:
    before = _render(model, z)
    _render(model, -z)
    assert _render(model, z).tobytes() == before.tobytes()


def test_a_different_seed_draws_a_different_image(z: np.ndarray) -> None:
    a = _to_bytes(_render(CPPN(CPPNConfig(resolution=RESOLUTION, seed=1)).eval(), z))
    b = _to_bytes(_render(CPPN(CPPNConfig(resolution=RESOLUTION, seed=2)).eval(), z))
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 10


def test_the_global_rng_is_neither_used_nor_disturbed() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    CPPN(CPPNConfig(resolution=RESOLUTION))
    assert torch.rand(1) == expected_next


@pytest.mark.parametrize("seed", [0, 7, 12345])
def test_image_has_structure_and_colour(seed: int, z: np.ndarray) -> None:
    image = _to_bytes(_render(CPPN(CPPNConfig(resolution=RESOLUTION, seed=seed)).eval(), z))
    pixels = image.reshape(3, -1).astype(float)  # (3, HW)
    assert pixels.std(axis=1).min() > 20, "every channel varies across the image (not flat)"
    saturated = np.mean((pixels == 0) | (pixels == 255))
    assert saturated < 0.25, "not clipped to black and white"
    chroma = np.abs(pixels - pixels.mean(axis=0)).mean()
    assert chroma > 10, "the channels differ: colour, not grey"


def test_image_is_smooth_not_noise(model: CPPN, z: np.ndarray) -> None:
    image = _render(model, z)
    neighbour_step = np.abs(np.diff(image, axis=2)).mean()
    shuffled = np.random.default_rng(0).permutation(image.reshape(3, -1), axis=1).reshape(image.shape)
    assert neighbour_step < 0.25 * np.abs(np.diff(shuffled, axis=2)).mean()


def test_change_grows_with_the_step_in_z(model: CPPN, z: np.ndarray) -> None:
    direction = np.random.default_rng(1).standard_normal(16).astype(np.float32)
    direction /= np.linalg.norm(direction)
    base = _render(model, z)
    changes = [np.abs(_render(model, z + step * direction) - base).mean() for step in (0.02, 0.1, 0.5, 2.0)]
    assert all(a < b for a, b in zip(changes, changes[1:])), changes
    assert changes[0] < 0.02, "a tiny step is a tiny change (continuity)"
    assert changes[2] > 0.05, "a step of 0.5 is visible"
    assert changes[3] > 0.2, "a large step changes the image a lot"


def test_set_resolution_resamples_the_same_picture(z: np.ndarray) -> None:
    model = CPPN(CPPNConfig(resolution=RESOLUTION)).eval()
    fine = _render(model, z)
    model.set_resolution(RESOLUTION // 2)
    coarse = _render(model, z)
    assert coarse.shape == (3, RESOLUTION // 2, RESOLUTION // 2)
    assert model.resolution == RESOLUTION // 2 and model.config.resolution == RESOLUTION // 2
    downsampled = fine.reshape(3, RESOLUTION // 2, 2, RESOLUTION // 2, 2).mean(axis=(2, 4))
    assert np.abs(coarse - downsampled).mean() < 0.1
    model.set_resolution(RESOLUTION)
    assert _render(model, z).tobytes() == fine.tobytes()


def test_set_resolution_rejects_nonsense(model: CPPN) -> None:
    with pytest.raises(ValueError):
        model.set_resolution(0)


def test_batch_items_match_single_renders(model: CPPN) -> None:
    zs = np.random.default_rng(2).standard_normal((3, 16)).astype(np.float32)
    with torch.inference_mode():
        batch = model(torch.from_numpy(zs)).numpy()
    for item, z in zip(batch, zs):
        np.testing.assert_allclose(item, _render(model, z), atol=1e-5)


def test_gradients_flow_when_autograd_is_on() -> None:
    model = CPPN(CPPNConfig(resolution=16))
    z = torch.zeros(1, 16, requires_grad=True)
    model(z).sum().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_registry_builds_the_cppn_from_config() -> None:
    model = build_generator(GeneratorConfig(model="cppn", resolution=32, latent_dim=8, seed=5))
    assert isinstance(model, CPPN)
    assert (model.latent_dim, model.resolution, model.config.seed) == (8, 32, 5)


def test_registry_rejects_an_unknown_model() -> None:
    with pytest.raises(ModelError, match=r"unknown model 'stylegan9' \(known: cppn[,;]"):
        build_generator(GeneratorConfig(model="stylegan9"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(model: CPPN, z: np.ndarray) -> None:
    cpu = _render(model, z)
    gpu_model = CPPN(CPPNConfig(resolution=RESOLUTION)).eval().cuda()
    with torch.inference_mode():
        gpu = gpu_model(torch.from_numpy(z[None]).cuda())[0].cpu().numpy()
    np.testing.assert_allclose(gpu, cpu, atol=1e-3)
