"""What the loop tells the rest of the world after each rendered frame.

Listeners (the ``--trace`` file today; OSC out and the session recorder plug in the same way)
receive one ``FrameReport`` per rendered frame, in order, from the loop's thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from installation.contracts import Frame, LatentState, Observation, TrackedBody
from installation.feature_specs import Features

if TYPE_CHECKING:  # types only: the runtime's modules import this one
    from installation.audience.crowd import Audience
    from installation.audience.zones import ZoneEvent
    from installation.audio_analysis import AudioFeatures
    from installation.control import ControlCommand
    from installation.gestures.events import GestureEvent


@dataclass(frozen=True)
class RuntimeStatus:
    """How the runtime is doing, as answered to ``/status``."""

    fps: float
    latency_ms: float
    scene: str
    presence: float
    uptime_s: float
    frames: int
    errors: dict[str, int]  # the loop's error counters, and perception's counts of what it dropped
    state: str = "running"  # Runtime.mode(): running, attract, asleep or fallback


@dataclass(frozen=True)
class FrameReport:
    """One rendered frame: its time, what perception saw (if anything new), and what was drawn."""

    t: float  # media time of this render (seconds)
    observation: Observation | None  # the observation that arrived this tick, or None
    body: TrackedBody
    features: Features
    state: LatentState
    scene: str
    beat_phase: float | None = None  # None while no tempo is known
    tempo_bpm: float | None = None
    status: RuntimeStatus | None = None
    gestures: tuple[GestureEvent, ...] = ()  # gesture events that started, held or ended this frame
    frame: Frame | None = None  # the camera frame taken this tick, if a new one came
    commands: tuple[ControlCommand, ...] = ()  # the control commands applied at this frame's boundary
    zone_events: tuple[ZoneEvent, ...] = ()  # a venue's zones entered and left this frame
    audience: Audience | None = None  # with several visitors: the newest (ids, anchors, primary)
    picture: np.ndarray | None = None  # (H, W, 3) RGB uint8: what was handed to the display (staff thumbnail)
    mapped: dict[str, dict[str, float]] = field(default_factory=dict)  # taught mappings: {mapping: {output: value}}
    audio: AudioFeatures | None = None  # with [audio] on: the music's features this frame (OSC /audio/*)

    @property
    def frame_index(self) -> int | None:
        """Index of the source frame behind the new observation, None when nothing new arrived."""
        return self.observation.frame_index if self.observation is not None else None


class FrameListener(Protocol):
    def on_frame(self, report: FrameReport) -> None: ...

    def close(self) -> None: ...


class TraceWriter:
    """``--trace``: landmarks, features and latent of every rendered frame as JSON lines.

    Floats are rounded to 6 decimals, or kept exact with ``exact`` (session recordings, which
    must replay to the very same frames). Each line is flushed whole, so a killed run leaves a
    file that is intact up to its last complete line.
    """

    def __init__(self, path: Path, exact: bool = False) -> None:
        self._file = path.open("w", encoding="utf-8")
        self._round = (lambda values: np.asarray(values, np.float64)) if exact else (lambda values: np.round(values, 6))
        self.exact = exact

    def on_frame(self, report: FrameReport, extra: dict | None = None) -> None:
        """Write the frame's line; ``extra`` entries are added to it (a session's live decisions)."""
        observation, rounded = report.observation, self._round
        record = {
            "frame": report.frame_index,
            "t": report.t if self.exact else round(report.t, 6),
            "new_frame": report.frame is not None,
            "pose": rounded(observation.pose).tolist() if observation is not None else None,
            "hands": [
                {"side": hand.side.value, "score": hand.score, "landmarks": rounded(hand.landmarks).tolist()}
                for hand in (observation.hands if observation is not None else ())
            ],
            "features": {name: round(value, 6) for name, value in report.features.as_dict().items()},
            "z": rounded(report.state.z.astype(np.float64)).tolist(),
            "scene": report.scene,
            "gestures": [[e.name, e.phase.value, e.side.value if e.side else None, round(e.confidence, 4)]
                         for e in report.gestures],
        }
        if observation is not None and self.exact:
            record["observed_t"] = observation.timestamp_s
        record.update(extra or {})
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
