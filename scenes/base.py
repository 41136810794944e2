"""The scene interface. A scene is an artwork: it reads features (and the beat, and outside
controllers' values) and decides the latent and its parameters. It never opens a camera, a socket
or a window."""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from installation.contracts import Frame, LatentState, TrackedBody
from installation.errors import SceneError
from installation.faces import FaceReading
from installation.feature_specs import Features

if TYPE_CHECKING:  # types only
    from installation.audience.crowd import Audience
    from installation.audience.zones import ZoneEvent
    from installation.audio_analysis import AudioFeatures
    from installation.gestures.events import GestureEvent


@dataclass(frozen=True)
class ParamSpec:
    """A parameter a scene declares: settable from config.toml and over OSC within [low, high]."""

    name: str
    low: float
    high: float
    default: float
    description: str


def refine_param(default: float) -> ParamSpec:
    """How far a model that refines (image to image) may depart from the scene's source picture."""
    return ParamSpec("refine", 0.05, 1.0, default,
                     "image to image: 0.05 keeps the source picture's layout, 1 draws anew from the noise")


def paint_param(default: float) -> ParamSpec:
    """The parameter every built-in scene has: whether the painting stage paints it."""
    return ParamSpec("paint", 0.0, 1.0, default,
                     "1 = painted in the current style by the painting stage ([paint], /style/*); 0 = as generated")


@dataclass(frozen=True)
class SceneInputs:
    """Everything a scene may read in one frame."""

    features: Features
    t: float  # media time, seconds
    dt: float  # seconds since the previous update
    beat_phase: float | None = None  # 0 at a beat, rising to 1 just before the next; None = no tempo
    tempo_bpm: float | None = None
    external: tuple[float, ...] = ()  # values from an outside model, e.g. Wekinator's /wek/outputs
    gestures: tuple[GestureEvent, ...] = ()  # gesture events (start / hold / end) of this frame
    mapped: dict[str, dict[str, float]] = field(default_factory=dict)  # taught mappings: {mapping: {output: value}}
    frame: Frame | None = None  # the newest camera frame (BGR, already mirrored if configured); None before the first
    body: TrackedBody | None = None  # the smoothed visitor (landmarks in normalised image units)
    zone_events: tuple[ZoneEvent, ...] = ()  # (zone, person_id, "enter" | "leave") this frame, with a venue's zones
    audience: Audience | None = None  # with several visitors: the newest (ids, anchors, primary)
    face: FaceReading = FaceReading()  # with perception.faces: the newest face (docs/features.md, "Face")
    audio: AudioFeatures | None = None  # with [audio] on: level, bands, onset, tempo

    def outside_values(self) -> tuple[float, ...]:
        """Values from outside models, 0..1 each, in a stable order: Wekinator's ``/wek/outputs``,
        then every taught mapping's outputs (mappings by name, outputs in their taught order)."""
        taught = tuple(float(value) for name in sorted(self.mapped) for value in self.mapped[name].values())
        return self.external + taught


@dataclass(frozen=True)
class SceneTools:
    """What a scene may use of the generator it is drawn with (given to ``setup``).

    ``encode`` and ``render`` run the model on the loop's own thread, so a scene pays for each
    call in frame time: call them at most once or twice a frame.
    """

    latent_dim: int
    resolution: int  # the generator's square output size, pixels
    themes: tuple[str, ...] = ()  # a conditional model's theme names; LatentState.params["theme"] picks one
    # RGB uint8 (H, W, 3), any size -> the latent (D,) float32 that draws it; None if the model has no encoder
    encode: Callable[[np.ndarray], np.ndarray] | None = None
    # a LatentState -> RGB uint8 (resolution, resolution, 3): an extra picture from the same model
    render: Callable[[LatentState], np.ndarray] | None = None
    # whether the model honours LatentState.source (image to image: a diffusion model)
    refines: bool = False
    # k -> the model's k most meaningful latent directions (k, D) float32, unit length (GANSpace, see
    # models.latent_tools); computed once per model and cached on disk. None: the scene picks its own
    directions: Callable[[int], np.ndarray] | None = None


class Scene(abc.ABC):
    """Built once per run (and again when the show switches to it); ``setup`` is told the
    generator's latent size before the first frame.

    ``MODEL`` names the generator the scene is made for (a shipped model such as "vae_art64");
    None draws with the configured ``generator.model``. ``compose`` may paint over the generated
    picture (a sketch, the visitor's silhouette); by default it leaves it as it is.
    """

    name: str = "scene"
    description: str = ""  # the scene file's docstring (set when it is loaded)
    PARAMETERS: tuple[ParamSpec, ...] = ()
    MODEL: str | None = None
    # True: the picture is a whole artwork (an emoji, a drawing on its sheet), shown entire on a
    # matte of its border colour where the screen's shape differs; False: cropped to fill the screen.
    WHOLE_PICTURE: bool = False
    NEEDS_FACES: bool = False  # reads ``inputs.face``: the show turns perception.faces on for it

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
    def setup(self, latent_dim: int, seed: int, tools: SceneTools | None = None) -> None:
        """Allocate what the scene needs for a latent of ``latent_dim`` dimensions; ``tools`` gives
        access to the generator (None in unit tests that drive a scene without one)."""

    @abc.abstractmethod
    def update(self, inputs: SceneInputs) -> LatentState:
        """The latent for this frame."""

    def close(self) -> None:  # noqa: B027 - optional for a scene: most open nothing
        """Release what ``setup`` opened (a MediaPipe graph, say); called when the scene is replaced."""

    def compose(self, image: np.ndarray, inputs: SceneInputs) -> np.ndarray:
        """The picture to show, given the generated RGB uint8 ``image`` (H, W, 3) for this frame's
        latent. Returns ``image`` itself, or a new array of the same shape and dtype."""
        return image
