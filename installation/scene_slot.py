"""The scene that is showing: its generator, switching with a crossfade, and hot reload.

A switch builds the new scene (read from its file afresh) on the generator its ``MODEL`` names,
and for ``crossfade_s`` both scenes run: where both draw with the same model the latents are
blended (one render: the picture morphs through latent space); otherwise both pictures are
rendered and blended in pixels. In development mode (``reload``) a saved scene file is loaded
again without a restart; an edit that fails to import, or raises in ``setup`` or in its first
frames, keeps the previous version running and logs why.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from installation.contracts import LatentState
from installation.errors import ConfigError, ModelError, SceneError
from installation.generator import GeneratorHost
from installation.generator_pool import GeneratorPool
from installation.scene_kit.blend import blend_pixels, smoothstep
from installation.scene_kit.tools import scene_tools_for
from models.latent_tools import slerp
from scenes import SceneLibrary
from scenes.base import Scene, SceneInputs

log = logging.getLogger(__name__)

RELOAD_CHECK_S = 0.5  # how often (wall seconds) development mode looks at the scene file


@dataclass
class _Outgoing:
    """The scene being faded out, still updated until the fade ends."""

    scene: Scene
    generator: GeneratorHost
    started_t: float | None = None  # media time of the first blended frame
    state: LatentState | None = None


@dataclass
class _Reloaded:
    """The version a hot reload replaced, kept until the new one has drawn a few frames."""

    scene: Scene
    frames_left: int


class SceneSlot:
    """The scene showing, the generator it draws with, and how to swap it for another."""

    PROBATION_FRAMES = 30  # a reloaded scene that raises this soon goes back to its old version

    def __init__(self, scene: Scene, generators: GeneratorPool, seed: int, library: SceneLibrary | None = None,
                 crossfade_s: float = 0.0, reload: bool = False,
                 params: dict[str, dict[str, float]] | None = None, fallback_scene: str = "dream_drift",
                 errors: Counter[str] | None = None) -> None:
        """Set up ``scene`` on its generator. ``params`` are parameter values per scene name (from
        the configuration); values set later over OSC join them, so a scene that is switched away
        from and back to (the attract mode, a playlist) keeps them. ``fallback_scene`` stands in
        for a scene that raises; faults are counted in ``errors`` (the run's error counts). Raises
        SceneError if the scene's setup raises or a parameter value is out of its range."""
        self.generators, self.seed = generators, seed
        self.fallback_scene = fallback_scene
        self.errors: Counter[str] = errors if errors is not None else Counter()
        self.last_state: LatentState | None = None  # the newest latent a scene produced
        self.library = library if library is not None else SceneLibrary()
        self.crossfade_s, self.reload = crossfade_s, reload
        self.params = {name: dict(values) for name, values in (params or {}).items()}
        self.generator = generators.host_for(scene.MODEL)
        self.scene = scene
        self._setup(scene, self.generator)
        self._outgoing: _Outgoing | None = None
        self._reloaded: _Reloaded | None = None
        self._file_stamp = self._stamp()
        self._next_reload_check = -math.inf

    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    @property
    def fading(self) -> bool:
        return self._outgoing is not None

    # faults: a scene is artist code, and the show goes on whatever it raises
    def safe_update(self, inputs: SceneInputs) -> LatentState:
        """The showing scene's latent; if it raised, its version before a reload, else the fallback
        scene's; if even that fails, the last latent. Raises only before any scene made a latent."""
        for _ in range(3):
            scene = self.scene
            try:
                self.last_state = self.update(inputs)
                return self.last_state
            except Exception:  # artist code: logged and counted in failed()
                if not self.failed(scene.name):
                    break
        if self.last_state is None:
            raise RuntimeError("no scene could produce a first latent")
        return self.last_state

    def safe_draw(self, state: LatentState, inputs: SceneInputs) -> np.ndarray:
        """The scene's picture; if its compose raised, the generator's plain render this frame
        and another scene from the next. A model's own error (ModelError) is not a scene fault."""
        try:
            return self.draw(state, inputs)
        except ModelError:
            raise
        except Exception:  # artist code: logged and counted in failed()
            self.failed(self.scene.name)
            return self.generator.render(state)

    def failed(self, name: str) -> bool:
        """Scene ``name`` raised (logged from the active exception): back to its version before a
        hot reload, else the fallback scene. Returns False when nothing else could be switched to."""
        self.errors["scene"] += 1
        if self.errors["scene"] <= 3:
            log.exception("scene %s raised", name)
        if self.revert_reload():
            return True
        return self.show(self.fallback_scene, f"scene {name} raised", fade=False)

    def show(self, name: str, why: str, fade: bool = True) -> bool:
        """Switch to scene ``name``, logging why; False if it is already showing or cannot be built
        (a broken scene file: the current one stays, and the failure is counted)."""
        if self.scene.name == name:
            return False
        try:
            self.switch(name, fade=fade)
        except Exception:  # artist code: a broken scene file keeps the current scene showing
            self.errors["scene_switch_failures"] += 1
            log.exception("cannot switch to scene %s", name)
            return False
        log.warning("%s: showing %s", why, name)
        return True

    @property
    def on_fallback(self) -> bool:
        """A scene has failed and the fallback scene is showing."""
        return bool(self.errors["scene"]) and self.scene.name == self.fallback_scene

    # switching
    def switch(self, name: str, fade: bool = True) -> None:
        """Build scene ``name`` and show it, crossfading from the current one when ``fade`` and a
        crossfade time is set. Raises SceneError; the current scene stays on failure."""
        scene = self.library.load(name)
        generator = self.generators.host_for(scene.MODEL)
        self._setup(scene, generator)
        self._end_fade()
        self._end_probation()
        if fade and self.crossfade_s > 0:
            self._outgoing = _Outgoing(self.scene, self.generator)
        else:
            _close(self.scene)
        self.scene, self.generator = scene, generator
        self._file_stamp = self._stamp()

    def step(self, offset: int, names: list[str] | None = None) -> None:
        """Switch ``offset`` places along ``names`` (default: every scene, by name)."""
        names = names or self.library.names()
        current = names.index(self.scene.name) if self.scene.name in names else -1 if offset > 0 else 0
        self.switch(names[(current + offset) % len(names)])

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self._setup(self.scene, self.generator)

    def set_param(self, name: str, value: float) -> None:
        """Set a parameter of the showing scene and remember it for that scene. Raises SceneError."""
        self.scene.set_param(name, value)
        self.params.setdefault(self.scene.name, {})[name] = float(value)

    # each frame
    def update(self, inputs: SceneInputs) -> LatentState:
        """The showing scene's latent (its errors propagate: the runtime decides what replaces it);
        the outgoing scene of a crossfade is updated too, and dropped if it raises."""
        state = self.scene.update(inputs)
        if self._reloaded is not None:
            self._reloaded.frames_left -= 1
            if self._reloaded.frames_left <= 0:
                self._end_probation()  # the new version has proved itself
        outgoing = self._outgoing
        if outgoing is not None:
            try:
                outgoing.state = outgoing.scene.update(inputs)
            except Exception:  # the outgoing scene is on its way out: cut to the new one
                log.exception("outgoing scene %s raised during the crossfade; cutting", outgoing.scene.name)
                self._end_fade()
        return state

    def draw(self, state: LatentState, inputs: SceneInputs) -> np.ndarray:
        """The picture for ``state``: rendered, composed by the scene, blended with the outgoing
        scene during a crossfade. Returns RGB uint8 (H, W, 3)."""
        outgoing = self._outgoing
        if outgoing is None or outgoing.state is None:
            return self.scene.compose(self.generator.render(state), inputs)
        if outgoing.started_t is None:
            outgoing.started_t = inputs.t
        amount = smoothstep((inputs.t - outgoing.started_t) / self.crossfade_s)
        if amount >= 1.0:
            self._end_fade()
            return self.scene.compose(self.generator.render(state), inputs)
        if outgoing.generator is self.generator:  # same model: morph through latent space
            z = slerp(np.asarray(outgoing.state.z, np.float32), np.asarray(state.z, np.float32), amount)
            return self.scene.compose(self.generator.render(dataclasses.replace(state, z=z)), inputs)
        incoming = self.scene.compose(self.generator.render(state), inputs)
        try:
            leaving = outgoing.scene.compose(outgoing.generator.render(outgoing.state), inputs)
        except Exception:  # as in update(): the outgoing scene's fault is not the new one's
            log.exception("outgoing scene %s raised during the crossfade; cutting", outgoing.scene.name)
            self._end_fade()
            return incoming
        return blend_pixels(leaving, incoming, amount)

    # development mode
    def reload_if_changed(self, wall_now: float) -> bool:
        """Development mode: if the showing scene's file was saved since it was loaded, load it
        again. Returns True if a new version is now showing; a failed load is logged and the
        current version keeps running."""
        if not self.reload or wall_now < self._next_reload_check:
            return False
        self._next_reload_check = wall_now + RELOAD_CHECK_S
        stamp = self._stamp()
        if stamp == self._file_stamp:
            return False
        self._file_stamp = stamp  # a broken save is tried once, then waits for the next save
        name, previous = self.scene.name, self.scene
        try:
            scene = self.library.load(name)
            if scene.MODEL != previous.MODEL:
                raise SceneError(f"scene {name} now names model {scene.MODEL!r}; restart to change models")
            self._setup(scene, self.generator)
        except Exception as error:  # noqa: BLE001 - any error in artist code keeps the old version
            log.error("reloading scene %s failed, keeping the running version: %s", name, error)
            return False
        self._end_probation()
        self.scene, self._reloaded = scene, _Reloaded(previous, self.PROBATION_FRAMES)
        log.info("scene %s reloaded from %s", name, self.library.path_of(name))
        return True

    def revert_reload(self) -> bool:
        """If the showing scene is a fresh reload, go back to the version it replaced; returns
        True if it did (the runtime calls this before falling back to another scene)."""
        if self._reloaded is None:
            return False
        log.error("reloaded scene %s raised; back to the version before the edit", self.scene.name)
        _close(self.scene)
        self.scene, self._reloaded = self._reloaded.scene, None
        return True

    def close(self) -> None:
        """Close every scene the slot holds (the runtime's end)."""
        self._end_fade()
        self._end_probation()
        _close(self.scene)

    def _end_fade(self) -> None:
        if self._outgoing is not None:
            _close(self._outgoing.scene)
            self._outgoing = None

    def _end_probation(self) -> None:
        if self._reloaded is not None:
            _close(self._reloaded.scene)
            self._reloaded = None

    def _setup(self, scene: Scene, generator: GeneratorHost) -> None:
        """The remembered parameter values, then ``setup`` (so it sees them)."""
        for name, value in self.params.get(scene.name, {}).items():
            try:
                scene.set_param(name, value)
            except SceneError as error:  # e.g. an edited scene narrowed a range: its default stands
                log.warning("scene %s: %s", scene.name, error)
        try:
            scene.setup(generator.latent_dim, self.seed, scene_tools_for(generator))
        except Exception as error:
            raise SceneError(f"scene {scene.name} failed to set up: {type(error).__name__}: {error}") from error

    def _stamp(self) -> tuple[int, int] | None:
        if not self.reload:
            return None
        try:
            stat = Path(self.library.path_of(self.scene.name)).stat()
        except (OSError, SceneError):
            return None
        return stat.st_mtime_ns, stat.st_size


def parse_scene_params(entries: tuple[str, ...], library: SceneLibrary) -> dict[str, dict[str, float]]:
    """``("body_latent.gain=1.5", ...)`` (``scene.params``) -> {scene: {parameter: value}}, each
    checked against the scene's declared range. Raises ConfigError naming the entry."""
    params: dict[str, dict[str, float]] = {}
    for entry in entries:
        target, equals, text = entry.partition("=")
        scene_name, dot, name = target.strip().partition(".")
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (equals and dot and math.isfinite(value)):
            raise ConfigError(f"scene.params entry {entry!r}: expected 'scene.parameter=number', e.g. 'body_latent.gain=1.5'")
        try:
            library.load(scene_name).set_param(name.strip(), value)
        except SceneError as error:
            raise ConfigError(f"scene.params entry {entry!r}: {error}") from None
        params.setdefault(scene_name, {})[name.strip()] = value
    return params


def _close(scene: Scene) -> None:
    try:
        scene.close()
    except Exception:  # artist code: a scene that cannot close must not stop the show
        log.exception("scene %s raised while closing", scene.name)
