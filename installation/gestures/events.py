"""The event layer: per-frame confidences -> start / hold / end events, each gesture once.

A recogniser says, every frame, how confident it is that a gesture is being made (0..1). The
``EventGate`` of that gesture turns the wobbly signal into discrete events:

- *start* when the confidence reaches ``on_threshold`` and stays there for ``min_on_s``;
- *hold* every ``hold_interval_s`` while it stays above ``off_threshold`` (hysteresis: a
  confidence wobbling between the two thresholds neither ends nor restarts the gesture);
- *end* once it has stayed below ``off_threshold`` for ``release_s`` (a one-frame dropout of the
  tracker does not end a held gesture);
- then nothing for ``refractory_s``: a gesture that flickers off and on again just after it
  ended does not fire twice.

Time is passed in; nothing here reads a clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from installation.contracts import Side


class Phase(str, enum.Enum):
    START = "start"
    HOLD = "hold"
    END = "end"


@dataclass(frozen=True)
class GestureEvent:
    """One event: gesture ``name`` entered ``phase`` at media time ``t`` (seconds).

    ``side`` is the visitor's hand that made it, or None for a whole-body or two-handed gesture;
    ``confidence`` is the recogniser's confidence (0..1) in the frame of the event.
    """

    name: str
    phase: Phase
    side: Side | None
    confidence: float
    t: float


@dataclass(frozen=True)
class GateSettings:
    """Thresholds and times (seconds) of one gate; see the module docstring."""

    on_threshold: float = 0.6
    off_threshold: float = 0.4
    min_on_s: float = 0.0
    release_s: float = 0.15
    refractory_s: float = 0.5
    hold_interval_s: float = 0.5


class _State(enum.Enum):
    IDLE = 0
    PENDING = 1  # above on_threshold, waiting out min_on_s
    ACTIVE = 2


class EventGate:
    """The state machine of one gesture (and side). ``step`` returns the phases to emit."""

    def __init__(self, settings: GateSettings) -> None:
        self.settings = settings
        self.reset()

    def reset(self) -> None:
        """Back to idle, with no refractory time pending."""
        self._state = _State.IDLE
        self._since = 0.0  # when the current PENDING stretch or the below-threshold stretch began
        self._below = False  # ACTIVE and under off_threshold, waiting out release_s
        self._last_hold = 0.0
        self._quiet_until = float("-inf")

    @property
    def active(self) -> bool:
        return self._state is _State.ACTIVE

    def step(self, confidence: float, t: float) -> list[Phase]:
        """Advance to time ``t`` with this frame's ``confidence``; returns the phases that fire
        now (usually none, at most one)."""
        s = self.settings
        if self._state is _State.ACTIVE:
            return self._step_active(confidence, t)
        if confidence < s.on_threshold or t < self._quiet_until:
            self._state = _State.IDLE
            return []
        if self._state is _State.IDLE:
            self._state, self._since = _State.PENDING, t
        if t - self._since >= s.min_on_s:
            self._state, self._below, self._last_hold = _State.ACTIVE, False, t
            return [Phase.START]
        return []

    def _step_active(self, confidence: float, t: float) -> list[Phase]:
        s = self.settings
        if confidence >= s.off_threshold:
            self._below = False
            if t - self._last_hold >= s.hold_interval_s:
                self._last_hold = t
                return [Phase.HOLD]
            return []
        if not self._below:
            self._below, self._since = True, t
        if t - self._since >= s.release_s:
            self._state = _State.IDLE
            self._quiet_until = t + s.refractory_s
            return [Phase.END]
        return []


class EventLayer:
    """One gate per (gesture, side), made on first use; confidences in, events out.

    Each frame, call ``step`` with every confidence the recognisers produced; a gesture missing
    from the frame's confidences counts as confidence 0, so it ends when it is no longer seen.
    """

    def __init__(self, settings: GateSettings, momentary: GateSettings | None = None) -> None:
        self.settings = settings
        self.momentary = momentary if momentary is not None else settings
        self._gates: dict[tuple[str, Side | None], EventGate] = {}  # bounded: names x sides

    def step(
        self, confidences: dict[tuple[str, Side | None], float], t: float, momentary: frozenset[str] = frozenset()
    ) -> list[GestureEvent]:
        """Events of this frame, in a stable order (by gesture name, then side).

        ``momentary`` names gestures that are detected at an instant (swipes, claps) rather
        than held: their gates use the ``momentary`` settings (no ``min_on_s`` wait).
        """
        events = []
        keys = sorted(set(self._gates) | set(confidences), key=lambda key: (key[0], key[1].value if key[1] else ""))
        for key in keys:
            confidence = float(confidences.get(key, 0.0))
            gate = self._gates.get(key)
            if gate is None:
                if confidence <= 0.0:
                    continue
                gate = self._gates[key] = EventGate(self.momentary if key[0] in momentary else self.settings)
            for phase in gate.step(confidence, t):
                events.append(GestureEvent(key[0], phase, key[1], round(confidence, 4), t))
        return events

    def active(self) -> list[tuple[str, Side | None]]:
        """The (gesture, side) pairs being held now."""
        return [key for key, gate in self._gates.items() if gate.active]

    def reset(self) -> None:
        """End nothing, forget everything (the visitor changed)."""
        self._gates.clear()
