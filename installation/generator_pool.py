"""One generator per model the show draws with.

Scenes may name the model they are made for (``Scene.MODEL``: the air sketch needs the VAE's
encoder, the themes scene a conditional GAN); the others draw with the configured
``generator.model``. The pool builds each model once, on first use, and warms it up there, so
a scene switch costs a model load only the first time. A model that cannot be loaded falls back
to the CPPN like the configured one does (``GeneratorHost``), so the show goes on.
"""

from __future__ import annotations

import dataclasses
import logging

from installation.config import GeneratorConfig
from installation.generator import GeneratorHost

log = logging.getLogger(__name__)


class GeneratorPool:
    """The generators of this run, keyed by model name (None = the configured model)."""

    def __init__(self, config: GeneratorConfig, default: GeneratorHost | None = None) -> None:
        self.config = config
        self.default = default if default is not None else GeneratorHost(config)
        self._hosts: dict[str, GeneratorHost] = {config.model: self.default}
        self._warm: set[str] = set()  # the models whose generator has rendered its warm-up frame

    def host_for(self, model: str | None) -> GeneratorHost:
        """The generator for ``model`` (None = the configured one), built and warmed up on first use."""
        name = self.config.model if model is None else model
        if name not in self._hosts:
            log.info("loading generator '%s' for a scene", name)
            self._hosts[name] = GeneratorHost(dataclasses.replace(self.config, model=name))
            self._warm_up(name)
        return self._hosts[name]

    def hosts(self) -> list[GeneratorHost]:
        """Every generator built so far, the configured one first."""
        return list(self._hosts.values())

    def warm_up(self) -> None:
        """Warm up every generator built so far and not warmed yet (the runtime does this before
        the first frame)."""
        for name in self._hosts:
            self._warm_up(name)

    def _warm_up(self, name: str) -> None:
        if name not in self._warm:
            self._hosts[name].warm_up()
            self._warm.add(name)
