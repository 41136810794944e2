"""A convolutional variational auto-encoder, optionally conditional on a theme.

Encoder: strided 4x4 convolutions halve the image down to 4 x 4, then one linear layer gives the
mean and log-variance of q(z | x). Decoder: one linear layer to a 4 x 4 feature map, transposed
convolutions double it back to full size, a 3x3 convolution and tanh give RGB in [-1, 1].
GroupNorm rather than BatchNorm: the output of one image never depends on the rest of its batch,
so batch 1 in the live loop matches training, and DistributedDataParallel needs no synced stats.

A conditional model (``themes`` non-empty) feeds a learned theme embedding to both halves: the
encoder's linear layer and the decoder's first layer. ``condition`` may be theme indices (B,), a
blend of themes as weights (B, T), or None, which means the average of all themes (so the live
loop, which passes no condition, still gets pictures).

As a generator the VAE is its decoder: ``forward(z, condition)`` -> images. ``encode`` is the
image -> latent map (the posterior mean) that scenes use to re-imagine a camera image.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class VAEConfig:
    """Hyper-parameters of a VAE; saved in its checkpoint and used to rebuild it."""

    resolution: int = 64  # output is (B, 3, resolution, resolution); a power of two, 16..512
    latent_dim: int = 32  # D
    themes: tuple[str, ...] = ()  # condition index i means themes[i]; () = unconditional
    base_channels: int = 32  # channels of the first encoder stage; doubled each stage ...
    max_channels: int = 256  # ... up to this
    theme_dim: int = 16  # size of the learned theme embedding
    recon_std: float = 0.15  # assumed pixel noise (in [-1, 1] units): smaller = sharper, less regular z
    # The latent prior the generator samples from, fitted after training to the encoder's means of
    # the training images (``fit_prior``): forward(z) decodes prior_mean + prior_scale * z, and
    # encode() returns latents in the same whitened units. Empty = N(0, I), as trained.
    prior_mean: tuple[float, ...] = ()
    prior_scale: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.resolution < 16 or self.resolution > 512 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two in 16..512, got {self.resolution}")
        if self.latent_dim < 1 or self.base_channels < 8 or self.max_channels < self.base_channels:
            raise ValueError(f"VAEConfig needs latent_dim >= 1 and 8 <= base_channels <= max_channels: {self}")
        if len(self.prior_mean) != len(self.prior_scale) or len(self.prior_mean) not in (0, self.latent_dim):
            raise ValueError(f"prior_mean and prior_scale must both be empty or have {self.latent_dim} values")
        if any(not scale > 0 for scale in self.prior_scale):
            raise ValueError("prior_scale values must be positive")

    @property
    def num_themes(self) -> int:
        """Returns T, the number of themes (0 for an unconditional model)."""
        return len(self.themes)

    @property
    def stage_channels(self) -> tuple[int, ...]:
        """Returns the channels of each encoder stage: resolution/2 down to 4 pixels."""
        stages = int(math.log2(self.resolution)) - 2
        return tuple(min(self.base_channels * 2 ** i, self.max_channels) for i in range(stages))


class ThemeEmbedding(nn.Module):
    """Learned theme vectors; turns a condition into (B, theme_dim), or None when unconditional."""

    def __init__(self, num_themes: int, dim: int) -> None:
        super().__init__()
        self.num_themes = num_themes
        self.dim = dim if num_themes else 0
        self.table = nn.Embedding(num_themes, dim) if num_themes else None

    def forward(self, condition: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """Returns (B, dim) theme vectors, or None for an unconditional model.

        ``condition``: LongTensor (B,) of theme indices, float (B, T) theme weights, or None for
        the mean of all themes. Raises ValueError for indices out of range or a wrong shape.
        """
        if self.table is None:
            return None
        table = self.table.weight  # (T, dim)
        if condition is None:
            return table.mean(dim=0).expand(batch, -1)  # (B, dim)
        if condition.dtype in (torch.int64, torch.int32):
            if condition.shape != (batch,):
                raise ValueError(f"theme indices must be ({batch},), got {tuple(condition.shape)}")
            if batch and (int(condition.min()) < 0 or int(condition.max()) >= self.num_themes):
                raise ValueError(f"theme index out of range 0..{self.num_themes - 1}: {condition.tolist()}")
            return self.table(condition)  # (B, dim)
        if condition.shape != (batch, self.num_themes):
            raise ValueError(f"theme weights must be ({batch}, {self.num_themes}), got {tuple(condition.shape)}")
        return condition.to(table.dtype) @ table  # (B, dim)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels // 4), channels)


class Encoder(nn.Module):
    """Images (B, 3, R, R) in [-1, 1] -> mean and log-variance of q(z | x), each (B, D)."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in config.stage_channels:
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), _norm(c_out), nn.SiLU()]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.to_stats = nn.Linear(c_in * 4 * 4 + (config.theme_dim if config.themes else 0), 2 * config.latent_dim)

    def forward(self, x: torch.Tensor, theme: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x).flatten(1)  # (B, C * 4 * 4)
        if theme is not None:
            h = torch.cat([h, theme], dim=1)  # (B, C * 16 + E)
        mean, log_var = self.to_stats(h).chunk(2, dim=1)  # (B, D) each
        return mean, log_var.clamp(-12.0, 8.0)  # bounded so exp() never overflows early in training


class Decoder(nn.Module):
    """Latents (B, D) (+ theme vectors) -> images (B, 3, R, R) in [-1, 1]."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        channels = config.stage_channels
        self.top_channels = channels[-1]
        in_features = config.latent_dim + (config.theme_dim if config.themes else 0)
        self.from_latent = nn.Linear(in_features, self.top_channels * 4 * 4)
        layers: list[nn.Module] = [_norm(self.top_channels), nn.SiLU()]
        outs = list(reversed(channels[:-1])) + [max(channels[0] // 2, 8)]  # 8 px ... full size
        c_in = self.top_channels
        for c_out in outs:
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), _norm(c_out), nn.SiLU()]
            c_in = c_out
        layers.append(nn.Conv2d(c_in, 3, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, theme: torch.Tensor | None) -> torch.Tensor:
        if theme is not None:
            z = torch.cat([z, theme], dim=1)  # (B, D + E)
        h = self.from_latent(z).view(z.shape[0], self.top_channels, 4, 4)  # (B, C, 4, 4)
        return torch.tanh(self.body(h))  # (B, 3, R, R)


class VAE(nn.Module):
    """The VAE: ``forward`` decodes (the generator contract), ``encode`` maps images to latents."""

    def __init__(self, config: VAEConfig) -> None:
        """Build the encoder and decoder. Raises ValueError for impossible hyper-parameters."""
        super().__init__()
        self.config = config
        self.latent_dim = config.latent_dim
        self.resolution = config.resolution
        self.themes = config.themes
        self.theme = ThemeEmbedding(config.num_themes, config.theme_dim)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        fitted = bool(config.prior_mean)
        self._prior = ((torch.tensor(config.prior_mean), torch.tensor(config.prior_scale)) if fitted else None)

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Decode latents; returns images (B, 3, R, R) in [-1, 1].

        Raises ValueError if z is not (B, latent_dim) or the condition is malformed.
        """
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        if self._prior is not None:
            mean, scale = (p.to(z.device, z.dtype) for p in self._prior)
            z = mean + scale * z
        return self.decoder(z, self.theme(condition, z.shape[0]))

    def encode(self, images: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Map images (B, 3, R, R) in [-1, 1] to latents; returns the posterior mean (B, D).

        Raises ValueError if the images are not (B, 3, resolution, resolution).
        """
        self._check_images(images)
        mean, _ = self.encoder(images, self.theme(condition, images.shape[0]))
        if self._prior is not None:
            prior_mean, prior_scale = (p.to(mean.device, mean.dtype) for p in self._prior)
            mean = (mean - prior_mean) / prior_scale
        return mean

    def loss(self, images: torch.Tensor, condition: torch.Tensor | None,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """The negative ELBO per pixel for a batch; returns (loss, {"recon", "kl", "mse"} floats).

        ``recon`` is the Gaussian reconstruction term with std ``recon_std``, ``kl`` is KL(q || N(0, I))
        spread over the pixels, so the two add up to the negative ELBO per dimension. Reading the
        floats synchronises with the device once per call.
        """
        self._check_images(images)
        theme = self.theme(condition, images.shape[0])
        mean, log_var = self.encoder(images, theme)  # (B, D) each
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + noise * torch.exp(0.5 * log_var)  # (B, D), the reparameterisation trick
        recon = self.decoder(z, theme)  # (B, 3, R, R)
        mse = F.mse_loss(recon.float(), images.float())
        kl = 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(dim=1).mean()  # per image
        pixels = images[0].numel()
        recon_term = mse / (2.0 * self.config.recon_std ** 2)
        kl_term = kl / pixels
        loss = recon_term + kl_term
        return loss, {"recon": float(recon_term.detach()), "kl": float(kl.detach()), "mse": float(mse.detach())}

    def _check_images(self, images: torch.Tensor) -> None:
        R = self.resolution
        if images.dim() != 4 or tuple(images.shape[1:]) != (3, R, R):
            raise ValueError(f"expected images of shape (B, 3, {R}, {R}), got {tuple(images.shape)}")


@torch.inference_mode()
def fit_prior(vae: VAE, images: torch.Tensor, condition: torch.Tensor | None = None, batch: int = 256) -> VAE:
    """A copy of ``vae`` whose latent prior is a diagonal Gaussian fitted to the encoder's means of
    ``images`` (N, 3, R, R), uint8 or in [-1, 1]; returns it in eval mode.

    Why: a VAE's encoder rarely fills N(0, I) as the KL term asks. Here its means spread 2.5-2.9
    times wider, so samples drawn from N(0, I) decode near the middle of the latent space, to the
    blurred average picture; drawn from the fit, they land where real pictures do.
    """
    raw = VAE(dataclasses.replace(vae.config, prior_mean=(), prior_scale=()))
    raw.load_state_dict(vae.state_dict())
    raw.to(next(vae.parameters()).device).eval()

    def as_model_range(chunk: torch.Tensor) -> torch.Tensor:
        return chunk.float() / 127.5 - 1.0 if chunk.dtype == torch.uint8 else chunk

    means = torch.cat([raw.encode(as_model_range(images[i:i + batch]),
                                  None if condition is None else condition[i:i + batch])
                       for i in range(0, len(images), batch)])  # (N, D)
    config = dataclasses.replace(vae.config, prior_mean=tuple(means.mean(0).tolist()),
                                 prior_scale=tuple(means.std(0).clamp_min(1e-4).tolist()))
    fitted = VAE(config)
    fitted.load_state_dict(vae.state_dict())
    return fitted.to(next(vae.parameters()).device).eval()
