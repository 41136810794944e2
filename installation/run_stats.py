"""The run's statistics as typed values: what the telemetry measured, what the stages add (errors,
fallbacks, painting, video out) and what the command adds (the configuration, the replay's check,
the error the run ended with).

``RunStats.to_json`` is the ``--stats`` file: its keys, their order and nesting are the file's
format, which readers outside this code (benchmarks, people's scripts) rely on, so a field
renamed or moved here is a format change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from installation.config import Config

# Optional fields are left out of the file when None (the run had no such section), except these,
# written as null: a reader checks the key rather than guessing whether it was forgotten.
NULL_WRITTEN = frozenset({"generator_fallback_reason"})


@dataclass(frozen=True)
class Percentiles:
    """Milliseconds over the telemetry's window: the median, the 95th percentile, the samples."""

    p50: float
    p95: float
    count: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Percentiles:
        """Rounded to the microsecond (the file's precision); zeros when there are no samples."""
        if len(samples) == 0:
            return cls(0.0, 0.0, 0)
        values = np.asarray(samples, np.float64)
        return cls(round(float(np.percentile(values, 50)), 3), round(float(np.percentile(values, 95)), 3), int(values.size))


@dataclass(frozen=True)
class Digests:
    """SHA-256 of what the run produced, independent of wall time: equal replays, equal digests."""

    landmarks_sha256: str
    latents_sha256: str
    frames_sha256: str


@dataclass(frozen=True)
class AdaptiveResolution:
    """Live runs' adaptive quality: the generator's resolution at the end, and how often it changed."""

    final: int
    changes: int


@dataclass(frozen=True)
class PaintingStats:
    """Style transfer: new paintings made, the style and the painting's size (long side, px) at the end."""

    paintings: int
    style: str
    size: int


@dataclass(frozen=True)
class ReplayCheck:
    """A session replay's check of the live show's decisions (those the session recorded)."""

    live_decisions: bool
    divergences: int


@dataclass(frozen=True, kw_only=True)
class RunStats:
    """The run's statistics; fields in the file's order (``to_json``). ``errors``: counts by kind,
    the telemetry's (sorted) first, then the stages' and the command's."""

    frames: int  # source frames that went through perception
    rendered_frames: int
    frames_with_pose: int
    frames_with_hands: int
    dropped_frames: int
    errors: dict[str, int]
    render_fps: float  # the run's average, rounded to 3 places
    latency_ms: Percentiles
    stages_ms: dict[str, Percentiles]
    digests: Digests
    reused_frames: int
    adaptive_resolution: AdaptiveResolution | None = None
    generator_fallback_reason: str | None = None
    painting: PaintingStats | None = None
    schedule: str  # "lockstep" or "live"
    source: str
    video_out: dict[str, dict[str, int]] | None = None  # per target: sent, dropped, errors
    perception_schedule: str | None = None  # the command's (run): the configured schedule
    config: Config | None = None  # the command's (run): the configuration it ran with
    replay: ReplayCheck | None = None  # the command's (replay of a session with its decisions)
    ended_by: str | None = None  # the error the run ended with, when it did not end normally

    def to_json(self) -> dict[str, Any]:
        """The ``--stats`` file's dict: nested values as dicts, a section the run lacked left out."""
        return {key: value for key, value in dataclasses.asdict(self).items() if value is not None or key in NULL_WRITTEN}
