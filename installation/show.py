"""Show control: what an operator (keys, OSC) can change between two frames.

``ShowControl.apply`` carries out one ``ControlCommand`` at a frame boundary: switches (overlay,
blackout, freeze), the scene (set / next / previous, its parameters, its seed), the beat (tap and
tempo), values from an outside model (Wekinator), and following another instance. Bad commands
are logged (rate-limited) and counted, never raised: the show goes on. Commanded scene switches
(a scene is built, and crossfaded) come at most one per ``scene_switch_interval_s``: one that
comes sooner waits for its turn, and a newer one replaces it.
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from installation.control import ControlCommand
from installation.errors import SceneError
from installation.gestures.errors import GestureError
from installation.gestures.live import LiveTeacher
from installation.painting import Painter, StyleError
from installation.painting.styles import glide_weights
from installation.quantize import BeatQuantiser, next_boundary, split_when
from installation.recorder import SessionRecorder
from installation.scene_slot import SceneSlot
from installation.schedule import Playlist
from installation.wekinator_control import WekinatorCommands

log = logging.getLogger(__name__)

FOLLOW_TIMEOUT_S = 1.0  # a follower goes back to its own scene when the leader falls silent
SWITCHES = ("overlay", "blackout", "freeze")
SCENE_SWITCHES = ("scene", "follow_scene")  # commands that build a scene: rate-limited


@dataclass
class ShowState:
    overlay: bool = False
    blackout: bool = False  # show black, keep perceiving
    freeze: bool = False  # hold the current picture and latent
    sleep: bool = False  # put to sleep by hand (staff page): black, no perception, like closing time
    test_pattern: bool = False  # a grid for aligning a projector instead of the picture
    tempo_bpm: float | None = None
    beat_origin_s: float = 0.0  # media time of the last tapped beat
    beats_before_origin: int = 0  # beats from the last downbeat to that tapped beat (bars for quantising)
    external: tuple[float, ...] = ()  # the latest /wek/outputs values
    followed_z: np.ndarray | None = None  # the leader's latent, when following another instance
    followed_at_s: float = -math.inf
    followed_beat_phase: float | None = None
    own_scene: str | None = None  # the scene showing before a leader was followed: back to it when the leader stops
    muted_outputs: frozenset[str] = frozenset()  # taught outputs kept from the piece (Wekinator's disableModelRunning)
    output_names: tuple[str, ...] = ()  # Wekinator's setOutputNames; out0, out1... otherwise

    def beats_done(self, t: float) -> float | None:
        """Beats since the last downbeat at ``t``, fractional; None while no tempo is known. A
        followed leader gives only its beat phase, so bars then count from its last beat."""
        if self.followed_beat_phase is not None:
            return self.followed_beat_phase
        if not self.tempo_bpm:
            return None
        return self.beats_before_origin + (t - self.beat_origin_s) * self.tempo_bpm / 60.0

    def beat_phase(self, t: float) -> float | None:
        """Where ``t`` falls in the current beat, 0..1; None while no tempo is known."""
        if self.followed_beat_phase is not None:
            return self.followed_beat_phase
        if not self.tempo_bpm:
            return None
        return ((t - self.beat_origin_s) * self.tempo_bpm / 60.0) % 1.0

    def unmuted(self, mapped: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        """Taught mappings' outputs without the muted ones."""
        if not self.muted_outputs:
            return mapped
        return {name: {k: v for k, v in outputs.items() if k not in self.muted_outputs} for name, outputs in mapped.items()}

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
class ShowControl(WekinatorCommands):
    state: ShowState
    scenes: SceneSlot
    errors: collections.Counter = field(default_factory=collections.Counter)
    recorder: SessionRecorder | None = None
    teacher: LiveTeacher | None = None
    playlist: Playlist | None = None  # next / previous move along it when it has entries
    painter: Painter | None = None  # the painting stage, when painting is on
    scene_switch_interval_s: float = 0.25  # media seconds between commanded scene switches (osc.scene_switch_rate)
    quantiser: BeatQuantiser = field(default_factory=BeatQuantiser)  # changes waiting for a beat or bar
    default_when: str = "now"  # when changes land that do not say (sync.quantize): now, beat or bar
    midi: object | None = None  # installation.midi.MidiControl, for MIDI-learn
    _last_switch_s: float = field(default=-math.inf, init=False)
    _waiting: ControlCommand | None = field(default=None, init=False)  # a scene switch waiting for its turn

    def apply(self, command: ControlCommand, now: float) -> bool:
        """Carry out ``command`` at media time ``now``. Returns False for a command it does not
        know (the caller decides); a known command with bad arguments is logged and counted."""
        handler = getattr(self, f"_do_{command.name}", None)
        if handler is None:
            return False
        if command.name.startswith("follow_"):
            self._leader_heard(now)
        command, when = split_when(command, self.default_when)
        if when != "now":
            due = next_boundary(now, when, self.state.tempo_bpm, self.state.beats_done(now), self.quantiser.beats_per_bar)
            if due is not None:  # no tempo known: it lands now
                self.quantiser.hold(command, due)
                return True
        if command.name in SCENE_SWITCHES:
            self._switch_scene(command, now)
        else:
            self._run(handler, command, now)
        return True

    def apply_waiting(self, now: float) -> None:
        """Called every frame: a leader that fell silent is let go, and a scene switch that waited
        runs once its turn has come."""
        self._watch_leader(now)
        for command in self.quantiser.due(now):  # its beat or bar has come (less the display's latency)
            self.apply(ControlCommand(command.name, (*command.args, "now"), command.origin, command.key), now)
        if self._waiting is not None and now - self._last_switch_s >= self.scene_switch_interval_s:
            command, self._waiting = self._waiting, None
            self._switch_scene(command, now)

    def _switch_scene(self, command: ControlCommand, now: float) -> None:
        if command.name == "follow_scene" and command.args[:1] == (self.scenes.scene.name,) and self._waiting is None:
            return  # a leader repeats its scene every frame: nothing to switch
        if now - self._last_switch_s < self.scene_switch_interval_s:
            if self._waiting is not None:
                self.errors["scene_switches_replaced"] += 1  # never shown: a newer request came first
            self._waiting = command
            return
        showing = self.scenes.scene
        self._run(getattr(self, f"_do_{command.name}"), command, now)
        if self.scenes.scene is not showing:
            self._last_switch_s = now

    def _run(self, handler: Callable[..., None], command: ControlCommand, now: float) -> None:
        try:
            handler(now, *command.args)
        except (SceneError, ValueError, TypeError) as error:
            self.errors["rejected_commands"] += 1
            if self.errors["rejected_commands"] <= 20 or self.errors["rejected_commands"] % 1000 == 0:
                log.warning("%s from %s rejected: %s", command.name, command.origin or "?", error)

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

    def _do_sleep(self, now: float, wanted: object = "toggle") -> None:
        self._switch("sleep", wanted)

    def _do_test_pattern(self, now: float, wanted: object = "toggle") -> None:
        self._switch("test_pattern", wanted)

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
        self._teacher().outputs = {self.output_name(i): float(v) for i, v in enumerate(values)}

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
    def _do_beat(self, now: float, mark: str = "") -> None:
        """A beat now; ``mark`` "downbeat" (MIDI Start) makes it a bar's first. Otherwise bars
        count on from the beats since the last one; after a pause of over two beats, anew."""
        state = self.state
        elapsed = state.beats_done(now)
        if mark == "downbeat" or elapsed is None or now - state.beat_origin_s > 2 * 60.0 / state.tempo_bpm:
            state.beats_before_origin = 0
        else:
            state.beats_before_origin = int(round(elapsed))
        state.beat_origin_s = now

    def _do_midi_learn(self, now: float, action: str, target: str, when: str = "now") -> None:
        """Arm MIDI-learn: the next control moved is bound to ``action`` ``target``; a parameter's
        binding sweeps the current scene's range for it."""
        if self.midi is None:
            raise ValueError("MIDI is off in this run ([midi] enabled = false)")
        low, high = 0.0, 1.0
        if action == "param":
            spec = next((p for p in self.scenes.scene.PARAMETERS if p.name == target), None)
            if spec is None:
                raise ValueError(f"scene {self.scenes.scene.name} has no parameter {target!r}")
            low, high = spec.low, spec.high
        from installation.midi import MidiError

        try:
            self.midi.learn(action, target, low, high, when)
        except MidiError as error:
            raise ValueError(str(error)) from None

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

    def _leader_heard(self, now: float) -> None:
        if self.state.own_scene is None:  # the first word from a leader: remember what we showed
            self.state.own_scene = self.scenes.scene.name
        self.state.followed_at_s = now

    def _watch_leader(self, now: float) -> None:
        """A leader silent for FOLLOW_TIMEOUT_S is let go: this instance's own latent, beat and scene
        come back (the scene through the same rate-limited switch as any other)."""
        state = self.state
        if state.own_scene is None or now - state.followed_at_s <= FOLLOW_TIMEOUT_S:
            return
        own, state.own_scene = state.own_scene, None
        state.followed_z, state.followed_beat_phase, state.followed_at_s = None, None, -math.inf
        if self._waiting is not None and self._waiting.name == "follow_scene":
            self._waiting = None  # the leader's last scene, still waiting: no longer wanted
        log.warning("the leader fell silent for %.1f s: back to this instance's own scene %s and beat",
                    FOLLOW_TIMEOUT_S, own)
        if self.scenes.scene.name != own:
            self._switch_scene(ControlCommand("scene", ("set", own), "follow ended"), now)

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
