"""Generator models and the registry that builds one from ``GeneratorConfig``.

A generator maps a latent batch (B, D), plus an optional condition, to images (B, 3, H, W) in
[-1, 1]. New kinds (VAE, GAN checkpoints) register a builder in ``_BUILDERS``; nothing else in
the runtime switches on a model's name.
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import torch
from torch import Tensor

from installation.config import GeneratorConfig
from installation.errors import ModelError
from models.cppn import CPPN, CPPNConfig


@runtime_checkable
class Generator(Protocol):
    """The generator contract: what ``GeneratorHost`` relies on."""

    latent_dim: int  # D
    resolution: int  # H == W of the output

    def forward(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        """Map z (B, D) and an optional condition to images (B, 3, H, W) in [-1, 1]."""
        ...


def _build_cppn(config: GeneratorConfig) -> torch.nn.Module:
    return CPPN(CPPNConfig(latent_dim=config.latent_dim, resolution=config.resolution, seed=config.seed))


_BUILDERS: dict[str, Callable[[GeneratorConfig], torch.nn.Module]] = {
    "cppn": _build_cppn,
}


def known_models() -> list[str]:
    """Returns the names ``GeneratorConfig.model`` may take, sorted."""
    return sorted(_BUILDERS)


def build_generator(config: GeneratorConfig) -> torch.nn.Module:
    """Build the model named by ``config.model``; returns it on the CPU, in training mode.

    Raises ModelError when the name is unknown.
    """
    builder = _BUILDERS.get(config.model)
    if builder is None:
        raise ModelError(f"unknown model '{config.model}' (known: {', '.join(known_models())})")
    return builder(config)
