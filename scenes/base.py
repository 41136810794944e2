"""The scene interface. A scene is an artwork: it reads features (and the beat, and outside
controllers' values) and decides the latent and its parameters. It never opens a camera, a socket
or a window."""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field

from installation.contracts import LatentState
from installation.errors import SceneError
from installation.features import Features


@dataclass(frozen=True)
class ParamSpec:
    """A parameter a scene declares: settable from config.toml and over OSC within [low, high]."""

    name: str
    low: float
    high: float
    default: float
    description: str


@dataclass(frozen=True)
class SceneInputs:
    """Everything a scene may read in one frame."""

    features: Features
    t: float  # media time, seconds
    dt: float  # seconds since the previous update
    beat_phase: float | None = None  # 0 at a beat, rising to 1 just before the next; None = no tempo
    tempo_bpm: float | None = None
    external: tuple[float, ...] = ()  # values from an outside model, e.g. Wekinator's /wek/outputs
    gestures: tuple = ()  # GestureEvents (start / hold / end) of this frame
    mapped: dict = field(default_factory=dict)  # taught continuous mappings: {mapping: {output: value}}


class Scene(abc.ABC):
    """Built once per run (and again when the show switches to it); ``setup`` is told the
    generator's latent size before the first frame."""

    name: str = "scene"
    PARAMETERS: tuple[ParamSpec, ...] = ()

    def __init__(self) -> None:
        self.params: dict[str, float] = {spec.name: spec.default for spec in self.PARAMETERS}

    def set_param(self, name: str, value: float) -> None:
        """Set a declared parameter. Raises SceneError for an unknown name or a value out of range."""
        spec = next((p for p in self.PARAMETERS if p.name == name), None)
        if spec is None:
            known = ", ".join(p.name for p in self.PARAMETERS) or "none"
            raise SceneError(f"scene {self.name} has no parameter '{name}' (parameters: {known})")
        if not (math.isfinite(value) and spec.low <= value <= spec.high):
            raise SceneError(f"{self.name}.{name} = {value}: expected a number in {spec.low}..{spec.high}")
        self.params[name] = float(value)

    @abc.abstractmethod
    def setup(self, latent_dim: int, seed: int) -> None:
        """Allocate what the scene needs for a latent of ``latent_dim`` dimensions."""

    @abc.abstractmethod
    def update(self, inputs: SceneInputs) -> LatentState:
        """The latent for this frame."""
