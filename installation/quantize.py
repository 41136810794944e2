"""Beat-quantised changes: a scene, style or parameter change asked to land on the next beat or
bar waits here and is let go just before that boundary, early by the display's latency, so the
new picture is on the screen when the beat sounds.

The boundary is computed when the change arrives, from the show's tempo and beat (OSC /tempo and
/beat, MIDI clock, Ableton Link); with no tempo known a change runs at once. Bars are
``beats_per_bar`` beats from the last downbeat (MIDI Start, or the first beat after a pause).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from installation.control import ControlCommand

WHEN = ("now", "beat", "bar")
QUANTISABLE = ("scene", "scene_param", "style_set", "style_mix", "style_glide", "style_strength")
MAX_HELD = 64  # changes waiting for a boundary at most; beyond it the oldest is dropped (counted)


def split_when(command: ControlCommand, default: str) -> tuple[ControlCommand, str]:
    """A quantisable command whose last argument is "now", "beat" or "bar" -> the command without
    it, and when it should land; other commands land ``default`` (config ``sync.quantize``) or now."""
    if command.name not in QUANTISABLE:
        return command, "now"
    if command.args and command.args[-1] in WHEN:
        return ControlCommand(command.name, command.args[:-1], command.origin, command.key), command.args[-1]
    return command, default


def next_boundary(now: float, when: str, tempo_bpm: float | None, beats_done: float | None,
                  beats_per_bar: int) -> float | None:
    """The media time of the next beat or bar after ``now``; None when no tempo is known.

    ``beats_done``: beats since the last downbeat, fractional (2.25 = a quarter into the third)."""
    if not tempo_bpm or beats_done is None:
        return None
    beat_s = 60.0 / tempo_bpm
    unit = 1 if when == "beat" else beats_per_bar
    to_go = unit - math.fmod(beats_done, unit)
    if to_go < 1e-6:  # exactly on a boundary: that one has sounded, the next one
        to_go = unit
    return now + to_go * beat_s


@dataclass
class _Held:
    command: ControlCommand
    due_s: float


class BeatQuantiser:
    """Holds changes until their boundary. ``lead_s``: the display's latency (seconds from a
    frame being drawn to its being seen), by which each change is let go early."""

    def __init__(self, beats_per_bar: int = 4, lead_s: float = 0.0) -> None:
        self.beats_per_bar, self.lead_s = beats_per_bar, lead_s
        self._held: list[_Held] = []
        self.dropped = 0

    def hold(self, command: ControlCommand, due_s: float) -> None:
        """Keep ``command`` until ``due_s``; a newer one with the same key replaces it."""
        if command.key is not None:
            self._held = [h for h in self._held if h.command.key != command.key]
        self._held.append(_Held(command, due_s))
        if len(self._held) > MAX_HELD:
            self._held.pop(0)
            self.dropped += 1

    def due(self, now: float) -> list[ControlCommand]:
        """The held changes whose boundary, less the display latency, has come; in arrival order."""
        ready = [h for h in self._held if h.due_s - self.lead_s <= now + 1e-9]
        if ready:
            self._held = [h for h in self._held if h not in ready]
        return [h.command for h in ready]

    @property
    def waiting(self) -> int:
        return len(self._held)
