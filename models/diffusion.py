"""A small pixel-space diffusion model: a U-Net trained by v-prediction, sampled by DDIM in a few steps.

Written from the papers:
- Ho, Jain, Abbeel, "Denoising diffusion probabilistic models" (2020): the forward process
  x_t = alpha_t x_0 + sigma_t eps and a U-Net denoiser with time embedding and self-attention;
- Song, Meng, Ermon, "Denoising diffusion implicit models" (2021): the deterministic sampler, so
  a picture is a function of its starting noise and a short schedule (4-8 steps) still works;
- Nichol & Dhariwal (2021): the cosine schedule, here in continuous time as a log-SNR,
  log SNR(t) = -2 log tan(pi t / 2), shifted by 2 log(base / resolution) (Hoogeboom, Heek,
  Salimans, "simple diffusion", 2023) so that a 64 px picture is as noisy at time t as a 32 px one;
- Salimans & Ho, "Progressive distillation" (2022): predicting v = alpha eps - sigma x_0, which
  stays well behaved at both ends of the schedule and makes few-step sampling sharper;
- Ho & Salimans, "Classifier-free diffusion guidance" (2022): the theme is dropped from 10 % of
  the training batches (a learned "no theme" token), so sampling may push towards a theme.

The U-Net first folds each 4 x 4 block of pixels into channels (pixel unshuffle, as in "simple
diffusion"), so its largest feature maps are 16 x 16 for a 64 px picture: a sixteenth of the work,
which is what makes it trainable on a CPU. Folded that far, 64 channels cannot carry the 48
values of a block exactly, and at low noise the model must give back the noise itself, pixel
for pixel: without help its samples kept a fine grain (at 1,500 steps it removed 40 % of the
noise at sigma 0.16). So one small residual block runs at full resolution after the U-Net, fed
the noisy picture beside the U-Net's output ("pixel" block). Every image's output depends only
on its own input (GroupNorm, no batch statistics).

Generator contract (``models/README.md``): ``latent_dim`` = 3 x R x R, and ``forward(z, condition)``
reshapes z to the starting noise and runs DDIM for ``sample_steps`` steps. z is rescaled to the
norm of a standard normal draw (sqrt(D)), so a latent walk of any size gives full pictures and
nearby latents give nearby pictures (DDIM is a continuous map of its starting noise).
``refine(images, strength, noise)`` is image to image (SDEdit, Meng et al. 2022): noise the picture
to time ``strength`` and denoise it from there.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

LOG_SNR_LIMIT = 15.0  # log SNR is clipped to [-15, 15] before the resolution shift
SAMPLE_STEPS_MAX = 1000
SAMPLERS = ("ddim", "dpm2m")


@dataclass(frozen=True)
class DiffusionConfig:
    """Hyper-parameters of a diffusion model; saved in its checkpoint and used to rebuild it."""

    resolution: int = 64  # output is (B, 3, resolution, resolution); a power of two, 16..256
    themes: tuple[str, ...] = ()  # condition index i means themes[i]; () = unconditional
    patch: int = 4  # pixels folded into channels before the U-Net (1 = none)
    channels: tuple[int, ...] = (64, 128, 192)  # U-Net channels per level, from resolution / patch down
    blocks: int = 2  # residual blocks per level on the way down (one more on the way up)
    attention_levels: tuple[int, ...] = (1, 2)  # levels with self-attention (0 = the largest maps)
    pixel_channels: int = 32  # a last residual block at full resolution, fed the noisy picture (0 = none)
    heads: int = 4
    embed_dim: int = 256  # time and theme embedding
    schedule_base: int = 32  # the resolution whose noise schedule is the plain cosine one
    theme_dropout: float = 0.1  # fraction of training batches taught without their theme
    sample_steps: int = 8  # DDIM steps of forward(); set from the installation's config
    guidance: float = 1.0  # classifier-free guidance scale at sampling (1 = none)
    sampler: str = "dpm2m"  # "ddim" (first order) | "dpm2m" (DPM-Solver++ 2M: second order, same cost)

    def __post_init__(self) -> None:
        if self.resolution < 16 or self.resolution > 256 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two in 16..256, got {self.resolution}")
        if self.patch not in (1, 2, 4) or not self.channels or min(self.channels) < 16:
            raise ValueError(f"DiffusionConfig needs patch 1, 2 or 4 and at least 16 channels a level: {self}")
        if any(c % 16 for c in self.channels) or self.blocks < 1:
            raise ValueError(f"channels must be multiples of 16 and blocks >= 1: {self}")
        if (self.resolution // self.patch) >> (len(self.channels) - 1) < 4:
            raise ValueError(f"too many levels for {self.resolution} px: the smallest map must be >= 4 px")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if not 1 <= self.sample_steps <= SAMPLE_STEPS_MAX:
            raise ValueError(f"sample_steps must be in 1..{SAMPLE_STEPS_MAX}, got {self.sample_steps}")

    @classmethod
    def for_resolution(cls, resolution: int, themes: tuple[str, ...] = ()) -> DiffusionConfig:
        """The default model for ``resolution``: 4 x 4 patches from 64 px up (2 x 2 below), and
        as many of the default levels as keep the smallest feature map at 4 px or more."""
        patch = 4 if resolution >= 64 else 2
        levels = max(1, min(len(cls.channels), int(math.log2(resolution // patch)) - 1))
        return cls(resolution=resolution, themes=themes, patch=patch, channels=cls.channels[:levels],
                   attention_levels=tuple(i for i in cls.attention_levels if i < levels))

    @property
    def latent_dim(self) -> int:
        """D: the starting noise, one number per pixel and colour."""
        return 3 * self.resolution * self.resolution

    @property
    def num_themes(self) -> int:
        return len(self.themes)


# --- the noise schedule ---------------------------------------------------------------------------

def log_snr(t: torch.Tensor, config: DiffusionConfig) -> torch.Tensor:
    """Shifted cosine log signal-to-noise ratio at times ``t`` in [0, 1]; returns a tensor like t."""
    limit = torch.tensor(LOG_SNR_LIMIT, dtype=t.dtype)
    t_min = torch.atan(torch.exp(-0.5 * limit)) * 2 / math.pi
    t_max = torch.atan(torch.exp(0.5 * limit)) * 2 / math.pi
    t = t_min + (t_max - t_min) * t
    shift = 2.0 * math.log(config.schedule_base / config.resolution)
    return -2.0 * torch.log(torch.tan(math.pi * t / 2)) + shift


def alpha_sigma(t: torch.Tensor, config: DiffusionConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha_t, sigma_t), with alpha^2 + sigma^2 = 1; shaped like ``t``."""
    snr = log_snr(t, config)
    return torch.sigmoid(snr).sqrt(), torch.sigmoid(-snr).sqrt()


# --- the U-Net --------------------------------------------------------------------------------------

def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(32, channels), channels)


class ResBlock(nn.Module):
    """Two 3x3 convolutions with the time/theme embedding as a per-channel scale and shift."""

    def __init__(self, c_in: int, c_out: int, embed_dim: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.embed = nn.Linear(embed_dim, 2 * c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, h: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        x = self.conv1(F.silu(self.norm1(h)))
        scale, shift = self.embed(embedding)[:, :, None, None].chunk(2, dim=1)
        x = self.conv2(F.silu(self.norm2(x) * (1 + scale) + shift))
        return self.skip(h) + x


class Attention(nn.Module):
    """Multi-head self-attention over the pixels of a feature map, added to it."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        B, C, H, W = h.shape
        q, k, v = self.qkv(self.norm(h)).reshape(B, 3, self.heads, C // self.heads, H * W).unbind(1)
        x = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return h + self.out(x.transpose(-1, -2).reshape(B, C, H, W))


class Level(nn.Module):
    """Residual blocks (each followed by attention where asked) at one resolution of the U-Net."""

    def __init__(self, inputs: list[int], c_out: int, embed_dim: int, attention: bool, heads: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(ResBlock(c_in, c_out, embed_dim) for c_in in inputs)
        self.attention = nn.ModuleList(Attention(c_out, heads) if attention else nn.Identity() for _ in inputs)


def timestep_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of t in [0, 1] (Vaswani et al. 2017); returns (B, dim)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = 1000.0 * t.float()[:, None] * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class UNet(nn.Module):
    """The denoiser: (noisy image, time, theme vector) -> predicted v, all (B, 3, R, R)."""

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = config
        E, C, p = config.embed_dim, config.channels, config.patch
        self.time = nn.Sequential(nn.Linear(E, E), nn.SiLU(), nn.Linear(E, E))
        self.stem = nn.Conv2d(3 * p * p, C[0], 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skips = [C[0]]
        for i, c in enumerate(C):
            inputs = [skips[-1]] + [c] * (config.blocks - 1)
            self.down.append(Level(inputs, c, E, i in config.attention_levels, config.heads))
            skips += [c] * config.blocks
            if i < len(C) - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.middle = Level([C[-1], C[-1]], C[-1], E, True, config.heads)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        previous = C[-1]
        for i in reversed(range(len(C))):
            c = C[i]
            inputs = []
            for _ in range(config.blocks + 1):
                inputs.append(previous + skips.pop())
                previous = c
            self.up.append(Level(inputs, c, E, i in config.attention_levels, config.heads))
            if i > 0:
                self.upsample.append(nn.Conv2d(c, c, 3, padding=1))
        self.head_norm = _norm(C[0])
        P = config.pixel_channels if p > 1 else 0
        self.head = nn.Conv2d(C[0], (P // 2 if P else 3) * p * p, 3, padding=1)
        if P:  # full resolution: the U-Net's upsampled features beside the noisy picture itself
            self.pixel_block = ResBlock(P // 2 + 3, P, E)
            self.pixel_norm, self.pixel_head = _norm(P), nn.Conv2d(P, 3, 3, padding=1)
            out = self.pixel_head
        else:
            out = self.head
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, theme: torch.Tensor) -> torch.Tensor:
        """``x`` (B, 3, R, R), ``t`` (B,) in [0, 1], ``theme`` (B, embed_dim); returns v (B, 3, R, R)."""
        features = timestep_features(t, self.config.embed_dim).to(self.stem.weight.dtype)  # fp16 on a GPU
        embedding = F.silu(self.time(features) + theme)
        h = self.stem(F.pixel_unshuffle(x, self.config.patch) if self.config.patch > 1 else x)
        skips = [h]
        for i, level in enumerate(self.down):
            for block, attention in zip(level.blocks, level.attention):
                h = attention(block(h, embedding))
                skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
                skips.append(h)
        for block, attention in zip(self.middle.blocks, self.middle.attention):
            h = attention(block(h, embedding))
        for i, level in enumerate(self.up):
            for block, attention in zip(level.blocks, level.attention):
                h = attention(block(torch.cat([h, skips.pop()], dim=1), embedding))
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        out = self.head(F.silu(self.head_norm(h)))
        if self.config.patch == 1:
            return out
        out = F.pixel_shuffle(out, self.config.patch)
        if not hasattr(self, "pixel_block"):
            return out
        h = self.pixel_block(torch.cat([out, x], dim=1), embedding)
        return self.pixel_head(F.silu(self.pixel_norm(h)))


# --- the model: denoiser + schedule + sampler -------------------------------------------------------

class DiffusionModel(nn.Module):
    """A denoiser with its theme table; ``forward`` samples (the generator contract), ``loss`` trains."""

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = UNet(config)
        # Row T is the learned "no theme" token of classifier-free guidance.
        self.theme_table = nn.Embedding(config.num_themes + 1, config.embed_dim)
        nn.init.normal_(self.theme_table.weight, std=0.02)
        self.sample_steps = config.sample_steps
        self.guidance = config.guidance

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def themes(self) -> tuple[str, ...]:
        return self.config.themes

    def theme_vectors(self, condition: torch.Tensor | None, batch: int) -> torch.Tensor:
        """(B, embed_dim) theme vectors. ``condition``: indices (B,) (T = no theme), weights (B, T),
        or None = the mean of all themes (the "no theme" token for an unconditional model)."""
        table = self.theme_table.weight  # (T + 1, E)
        T = self.config.num_themes
        if condition is None:
            row = table[:T].mean(dim=0) if T else table[T]
            return row.expand(batch, -1)
        if condition.dtype in (torch.int64, torch.int32):
            if condition.shape != (batch,) or bool(((condition < 0) | (condition > T)).any()):
                raise ValueError(f"theme indices must be ({batch},) in 0..{T}, got {condition.tolist()}")
            return table[condition]
        if condition.shape != (batch, T):
            raise ValueError(f"theme weights must be ({batch}, {T}), got {tuple(condition.shape)}")
        return condition.to(table.dtype) @ table[:T]

    def loss(self, images: torch.Tensor, condition: torch.Tensor | None,
             generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        """v-prediction loss of a batch of images in [-1, 1]; returns (loss, {"mse_x0": ...})."""
        B, device = images.shape[0], images.device
        # Stratified times: one per slice of [0, 1), so every batch spans the whole schedule.
        t = ((torch.arange(B) + torch.rand(B, generator=generator)) / B).to(device)  # (B,)
        noise = torch.randn(images.shape, generator=generator).to(device)
        T = self.config.num_themes
        if T and condition is not None:
            dropped = (torch.rand(B, generator=generator) < self.config.theme_dropout).to(device)
            condition = torch.where(dropped, torch.full_like(condition, T), condition)
        alpha, sigma = (a[:, None, None, None] for a in alpha_sigma(t, self.config))
        noisy = alpha * images + sigma * noise
        target = alpha * noise - sigma * images
        predicted = self.unet(noisy, t, self.theme_vectors(condition, B))
        loss = F.mse_loss(predicted.float(), target.float())
        x0_error = F.mse_loss((alpha * noisy - sigma * predicted).float(), images.float())
        return loss, {"mse_x0": float(x0_error.detach())}

    def predict_v(self, x: torch.Tensor, t: torch.Tensor, theme: torch.Tensor) -> torch.Tensor:
        """The denoiser's v, with classifier-free guidance when ``self.guidance`` != 1."""
        if self.guidance == 1.0 or not self.config.num_themes:
            return self.unet(x, t, theme)
        null = self.theme_table.weight[-1].expand_as(theme)
        conditioned, unconditioned = self.unet(torch.cat([x, x]), torch.cat([t, t]),
                                               torch.cat([theme, null])).chunk(2)
        return unconditioned + self.guidance * (conditioned - unconditioned)

    def denoise(self, x: torch.Tensor, start: float, steps: int, condition: torch.Tensor | None) -> torch.Tensor:
        """From time ``start`` (x is a sample of that time) to 0 in ``steps`` equal steps of the
        configured sampler; returns the clean pictures (B, 3, R, R) in [-1, 1]. Deterministic.

        Both samplers are the exact solution of the probability-flow ODE in log-SNR time lambda
        with the clean-picture estimate x0 held over a step: x_s = (sigma_s / sigma_t) x_t +
        alpha_s (1 - e^-h) D, h = lambda_s - lambda_t. DDIM takes D = this step's x0; DPM-Solver++
        2M (Lu et al. 2022) extrapolates it linearly from the last two x0 estimates, which costs no
        extra model call and is sharper in few steps."""
        B = x.shape[0]
        theme = self.theme_vectors(condition, B)
        # The schedule as Python floats: no device round trips, so the loop can be a CUDA graph.
        times = [start * (1.0 - i / steps) for i in range(steps + 1)]
        alphas, sigmas = (a.tolist() for a in alpha_sigma(torch.tensor(times, dtype=torch.float64), self.config))
        lambdas = [math.log(a / s) for a, s in zip(alphas, sigmas)]
        second_order = self.config.sampler == "dpm2m"
        x0, previous = x, None
        for i in range(steps):
            t = torch.full((B,), times[i], device=x.device, dtype=x.dtype)
            v = self.predict_v(x, t, theme)
            x0 = (alphas[i] * x - sigmas[i] * v).clamp(-1.0, 1.0)
            if i + 1 == steps:
                break
            h = lambdas[i + 1] - lambdas[i]
            estimate = x0
            if second_order and previous is not None:
                r = (lambdas[i] - lambdas[i - 1]) / h
                estimate = (1.0 + 0.5 / r) * x0 - (0.5 / r) * previous
            x = (sigmas[i + 1] / sigmas[i]) * x + alphas[i + 1] * (-math.expm1(-h)) * estimate
            previous = x0
        return x0

    def noise_from_latent(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D) latents -> (B, 3, R, R) starting noise of norm sqrt(D) (a standard normal draw's)."""
        R = self.config.resolution
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be (B, {self.latent_dim}), got {tuple(z.shape)}")
        scale = math.sqrt(self.latent_dim) / z.norm(dim=1, keepdim=True).clamp_min(1e-6)
        return (z * scale).reshape(-1, 3, R, R)

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """The generator contract: latents (B, D) -> pictures (B, 3, R, R) in [-1, 1] by DDIM."""
        return self.denoise(self.noise_from_latent(z), 1.0, self.sample_steps, condition)

    def refine(self, images: torch.Tensor, strength: float, noise: torch.Tensor,
               condition: torch.Tensor | None = None, steps: int | None = None) -> torch.Tensor:
        """Image to image: ``images`` (B, 3, R, R) in [-1, 1], noised to time ``strength`` in (0, 1]
        with ``noise`` (same shape), then denoised in about ``strength`` x ``steps`` steps; returns
        (B, 3, R, R). Low strength keeps the picture's layout, 1 ignores it."""
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1], got {strength}")
        steps = max(1, round((steps or self.sample_steps) * strength))
        alpha, sigma = (float(a) for a in alpha_sigma(torch.tensor([strength], dtype=torch.float64), self.config))
        return self.denoise(alpha * images + sigma * noise, strength, steps, condition)


class DiffusionTrainee(nn.Module):
    """What training holds: the trained model and its exponential moving average (the one shipped)."""

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = config
        self.online = DiffusionModel(config)
        self.ema = copy.deepcopy(self.online).requires_grad_(False)

    @torch.no_grad()
    def update_ema(self, decay: float) -> None:
        for averaged, current in zip(self.ema.parameters(), self.online.parameters()):
            averaged.lerp_(current, 1.0 - decay)
