"""The VAE: shapes and range, theme conditioning, and a few training steps on real art."""

from __future__ import annotations

import pytest
import torch

from models.data import ArtDataset, to_model_range
from models.vae import VAE, VAEConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = dict(resolution=32, latent_dim=16, base_channels=16, max_channels=64)


@pytest.fixture(scope="module")
def trained(art: ArtDataset) -> tuple[VAE, list[float]]:
    """A conditional VAE after 40 Adam steps on the real subset, and its loss per step."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(themes=art.themes, **SMALL))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    images, labels = to_model_range(art.images), art.labels  # (64, 3, 32, 32), (64,)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(40):
        index = torch.randint(len(images), (32,), generator=generator)
        loss, _ = model.loss(images[index], labels[index], generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return model.eval(), losses


def test_loss_falls_on_real_art(trained: tuple[VAE, list[float]]) -> None:
    _, losses = trained
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.6 * first, f"loss went from {first:.3f} to {last:.3f}"


def test_reconstruction_beats_the_mean_image_after_training(art: ArtDataset, trained: tuple[VAE, list[float]]) -> None:
    model, _ = trained
    images = to_model_range(art.images)
    with torch.inference_mode():
        recon = model(model.encode(images, art.labels), art.labels)
    mean_image_error = (images - images.mean(dim=0)).pow(2).mean()
    assert (recon - images).pow(2).mean() < mean_image_error


def test_each_theme_gives_a_different_image(trained: tuple[VAE, list[float]]) -> None:
    model, _ = trained
    z = torch.randn(4, 16, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        by_theme = [model(z, torch.full((4,), t)) for t in range(2)]  # (4, 3, 32, 32) each
    difference = (by_theme[0] - by_theme[1]).abs().mean()
    assert difference > 0.02, f"themes differ by only {difference:.4f} per pixel"


def test_forward_and_encode_shapes_and_range() -> None:
    model = VAE(VAEConfig(**SMALL)).eval()
    with torch.inference_mode():
        images = model(torch.randn(3, 16) * 3)
        z = model.encode(images)
    assert images.shape == (3, 3, 32, 32) and images.abs().max() <= 1.0
    assert z.shape == (3, 16)
    assert model.themes == () and model.latent_dim == 16 and model.resolution == 32


def test_condition_forms_agree() -> None:
    torch.manual_seed(0)
    model = VAE(VAEConfig(themes=("a", "b", "c"), **SMALL)).eval()
    z = torch.randn(2, 16)
    with torch.inference_mode():
        by_index = model(z, torch.tensor([2, 0]))
        by_weights = model(z, torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
        by_none = model(z)
        by_mean = model(z, torch.full((2, 3), 1 / 3))
    assert torch.allclose(by_index, by_weights, atol=1e-6)
    assert torch.allclose(by_none, by_mean, atol=1e-6)


@pytest.mark.parametrize("resolution", [64, 128, 256])
def test_resolutions(resolution: int) -> None:
    model = VAE(VAEConfig(resolution=resolution, latent_dim=8, base_channels=8, max_channels=16)).eval()
    with torch.inference_mode():
        assert model(torch.zeros(1, 8)).shape == (1, 3, resolution, resolution)
        assert model.encode(torch.zeros(1, 3, resolution, resolution)).shape == (1, 8)


def test_bad_inputs_raise_value_error() -> None:
    model = VAE(VAEConfig(themes=("a", "b"), **SMALL))
    with pytest.raises(ValueError, match=r"expected z of shape \(B, 16\)"):
        model(torch.zeros(2, 15))
    with pytest.raises(ValueError, match="theme index out of range 0..1"):
        model(torch.zeros(2, 16), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 3, 32, 32\)"):
        model.encode(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="power of two"):
        VAEConfig(resolution=48)


def test_default_size_is_small_enough_to_ship() -> None:
    model = VAE(VAEConfig(themes=("a", "b")))
    assert sum(p.numel() for p in model.parameters()) * 4 < 15e6  # float32 bytes
