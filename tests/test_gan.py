"""The GAN: shapes and range, the EMA generator, spectral norm, theme conditioning, and a few
training steps on real art."""

from __future__ import annotations

import pytest
import torch

from models.data import ArtDataset, to_model_range
from models.gan import GAN, GANConfig, GANGenerator, discriminator_loss, generator_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = dict(resolution=32, latent_dim=16, g_channels=64, g_min_channels=16, d_channels=16, d_max_channels=64)


@pytest.fixture(scope="module")
def trained(art: ArtDataset) -> tuple[GAN, list[float], list[float]]:
    """A conditional GAN after 30 steps on the real subset, and its D and G losses per step."""
    torch.manual_seed(0)
    gan = GAN(GANConfig(themes=art.themes, **SMALL))
    g_opt = torch.optim.Adam(gan.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(gan.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    images, labels = to_model_range(art.images), art.labels  # (64, 3, 32, 32), (64,)
    generator = torch.Generator().manual_seed(0)
    d_losses, g_losses = [], []
    for _ in range(30):
        index = torch.randint(len(images), (16,), generator=generator)
        fake = gan.generator(torch.randn(16, 16, generator=generator), labels[index])
        d_loss, _ = discriminator_loss(gan.discriminator, images[index], fake, labels[index])
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        g_loss = generator_loss(gan.discriminator, fake, labels[index])
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        gan.update_ema(0.9)
        d_losses.append(float(d_loss.detach()))
        g_losses.append(float(g_loss.detach()))
    return gan, d_losses, g_losses


def test_discriminator_loss_falls_on_real_art(trained: tuple[GAN, list[float], list[float]]) -> None:
    # Early on the loss of D falls from 2 log 2 (chance) as it learns real from fake; G's loss
    # then rises, so "its loss falls" is a statement about D.
    _, d_losses, _ = trained
    first, last = d_losses[0], sum(d_losses[-5:]) / 5
    assert first > 1.2, f"an untrained D should score near 0, giving a loss near 1.39: {first:.3f}"
    assert last < first - 0.1, f"D loss went from {first:.3f} to {last:.3f} (mean of the last 5 steps)"


def test_the_generator_learns(trained: tuple[GAN, list[float], list[float]]) -> None:
    gan, _, _ = trained
    fresh = GAN(GANConfig(themes=gan.config.themes, **SMALL))
    changed = sum((a - b).abs().sum() for a, b in zip(gan.generator.parameters(), fresh.generator.parameters()))
    assert changed > 0


def test_ema_generator_follows_but_lags_the_trained_one(trained: tuple[GAN, list[float], list[float]]) -> None:
    gan, _, _ = trained
    live = torch.cat([p.flatten() for p in gan.generator.parameters()])
    ema = torch.cat([p.flatten() for p in gan.generator_ema.parameters()])
    assert not torch.equal(live, ema)
    assert all(not p.requires_grad for p in gan.generator_ema.parameters())
    gan_copy = GAN(gan.config)
    gan_copy.load_state_dict(gan.state_dict())
    gan_copy.update_ema(0.0)  # decay 0 copies the live weights
    assert torch.equal(torch.cat([p.flatten() for p in gan_copy.generator_ema.parameters()]), live)


def test_each_theme_gives_a_different_image(trained: tuple[GAN, list[float], list[float]]) -> None:
    gan, _, _ = trained
    z = torch.randn(4, 16, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        by_theme = [gan.generator_ema(z, torch.full((4,), t)) for t in range(2)]
    difference = (by_theme[0] - by_theme[1]).abs().mean()
    assert difference > 0.01, f"themes differ by only {difference:.4f} per pixel"


def test_discriminator_is_spectrally_normalised(trained: tuple[GAN, list[float], list[float]]) -> None:
    gan, _, _ = trained
    gan.discriminator.eval()  # eval: read the normalised weight without another power iteration
    for module in gan.discriminator.features:
        if isinstance(module, torch.nn.Conv2d):
            with torch.no_grad():
                sigma = torch.linalg.matrix_norm(module.weight.flatten(1), ord=2)
            assert 0.8 < float(sigma) < 1.2
    gan.discriminator.train()


def test_generator_shapes_and_range() -> None:
    generator = GANGenerator(GANConfig(**SMALL)).eval()
    with torch.inference_mode():
        images = generator(torch.randn(3, 16) * 4)
    assert images.shape == (3, 3, 32, 32) and images.abs().max() <= 1.0
    assert generator.themes == () and generator.latent_dim == 16 and generator.resolution == 32


@pytest.mark.parametrize("resolution", [64, 128, 256])
def test_resolutions(resolution: int) -> None:
    config = GANConfig(resolution=resolution, latent_dim=8, g_channels=32, g_min_channels=8, d_channels=8,
                       d_max_channels=16, themes=("a", "b"))
    gan = GAN(config)
    with torch.inference_mode():
        images = gan.generator_ema(torch.zeros(2, 8), torch.tensor([0, 1]))
        scores = gan.discriminator(images, torch.tensor([0, 1]))
    assert images.shape == (2, 3, resolution, resolution) and scores.shape == (2,)


def test_default_generator_is_small_enough_to_ship() -> None:
    generator = GANGenerator(GANConfig(themes=("a", "b")))
    assert sum(p.numel() for p in generator.parameters()) * 4 < 15e6  # float32 bytes
