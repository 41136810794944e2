"""A DCGAN-family GAN with modern stabilisers, optionally conditional on a theme.

Generator: one linear layer maps z to a 4 x 4 feature map, transposed 4x4 convolutions double it
up to full size, a 3x3 convolution and tanh give RGB in [-1, 1]. BatchNorm, as in DCGAN: it holds
the spread of every channel across the batch at 1, which works against the generator mapping all
latents to one image. In evaluation mode, which is how the live loop and a loaded checkpoint
run, it uses running statistics, so an image never depends on its batch. Under
DistributedDataParallel each process normalises over its own batch. A conditional generator
takes the theme through the BatchNorm's scale and shift (``ThemeBatchNorm``), not through z.

Discriminator: strided 4x4 convolutions down to 4 x 4, every weight spectrally normalised
(Miyato et al. 2018), a minibatch standard-deviation channel at 4 x 4 (Karras et al. 2018: a
batch of near-identical fakes is then easy to spot, which keeps the generator from collapsing
onto one image), a linear real/fake score plus, when conditional, a projection term
<embed(theme), pooled features> (Miyato & Koyama 2018).

Losses are the non-saturating logistic loss of the original GAN paper (softplus form). The hinge
loss with Adam's beta1 = 0, tried first, collapsed onto one image within 250 steps on the art
sets; this loss with beta1 = 0.5 did not. The generator that ships is an exponential
moving average (EMA) of the trained generator's weights, which averages out the oscillation of
adversarial training.

``condition`` is as for the VAE: theme indices (B,), weights (B, T), or None for the average of
all themes.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.vae import ThemeEmbedding

MINIBATCH_STD_GROUP = 4  # samples per group of the discriminator's minibatch-std feature


@dataclass(frozen=True)
class GANConfig:
    """Hyper-parameters of a GAN; saved in its checkpoint and used to rebuild the generator."""

    resolution: int = 64  # output is (B, 3, resolution, resolution); a power of two, 16..512
    latent_dim: int = 64  # D
    themes: tuple[str, ...] = ()  # condition index i means themes[i]; () = unconditional
    g_channels: int = 256  # generator channels at 4 x 4, halved each doubling ...
    g_min_channels: int = 16  # ... down to this
    d_channels: int = 16  # discriminator channels at resolution / 2, doubled each halving ...
    d_max_channels: int = 128  # ... up to this
    theme_dim: int = 32  # size of the learned theme embedding (generator and discriminator)

    def __post_init__(self) -> None:
        if self.resolution < 16 or self.resolution > 512 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two in 16..512, got {self.resolution}")
        if self.latent_dim < 1 or min(self.g_min_channels, self.d_channels) < 8:
            raise ValueError(f"GANConfig needs latent_dim >= 1 and at least 8 channels: {self}")

    @property
    def num_themes(self) -> int:
        """Returns T, the number of themes (0 for an unconditional model)."""
        return len(self.themes)

    @property
    def doublings(self) -> int:
        """Returns how many times 4 x 4 doubles to reach the resolution."""
        return int(math.log2(self.resolution)) - 2


class ThemeBatchNorm(nn.Module):
    """BatchNorm2d whose scale and shift come from the theme vector when the model is conditional.

    Conditioning by concatenating the theme to z let the generator put the batch's spread into
    the theme direction, which BatchNorm then normalised z away from: one image per theme. Here
    the normalisation sees only z's spread, and the theme modulates afterwards (as in SNGAN and
    BigGAN's conditional BatchNorm).
    """

    def __init__(self, channels: int, theme_dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=theme_dim == 0)
        self.gain = nn.Linear(theme_dim, channels) if theme_dim else None
        self.shift = nn.Linear(theme_dim, channels) if theme_dim else None
        for layer in (self.gain, self.shift):
            if layer is not None:  # start near plain BatchNorm (scale 1, shift 0), themes ~0.1 apart
                nn.init.normal_(layer.weight, std=0.1 / math.sqrt(theme_dim))
                nn.init.zeros_(layer.bias)

    def forward(self, h: torch.Tensor, theme: torch.Tensor | None) -> torch.Tensor:
        h = self.norm(h)  # (B, C, H, W)
        if self.gain is None or theme is None:
            return h
        scale = 1.0 + self.gain(theme)[:, :, None, None]  # (B, C, 1, 1)
        return h * scale + self.shift(theme)[:, :, None, None]


class GANGenerator(nn.Module):
    """Maps latents (B, D) and an optional theme condition to images (B, 3, R, R) in [-1, 1]."""

    def __init__(self, config: GANConfig) -> None:
        """Build the layers. Raises ValueError for impossible hyper-parameters."""
        super().__init__()
        self.config = config
        self.latent_dim = config.latent_dim
        self.resolution = config.resolution
        self.themes = config.themes
        self.theme = ThemeEmbedding(config.num_themes, config.theme_dim)
        self.top_channels = config.g_channels
        self.from_latent = nn.Linear(config.latent_dim, self.top_channels * 4 * 4)
        channels = [self.top_channels]
        for _ in range(config.doublings):
            channels.append(max(channels[-1] // 2, config.g_min_channels))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
                                 for c_in, c_out in zip(channels, channels[1:]))
        self.to_rgb = nn.Conv2d(channels[-1], 3, 3, padding=1)
        self.norms = nn.ModuleList(ThemeBatchNorm(c, self.theme.dim) for c in channels)

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Render latents; returns images (B, 3, R, R) in [-1, 1].

        Raises ValueError if z is not (B, latent_dim) or the condition is malformed.
        """
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        theme = self.theme(condition, z.shape[0])  # (B, E) or None
        h = self.from_latent(z).view(z.shape[0], self.top_channels, 4, 4)  # (B, C, 4, 4)
        h = F.relu(self.norms[0](h, theme))
        for up, norm in zip(self.ups, self.norms[1:]):
            h = F.relu(norm(up(h), theme))  # (B, C', 2H, 2W)
        return torch.tanh(self.to_rgb(h))  # (B, 3, R, R)


class GANDiscriminator(nn.Module):
    """Scores images (B, 3, R, R) (and their theme indices (B,)) as real (> 0) or fake; returns (B,)."""

    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, c_out = 3, config.d_channels
        for _ in range(config.doublings):
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            c_in, c_out = c_out, min(c_out * 2, config.d_max_channels)
        self.features = nn.Sequential(*layers)
        self.score = spectral_norm(nn.Linear((c_in + 1) * 4 * 4, 1))
        self.projection = (spectral_norm(nn.Embedding(config.num_themes, c_in))
                           if config.num_themes else None)

    def forward(self, images: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(images)  # (B, C, 4, 4)
        with_std = torch.cat([h, _minibatch_std(h)], dim=1)  # (B, C + 1, 4, 4)
        score = self.score(with_std.flatten(1)).squeeze(1)  # (B,)
        if self.projection is not None and condition is not None:
            # Mean-pooled, so the projection's scale does not grow with the feature map's area.
            pooled = h.mean(dim=(2, 3))  # (B, C)
            score = score + (self.projection(condition) * pooled).sum(dim=1)  # (B,)
        return score


def _minibatch_std(h: torch.Tensor, group: int = MINIBATCH_STD_GROUP) -> torch.Tensor:
    """One channel (B, 1, H, W): the mean std of the features across each group of samples.

    Groups are runs of consecutive samples, so a batch of reals followed by as many fakes never
    mixes the two when the half-batch is a multiple of the group size.
    """
    B, C, H, W = h.shape
    group = max(g for g in range(1, min(group, B) + 1) if B % g == 0)
    grouped = h.float().view(B // group, group, C, H, W)
    std = (grouped.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (B / group,)
    return std.repeat_interleave(group).view(B, 1, 1, 1).expand(B, 1, H, W).to(h.dtype)


class GAN(nn.Module):
    """The trainable pair plus the EMA generator that ships; ``generator_ema`` never gets gradients."""

    def __init__(self, config: GANConfig) -> None:
        """Build all three networks. Raises ValueError for impossible hyper-parameters."""
        super().__init__()
        self.config = config
        self.generator = GANGenerator(config)
        self.discriminator = GANDiscriminator(config)
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False).eval()

    def train(self, mode: bool = True) -> GAN:
        """Set the training mode of the trained pair; the EMA generator always stays in eval mode.

        Returns self.
        """
        super().train(mode)
        self.generator_ema.eval()
        return self

    @torch.no_grad()
    def update_ema(self, decay: float) -> None:
        """Move each EMA weight a fraction (1 - decay) towards the trained one, and copy the
        BatchNorm running statistics; returns nothing."""
        for ema, live in zip(self.generator_ema.parameters(), self.generator.parameters()):
            ema.lerp_(live, 1.0 - decay)
        for ema, live in zip(self.generator_ema.buffers(), self.generator.buffers()):
            ema.copy_(live)


def discriminator_loss(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                       condition: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
    """Non-saturating loss of the discriminator, -log sigmoid(D(real)) - log(1 - sigmoid(D(fake)));
    returns (loss, {"d_real", "d_fake"} mean scores).

    Real and fake go through one forward call, which DistributedDataParallel requires (one
    forward per backward) and which halves the kernel launches.
    """
    both_condition = None if condition is None else torch.cat([condition, condition])
    scores = discriminator(torch.cat([real, fake.detach()]), both_condition)  # (2B,)
    real_scores, fake_scores = scores.float().chunk(2)  # (B,) each
    loss = F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()
    return loss, {"d_real": float(real_scores.detach().mean()), "d_fake": float(fake_scores.detach().mean())}


def generator_loss(discriminator: nn.Module, fake: torch.Tensor,
                   condition: torch.Tensor | None) -> torch.Tensor:
    """Non-saturating loss of the generator, -log sigmoid(D(fake)), averaged; returns ()."""
    return F.softplus(-discriminator(fake, condition).float()).mean()
