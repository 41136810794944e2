"""The scene interface. A scene is an artwork: it reads features and decides the latent and
parameters. It never opens a camera, a socket or a window."""

from __future__ import annotations

import abc

from installation.contracts import LatentState
from installation.features import Features


class Scene(abc.ABC):
    """Built once per run; ``setup`` is told the generator's latent size before the first frame."""

    name: str = "scene"

    @abc.abstractmethod
    def setup(self, latent_dim: int, seed: int) -> None:
        """Allocate what the scene needs for a latent of ``latent_dim`` dimensions."""

    @abc.abstractmethod
    def update(self, features: Features, t: float, dt: float) -> LatentState:
        """The latent for time ``t`` (seconds, media time), ``dt`` after the previous call."""
