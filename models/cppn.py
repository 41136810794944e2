"""A compositional pattern-producing network (CPPN): an untrained generator of abstract images.

Every pixel is rendered independently by the same small MLP, fed the pixel's coordinates
(x, y, radius and a few fixed sinusoids of them). The latent enters as a per-image bias of the
first layer, so one image costs one matmul chain over its pixels, and moving z shifts the phase
of every first-layer unit at once: nearby latents give nearby images.

Weights come from a local ``torch.Generator`` seeded by ``CPPNConfig.seed``, never the global
RNG, so a seed names one artwork. The network is not trained; the init scales below were tuned
by eye so that images show smooth, colourful structure rather than flat colour or noise.

Tensors are kept channels-first over a flat pixel axis, (B, C, HW): the hidden groups of each
activation are then contiguous slices, and the output reshapes to (B, 3, R, R) without a copy.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.nn.utils import skip_init

# The input features per pixel: x, y, radius, then sin and cos of each at a few fixed frequencies.
_BASE_FEATURE_COUNT = 3
_PROBE_LATENTS = 8  # latents ~ N(0, I) used to calibrate the output layer
_PROBE_RESOLUTION = 64
_CHUNK_PIXELS = 16384  # pixels per CPU chunk at batch 1: (1, 32, 16384) float32 = 2 MiB
_MIN_CHUNK_PIXELS = 1024  # below this, per-op overhead outweighs the cache gain
_YUV_TO_RGB = torch.tensor([  # BT.601, analogue YUV
    [1.0, 0.0, 1.13983],
    [1.0, -0.39465, -0.58060],
    [1.0, 2.03211, 0.0],
], dtype=torch.float64)  # (3, 3)


@dataclass(frozen=True)
class CPPNConfig:
    """Hyper-parameters of a CPPN; together with the seed they fully determine its weights."""

    latent_dim: int = 16
    resolution: int = 256  # output is (B, 3, resolution, resolution)
    hidden: int = 32  # units per hidden layer, split into sin / tanh / gaussian thirds
    depth: int = 4  # hidden layers, the first of which takes the coordinates and the latent
    seed: int = 7
    coord_scale: float = 1.0  # the image spans [-coord_scale, coord_scale]; larger = zoom out
    feature_frequencies: tuple[float, ...] = (1.0,)  # sin/cos of x, y, r at these multiples of pi
    # Init scales: each is the std of a layer's weights times sqrt(fan_in). Tuned by eye at
    # resolution 256 over many seeds: smaller gives flat washes, larger gives noise-like detail.
    input_scale: float = 1.5  # coordinates -> first layer; larger = busier pattern
    input_bias: float = 1.0  # std of first-layer biases, moves the pattern off the centre
    weight_scale: float = 2.5  # hidden layers; larger = sharper, more folded shapes
    hidden_bias: float = 0.5  # std of hidden biases, shifts where each unit folds
    z_scale: float = 3.0  # latent -> first layer; with z ~ N(0, I), a step of 0.5 is visible
    luma_gain: float = 0.6  # std of brightness before the output tanh; larger = more contrast
    chroma_gain: float = 0.3  # the same for the two colour axes; larger = more saturated colour
    output_bias: float = 0.1  # std of a per-seed colour tint

    @property
    def feature_count(self) -> int:
        """Returns F, the number of per-pixel input features."""
        return _BASE_FEATURE_COUNT * (1 + 2 * len(self.feature_frequencies))


class CPPN(nn.Module):
    """Maps latents (B, D) to images (B, 3, R, R) in [-1, 1]; see the module docstring."""

    def __init__(self, config: CPPNConfig) -> None:
        """Draw the weights for ``config.seed``. Raises ValueError for impossible sizes."""
        super().__init__()
        if config.latent_dim < 1 or config.hidden < 3 or config.depth < 1:
            raise ValueError(f"CPPNConfig needs latent_dim >= 1, hidden >= 3, depth >= 1: {config}")
        self.config = config
        self.latent_dim = config.latent_dim
        self.resolution = config.resolution
        generator = torch.Generator().manual_seed(config.seed)
        H = config.hidden
        # skip_init: nn.Linear's own init would draw from (and advance) the global RNG.
        self.coord_in = skip_init(nn.Linear, config.feature_count, H)  # per-pixel, from coordinates
        self.latent_in = skip_init(nn.Linear, config.latent_dim, H, bias=False)  # per-image bias from z
        self.hidden_layers = nn.ModuleList(skip_init(nn.Linear, H, H) for _ in range(config.depth - 1))
        self.to_rgb = skip_init(nn.Linear, H, 3)
        self._init_weights(generator)
        self._calibrate_output(generator)
        self.register_buffer("coords", _coordinate_features(config.resolution, config),
                             persistent=False)  # (F, HW)

    def _init_weights(self, generator: torch.Generator) -> None:
        cfg = self.config
        _init_linear(self.coord_in, cfg.input_scale, generator, bias_std=cfg.input_bias)
        _init_linear(self.latent_in, cfg.z_scale, generator)
        for layer in self.hidden_layers:
            _init_linear(layer, cfg.weight_scale, generator, bias_std=cfg.hidden_bias)
        _init_linear(self.to_rgb, 1.0, generator)

    @torch.no_grad()
    def _calibrate_output(self, generator: torch.Generator) -> None:
        """Fold a colour grade into the last layer: one luma and two chroma channels, then RGB.

        Independent random R, G, B channels give garish primaries, and random hidden units have
        a non-zero mean (a gaussian is always positive) that tints every image of a seed. So the
        three outputs are measured over a few probe latents, centred, scaled to the luma and
        chroma gains, turned by a per-seed hue angle, and mapped YUV -> RGB, all folded into
        ``to_rgb`` at no per-frame cost. The probe runs in float64 so the float32 weights do not
        depend on the thread count.
        """
        cfg = self.config
        probe = copy.deepcopy(self).double()
        z = torch.randn(_PROBE_LATENTS, cfg.latent_dim, generator=generator, dtype=torch.float64)  # (P, D)
        coords = _coordinate_features(_PROBE_RESOLUTION, cfg).double()  # (F, hw)
        yuv = probe._pre_rgb(z, coords)  # (P, 3, hw)
        mean = yuv.mean(dim=(0, 2))  # (3,)
        std = yuv.std(dim=(0, 2)).clamp_min(1e-6)  # (3,)
        grade = _colour_grade(cfg, generator) / std  # (3, 3), rows RGB, columns normalised YUV
        tint = torch.randn(3, generator=generator, dtype=torch.float64) * cfg.output_bias  # (3,)
        self.to_rgb.weight.copy_(grade @ probe.to_rgb.weight)
        self.to_rgb.bias.copy_(grade @ (probe.to_rgb.bias - mean) + tint)

    def set_resolution(self, resolution: int) -> None:
        """Rebuild the coordinate buffer for a new output size; returns nothing.

        Raises ValueError for a resolution below 1. The weights are unchanged, so the same z draws
        the same picture, only sampled more coarsely or finely.
        """
        if resolution < 1:
            raise ValueError(f"resolution must be >= 1, got {resolution}")
        coords = _coordinate_features(resolution, self.config)
        self.coords = coords.to(device=self.coords.device, dtype=self.coords.dtype)  # (F, HW)
        self.resolution = resolution
        self.config = replace(self.config, resolution=resolution)

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Render a batch of latents; returns (B, 3, R, R) in [-1, 1].

        ``condition`` is accepted for the generator contract and ignored: a CPPN has none.
        Raises ValueError if z is not (B, latent_dim).
        """
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        B, R = z.shape[0], self.resolution
        HW = self.coords.shape[1]
        # On the CPU the chain is memory-bound: walking the pixels in chunks whose hidden
        # activations (B, H, chunk) fit in cache roughly halves the time. A GPU wants one launch.
        chunk = HW if self.coords.is_cuda else max(_CHUNK_PIXELS // B, _MIN_CHUNK_PIXELS)
        rgb = torch.empty(B, 3, HW, device=z.device, dtype=z.dtype)  # (B, 3, HW)
        for start in range(0, HW, chunk):
            rgb[:, :, start:start + chunk] = self._pre_rgb(z, self.coords[:, start:start + chunk])
        return _tanh(rgb).view(B, 3, R, R)

    def _pre_rgb(self, z: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """The last layer's output before tanh, (B, 3, N), for latents (B, D) at coords (F, N)."""
        per_pixel = self.coord_in.weight @ coords  # (H, N), the same for every image
        per_image = self.latent_in(z) + self.coord_in.bias  # (B, H), z enters only here
        h = _mixed_activation(per_pixel + per_image[:, :, None])  # (B, H, N)
        for layer in self.hidden_layers:
            h = _mixed_activation(_affine(layer, h))  # (B, H, N)
        return _affine(self.to_rgb, h)  # (B, 3, N)


def _coordinate_features(resolution: int, config: CPPNConfig) -> torch.Tensor:
    """Per-pixel input features, (F, HW) float32, pixel centres spanning [-scale, scale]."""
    scale = config.coord_scale
    half_step = 1.0 / resolution
    axis = torch.linspace(-1.0 + half_step, 1.0 - half_step, resolution) * scale  # (R,)
    y, x = torch.meshgrid(axis, axis, indexing="ij")  # (R, R) each, rows go down the image
    r = torch.sqrt(x * x + y * y) / math.sqrt(2.0)  # (R, R), 1 at the corners when scale is 1
    base = [x, y, r]
    features = list(base)
    for frequency in config.feature_frequencies:
        for value in base:
            features.append(torch.sin(math.pi * frequency * value))
            features.append(torch.cos(math.pi * frequency * value))
    return torch.stack(features).reshape(len(features), resolution * resolution)  # (F, HW)


def _colour_grade(config: CPPNConfig, generator: torch.Generator) -> torch.Tensor:
    """(3, 3) float64 map from unit-variance (Y, U, V) to RGB, with a per-seed hue rotation."""
    angle = float(torch.rand(1, generator=generator, dtype=torch.float64)) * 2.0 * math.pi
    cos, sin = math.cos(angle), math.sin(angle)
    gains_and_hue = torch.tensor([
        [config.luma_gain, 0.0, 0.0],
        [0.0, config.chroma_gain * cos, -config.chroma_gain * sin],
        [0.0, config.chroma_gain * sin, config.chroma_gain * cos],
    ], dtype=torch.float64)  # (3, 3)
    return _YUV_TO_RGB @ gains_and_hue


def _affine(layer: nn.Linear, h: torch.Tensor) -> torch.Tensor:
    """``layer`` applied to the channel axis of (B, C_in, N); returns (B, C_out, N)."""
    B = h.shape[0]
    return torch.baddbmm(layer.bias[:, None], layer.weight.expand(B, -1, -1), h)


def _init_linear(layer: nn.Linear, scale: float, generator: torch.Generator, bias_std: float = 0.0) -> None:
    """Gaussian weights of std scale / sqrt(fan_in), drawn from the local generator."""
    fan_in = layer.weight.shape[1]
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * (scale / math.sqrt(fan_in)))
        if layer.bias is not None:
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator) * bias_std)


def _mixed_activation(h: torch.Tensor) -> torch.Tensor:
    """Split the units of (B, H, N) into thirds: sin (stripes), tanh (edges), gaussian (blobs).

    Returns a tensor of the same shape. In inference the work is done in place on ``h``, which
    saves three full-size allocations per layer; with autograd on it is done out of place.
    """
    third = h.shape[1] // 3
    sin, tanh, gauss = h[:, :third], h[:, third:2 * third], h[:, 2 * third:]
    if torch.is_grad_enabled() and h.requires_grad:
        return torch.cat([torch.sin(sin), _tanh(tanh), torch.exp(-gauss * gauss)], dim=1)
    sin.sin_()
    _tanh(tanh)
    gauss.square_().neg_().exp_()
    return h


def _tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh(x) as 2 sigmoid(2x) - 1, in place unless autograd needs ``x``; returns the result.

    The same function to within float rounding (~1e-7), but torch's CPU sigmoid is about six
    times faster than its tanh, and tanh was a quarter of the frame time.
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return torch.sigmoid(2.0 * x) * 2.0 - 1.0
    return x.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)
