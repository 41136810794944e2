"""MIDI in: controllers (notes and CCs bound to scene parameters, scenes and styles, with
MIDI-learn) and MIDI clock (tempo and beat), through mido on python-rtmidi.

Everything a MIDI port sends becomes a ``ControlCommand`` in the runtime's command inbox, the
same validated, bounded inbox OSC uses, applied at a frame boundary: a CC is "latest wins" per
controller, so a knob turned fast costs the loop one command a frame. mido parses the bytes
(a malformed message never reaches us); what we do with it is checked again here.

MIDI clock: 24 ticks a beat. Start (and Continue after a Song Position on a bar) marks a
downbeat; every 24th tick after it is a beat (``beat`` command) and the tempo is the mean tick
interval over the last beat (``tempo`` command, sent when it moves by more than 0.5 bpm).

Bindings live in a JSON file (``midi.bindings``): MIDI-learn (``/midi/learn``) arms a binding,
the next CC or note that arrives is bound to it, and the file is rewritten at once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from installation.control import CommandInbox, ControlCommand
from installation.errors import InstallationError

log = logging.getLogger(__name__)

CLOCKS_PER_BEAT = 24  # MIDI clock's fixed resolution
ACTIONS = ("param", "scene", "style")  # what a control can be bound to
WHEN = ("now", "beat", "bar")  # when a bound change lands (see installation/quantize.py)
TEMPO_EPSILON_BPM = 0.5  # tempo changes smaller than this are clock jitter, not sent


class MidiError(InstallationError):
    """A MIDI port asked for in the configuration is missing, or a bindings file is unreadable."""


@dataclass(frozen=True)
class Binding:
    """One control -> one action. ``kind`` "cc" or "note", ``channel`` 0..15, ``number`` 0..127.

    ``param``: the CC's 0..127 moves scene parameter ``target`` across ``low``..``high`` (a
    note-on sets ``high``); ``scene``: a note-on (or a CC crossing 64 upwards) switches to scene
    ``target`` ("next" and "previous" too); ``style``: likewise paints in style ``target``.
    """

    kind: str
    channel: int
    number: int
    action: str
    target: str
    low: float = 0.0
    high: float = 1.0
    when: str = "now"

    def __post_init__(self) -> None:
        if self.kind not in ("cc", "note") or not 0 <= self.channel <= 15 or not 0 <= self.number <= 127:
            raise MidiError(f"MIDI binding {self}: expected kind cc|note, channel 0..15, number 0..127")
        if self.action not in ACTIONS or self.when not in WHEN:
            raise MidiError(f"MIDI binding {self}: expected action in {ACTIONS} and when in {WHEN}")

    @property
    def control(self) -> tuple[str, int, int]:
        return (self.kind, self.channel, self.number)


def load_bindings(path: Path) -> dict[tuple[str, int, int], Binding]:
    """The bindings in ``path`` (a JSON list); none when it does not exist yet. Raises MidiError
    naming the file for one that can't be read."""
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        bindings = [Binding(**entry) for entry in entries]
    except (OSError, ValueError, TypeError) as error:
        raise MidiError(f"MIDI bindings file {path} is unreadable: {error}; fix or delete it") from None
    return {binding.control: binding for binding in bindings}


def save_bindings(path: Path, bindings: dict[tuple[str, int, int], Binding]) -> None:
    """Write the bindings atomically (beside the file, then renamed): never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps([asdict(b) for b in bindings.values()], indent=1), encoding="utf-8")
    os.replace(partial, path)


class MidiClock:
    """MIDI clock ticks -> beats and tempo. ``now`` is seconds on any steady clock."""

    def __init__(self) -> None:
        self.running = False
        self._ticks = 0  # since the last downbeat
        self._tick_times: list[float] = []  # the last beat's worth, newest last
        self.tempo_bpm: float | None = None

    def start(self) -> None:
        self.running, self._ticks, self._tick_times = True, 0, []

    def stop(self) -> None:
        self.running = False

    def tick(self, now: float) -> tuple[bool, float | None]:
        """One clock tick; returns (a beat starts now, the tempo when it changed else None)."""
        self._tick_times.append(now)
        del self._tick_times[:-(CLOCKS_PER_BEAT + 1)]  # bounded: one beat of intervals
        beat = self.running and self._ticks % CLOCKS_PER_BEAT == 0
        self._ticks += 1
        changed = None
        if len(self._tick_times) == CLOCKS_PER_BEAT + 1:
            interval = (self._tick_times[-1] - self._tick_times[0]) / CLOCKS_PER_BEAT
            if interval > 0:
                bpm = 60.0 / (interval * CLOCKS_PER_BEAT)
                if 20.0 <= bpm <= 400.0 and (self.tempo_bpm is None or abs(bpm - self.tempo_bpm) > TEMPO_EPSILON_BPM):
                    self.tempo_bpm = changed = bpm
        return beat, changed


class MidiControl:
    """Turns MIDI messages into commands for ``inbox``. ``handle`` is what the port's callback
    calls (the rtmidi thread), and what tests call with their own messages and times."""

    def __init__(self, inbox: CommandInbox, bindings_path: Path, follow_clock: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.inbox, self.bindings_path, self.follow_clock, self._clock = inbox, bindings_path, follow_clock, clock
        self.bindings = load_bindings(bindings_path)
        self.midi_clock = MidiClock()
        self.counters = {"messages": 0, "commands": 0, "inbox_full": 0, "unbound": 0, "learned": 0}
        self._lock = threading.Lock()  # learning is armed from the loop's thread, consumed on MIDI's
        self._learning: dict | None = None
        self._downbeat = False
        self._port = None

    # the loop's side
    def learn(self, action: str, target: str, low: float = 0.0, high: float = 1.0, when: str = "now") -> None:
        """Arm MIDI-learn: the next CC or note that arrives is bound to ``action`` ``target``.
        Raises MidiError for an unknown action or ``when``."""
        Binding("cc", 0, 0, action, target, low, high, when)  # checks the fields before arming
        with self._lock:
            self._learning = {"action": action, "target": target, "low": low, "high": high, "when": when}
        log.info("MIDI learn: move a control to bind it to %s %s", action, target)

    # the MIDI thread's side
    def handle(self, message, now: float | None = None) -> None:
        """One mido message. Never raises: a bad binding is logged and counted."""
        now = self._clock() if now is None else now
        self.counters["messages"] += 1
        kind = message.type
        if kind in ("clock", "start", "continue", "stop"):
            self._clock_message(kind, now)
            return
        if kind == "songpos":
            self.midi_clock._ticks = message.pos * 6  # song position counts sixteenths (6 ticks each)
            return
        if kind not in ("control_change", "note_on"):
            return
        control = ("cc", message.channel, message.control) if kind == "control_change" else (
            "note", message.channel, message.note)
        value = message.value if kind == "control_change" else message.velocity
        binding = self._learned(control) or self.bindings.get(control)
        if binding is None:
            self.counters["unbound"] += 1
            return
        command = self._command(binding, value)
        if command is not None:
            self._put(command)

    def _learned(self, control: tuple[str, int, int]) -> Binding | None:
        with self._lock:
            armed, self._learning = self._learning, None
        if armed is None:
            return None
        binding = Binding(*control, **armed)
        self.bindings[control] = binding
        try:
            save_bindings(self.bindings_path, dict(self.bindings))
        except OSError as error:  # the binding works for this run; it is lost at the next start
            log.error("MIDI learn: cannot save %s: %s", self.bindings_path, error)
        self.counters["learned"] += 1
        log.info("MIDI learn: %s channel %d number %d -> %s %s", *control, binding.action, binding.target)
        return binding

    def _command(self, binding: Binding, value: int) -> ControlCommand | None:
        origin = f"midi {binding.kind} {binding.channel}:{binding.number}"
        when = () if binding.when == "now" else (binding.when,)
        if binding.action == "param":
            if binding.kind == "note" and value == 0:
                return None  # note-off (as a zero-velocity note-on): the parameter stays
            scaled = binding.low + (binding.high - binding.low) * (value / 127.0 if binding.kind == "cc" else 1.0)
            return ControlCommand("scene_param", (binding.target, scaled, *when), origin, f"midi\x00{binding.control}")
        pressed = value >= 64 if binding.kind == "cc" else value > 0
        if not pressed:
            return None  # a button's release, a knob's lower half: nothing to switch
        if binding.action == "scene":
            args = (binding.target,) if binding.target in ("next", "previous") else ("set", binding.target)
            return ControlCommand("scene", (*args, *when), origin)
        return ControlCommand("style_set", (binding.target, *when), origin)

    def _clock_message(self, kind: str, now: float) -> None:
        if not self.follow_clock:
            return
        if kind in ("start", "continue"):
            self.midi_clock.start()
            self._downbeat = True
        elif kind == "stop":
            self.midi_clock.stop()
        else:
            beat, tempo = self.midi_clock.tick(now)
            if tempo is not None:
                self._put(ControlCommand("tempo", (tempo,), "midi clock", "midi\x00tempo"))
            if beat:  # the first beat after Start is a bar's first
                mark, self._downbeat = ("downbeat",) if self._downbeat else (), False
                self._put(ControlCommand("beat", mark, "midi clock", "midi\x00beat"))

    def _put(self, command: ControlCommand) -> None:
        if self.inbox.put(command):
            self.counters["commands"] += 1
        else:
            self.counters["inbox_full"] += 1

    # the port
    def open(self, port_name: str) -> MidiControl:
        """Listen on the first input port whose name contains ``port_name`` ("" = the first port).
        Raises MidiError with the ports there are, or when there is no MIDI system at all."""
        import mido  # imported here: a run without [midi] needs neither mido nor ALSA

        try:
            names = mido.get_input_names()
        except (OSError, RuntimeError, SystemError) as error:
            raise MidiError(f"no MIDI system here ({error}); plug in a MIDI interface or set midi.enabled = false") from None
        chosen = next((name for name in names if port_name in name), None)
        if chosen is None:
            raise MidiError(f"no MIDI input port matching {port_name!r} (ports: {', '.join(names) or 'none'}); "
                            "set midi.input to one of them")
        self._port = mido.open_input(chosen, callback=self.handle)
        log.info("listening for MIDI on %s", chosen)
        return self

    def on_frame(self, report: object) -> None:
        """A frame listener only to be closed with the loop; MIDI arrives on rtmidi's own thread."""

    def close(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None
