"""Show control: what an operator (keys, OSC) can change between two frames.

``ShowControl.apply`` carries out one ``ControlCommand`` at a frame boundary: switches (overlay,
blackout, freeze), the scene (set / next / previous, its parameters, its seed), the beat (tap and
tempo), values from an outside model (Wekinator), and following another instance. Bad commands
are logged (rate-limited) and counted, never raised: the show goes on.
"""

from __future__ import annotations

import collections
import logging
import math
from dataclasses import dataclass, field

import numpy as np

from installation.control import ControlCommand
from installation.errors import SceneError
from installation.gestures.errors import GestureError
from installation.gestures.live import LiveTeacher
from installation.painting import Painter, StyleError
from installation.painting.styles import glide_weights
from installation.recorder import SessionRecorder
from installation.scene_slot import SceneSlot
from installation.schedule import Playlist

log = logging.getLogger(__name__)

FOLLOW_TIMEOUT_S = 1.0  # a follower goes back to its own scene when the leader falls silent
SWITCHES = ("overlay", "blackout", "freeze")


@dataclass
class ShowState:
    overlay: bool = False
    blackout: bool = False  # show black, keep perceiving
    freeze: bool = False  # hold the current picture and latent
    tempo_bpm: float | None = None
    beat_origin_s: float = 0.0  # media time of the last tapped beat
    external: tuple[float, ...] = ()  # the latest /wek/outputs values
    followed_z: np.ndarray | None = None  # the leader's latent, when following another instance
    followed_at_s: float = -math.inf
    followed_beat_phase: float | None = None

    def beat_phase(self, t: float) -> float | None:
        """Where ``t`` falls in the current beat, 0..1; None while no tempo is known."""
        if self.followed_beat_phase is not None:
            return self.followed_beat_phase
        if not self.tempo_bpm:
            return None
        return ((t - self.beat_origin_s) * self.tempo_bpm / 60.0) % 1.0

    def followed_latent(self, t: float) -> np.ndarray | None:
        fresh = self.followed_z is not None and t - self.followed_at_s <= FOLLOW_TIMEOUT_S
        return self.followed_z if fresh else None


class NobodyWatch:
    """Attract mode: after ``after_s`` of media time with nobody present, say "enter"; as soon as
    someone is (presence at least ``present``), say "leave". ``after_s`` 0 turns it off."""

    def __init__(self, after_s: float, present: float = 0.5) -> None:
        self.after_s, self.present = after_s, present
        self.active = False
        self._last_seen_t: float | None = None

    def update(self, presence: float, now: float) -> str | None:
        if self._last_seen_t is None or presence >= self.present:
            self._last_seen_t = now
        if presence >= self.present and self.active:
            self.active = False
            return "leave"
        if not self.active and self.after_s > 0 and now - self._last_seen_t >= self.after_s:
            self.active = True
            return "enter"
        return None


@dataclass
class ShowControl:
    state: ShowState
    scenes: SceneSlot
    errors: collections.Counter = field(default_factory=collections.Counter)
    recorder: SessionRecorder | None = None
    teacher: LiveTeacher | None = None
    playlist: Playlist | None = None  # next / previous move along it when it has entries
    painter: Painter | None = None  # the painting stage, when painting is on

    def apply(self, command: ControlCommand, now: float) -> bool:
        """Carry out ``command`` at media time ``now``. Returns False for a command it does not
        know (the caller decides); a known command with bad arguments is logged and counted."""
        handler = getattr(self, f"_do_{command.name}", None)
        if handler is None:
            return False
        try:
            handler(now, *command.args)
        except (SceneError, ValueError, TypeError) as error:
            self.errors["rejected_commands"] += 1
            if self.errors["rejected_commands"] <= 20 or self.errors["rejected_commands"] % 1000 == 0:
                log.warning("%s from %s rejected: %s", command.name, command.origin or "?", error)
        return True

    # switches
    def _switch(self, name: str, wanted: object) -> None:
        current = getattr(self.state, name)
        setattr(self.state, name, _switch(current, wanted))
        log.info("%s %s", name, "on" if getattr(self.state, name) else "off")

    def _do_overlay(self, now: float, wanted: object = "toggle") -> None:
        self._switch("overlay", wanted)

    def _do_blackout(self, now: float, wanted: object = "toggle") -> None:
        self._switch("blackout", wanted)

    def _do_freeze(self, now: float, wanted: object = "toggle") -> None:
        self._switch("freeze", wanted)

    # scene
    def _do_scene(self, now: float, action: str, name: str = "") -> None:
        if action == "set":
            self.scenes.switch(name)
        elif action in ("next", "previous"):
            offset = 1 if action == "next" else -1
            if self.playlist is not None and self.playlist.entries:
                self.scenes.switch(self.playlist.move(offset, now))
            else:
                self.scenes.step(offset)
        else:
            raise ValueError(f"unknown scene action {action!r}")
        log.info("scene %s", self.scenes.scene.name)

    def _do_scene_param(self, now: float, name: str, value: float) -> None:
        self.scenes.set_param(str(name), float(value))

    def _do_seed(self, now: float, seed: int) -> None:
        if not 0 <= int(seed) < 2**31:
            raise ValueError(f"seed {seed} out of range 0..2147483647")
        self.scenes.reseed(int(seed))

    # recording
    def _do_record(self, now: float, action: str = "toggle") -> None:
        if self.recorder is None:
            raise ValueError("recording is not available in this run")
        wanted = (not self.recorder.recording) if action == "toggle" else action == "start"
        if action not in ("start", "stop", "toggle"):
            raise ValueError(f"unknown record action {action!r}")
        self.recorder.start() if wanted else self.recorder.stop()

    # teaching gestures (Wekinator-style: record, stop, train, run)
    def _teacher(self) -> LiveTeacher:
        if self.teacher is None:
            raise ValueError("gestures are off in this run ([gestures] enabled = false)")
        return self.teacher

    def _do_gesture_record(self, now: float, name: str, kind: str = "dynamic", *targets: float) -> None:
        try:
            self._teacher().start(name, kind, tuple(targets))
        except GestureError as error:
            raise ValueError(str(error)) from None

    def _do_gesture_stop(self, now: float) -> None:
        try:
            self._teacher().stop()
        except GestureError as error:
            raise ValueError(str(error)) from None

    def _do_gesture_train(self, now: float) -> None:
        try:
            self._teacher().train()
        except GestureError as error:
            raise ValueError(str(error)) from None

    def _do_gesture_run(self, now: float, wanted: object = True) -> None:
        teacher = self._teacher()
        teacher.recognizer.learned_enabled = _switch(teacher.recognizer.learned_enabled, wanted)

    def _do_gesture_outputs(self, now: float, *values: float) -> None:
        self._teacher().outputs = {f"out{i}": float(v) for i, v in enumerate(values)}

    # painting: a bad style is rejected (logged, counted) and the current one stays
    def _painter(self) -> Painter:
        if self.painter is None:
            raise ValueError("painting is off in this run ([paint] enabled = false, or its networks are missing)")
        return self.painter

    def _do_style_set(self, now: float, spec: str) -> None:
        try:
            self._painter().set_style(str(spec))
        except StyleError as error:
            raise ValueError(str(error)) from None

    def _do_style_mix(self, now: float, spec: str) -> None:
        weights: dict[str, float] = {}
        for part in str(spec).split(","):
            name, _, weight = part.strip().rpartition(":")
            if not name or name == "builtin":  # "builtin:7" alone, without a weight
                name, weight = part.strip(), "1"
            try:
                weights[name] = weights.get(name, 0.0) + float(weight)
            except ValueError:
                raise ValueError(f"style mix {spec!r}: expected name:weight,name:weight") from None
        try:
            self._painter().set_mix(weights)
        except StyleError as error:
            raise ValueError(str(error)) from None

    def _do_style_glide(self, now: float, position: float) -> None:
        painter = self._painter()
        if not painter.config.styles:
            raise ValueError("/style/glide needs paint.styles in config")
        try:
            painter.set_mix(glide_weights(painter.config.styles, float(position)))
        except StyleError as error:
            raise ValueError(str(error)) from None

    def _do_style_strength(self, now: float, strength: float) -> None:
        try:
            self._painter().set_strength(float(strength))
        except StyleError as error:
            raise ValueError(str(error)) from None

    # beat
    def _do_beat(self, now: float) -> None:
        self.state.beat_origin_s = now

    def _do_tempo(self, now: float, bpm: float) -> None:
        if not (bpm == 0 or 20.0 <= bpm <= 400.0):
            raise ValueError(f"tempo {bpm} bpm out of range 20..400 (0 = none)")
        if self.state.tempo_bpm and bpm:  # keep the phase continuous across a tempo change
            phase = self.state.beat_phase(now) or 0.0
            self.state.beat_origin_s = now - phase * 60.0 / bpm
        self.state.tempo_bpm = float(bpm) or None

    # outside models and other instances
    def _do_external(self, now: float, *values: float) -> None:
        self.state.external = tuple(float(v) for v in values)

    def _do_follow_latent(self, now: float, *values: float) -> None:
        if len(values) != self.scenes.latent_dim:
            raise ValueError(f"followed latent has {len(values)} values, this generator takes {self.scenes.latent_dim}")
        self.state.followed_z = np.asarray(values, np.float32)
        self.state.followed_at_s = now

    def _do_follow_scene(self, now: float, name: str) -> None:
        if name != self.scenes.scene.name:
            self.scenes.switch(name)

    def _do_follow_beat(self, now: float, phase: float) -> None:
        self.state.followed_beat_phase = float(phase) % 1.0 if phase >= 0 else None


def _switch(current: bool, wanted: object) -> bool:
    """``toggle``, on/off/true/false/1/0 as text, or a bool or number -> the new switch state."""
    if wanted == "toggle":
        return not current
    if isinstance(wanted, str):
        return wanted.strip().lower() in ("on", "true", "1", "yes")
    return bool(wanted)
