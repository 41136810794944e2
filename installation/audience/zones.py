"""Zones: polygons of the camera image where being matters, with enter and leave events.

A person is placed by one point (``anchor_point``: between the ankles when they are seen,
else the bottom middle of their box: where they stand). A person is inside a zone once that point
is ``margin`` inside its border and outside once it is ``margin`` outside it, so someone standing
on the line does not chatter in and out. Zones of role "interaction" decide who the piece may
answer to: with none defined, everyone may.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from calibration.zones import Zone
from installation.contracts import POSE_LANDMARK_COUNT, PoseLandmark

__all__ = ["Zone", "ZoneEvent", "ZoneWatch", "anchor_point", "signed_distance"]

log = logging.getLogger(__name__)

INTERACTION = "interaction"
_ANKLES = (PoseLandmark.LEFT_ANKLE, PoseLandmark.RIGHT_ANKLE)


@dataclass(frozen=True)
class ZoneEvent:
    """A person crossed into (``kind`` "enter") or out of ("leave") a zone at media time ``t``."""

    zone: str
    person_id: int
    kind: str
    t: float


def signed_distance(point: tuple[float, float], polygon: np.ndarray) -> float:
    """Distance from ``point`` to the border of ``polygon`` (N, 2), positive inside and negative
    outside (even-odd rule, so any simple polygon works)."""
    x, y = point
    a, b = polygon, np.roll(polygon, -1, axis=0)
    edge = b - a
    rel = np.array([x, y]) - a
    along = np.clip(np.sum(rel * edge, axis=1) / np.maximum(np.sum(edge * edge, axis=1), 1e-12), 0.0, 1.0)
    nearest = float(np.min(np.linalg.norm(rel - along[:, None] * edge, axis=1)))
    crosses = ((a[:, 1] > y) != (b[:, 1] > y)) & (
        x < a[:, 0] + (y - a[:, 1]) * edge[:, 0] / np.where(edge[:, 1] == 0, 1e-12, edge[:, 1]))
    return nearest if int(np.count_nonzero(crosses)) % 2 else -nearest


def anchor_point(box: np.ndarray, landmarks: np.ndarray, min_visibility: float = 0.5) -> tuple[float, float]:
    """Where a person stands: the midpoint of the ankles if both are visible, else the bottom
    middle of the box (normalised image units)."""
    if landmarks.shape[0] == POSE_LANDMARK_COUNT:
        ankles = landmarks[list(_ANKLES)]
        if np.all(ankles[:, 3] >= min_visibility):
            x, y = ankles[:, :2].mean(axis=0)
            return float(x), float(y)
    return float(box[0] + box[2]) / 2, float(box[3])


class ZoneWatch:
    """Who is in which zone. ``update(points, t)`` takes each present person's id and anchor
    point and returns the enter/leave events of that moment; a person no longer given leaves
    every zone they were in."""

    def __init__(self, zones: Sequence[Zone], margin: float = 0.02) -> None:
        names = [zone.name for zone in zones]
        if len(set(names)) != len(names):
            raise ValueError(f"zone names must be unique, got {names}")
        self.zones = tuple(zones)
        self.margin = margin
        self._polygons = [np.asarray(zone.points, np.float64) for zone in zones]  # (N, 2) each, made once
        self._interaction = frozenset(zone.name for zone in zones if zone.role == INTERACTION)
        self._inside: dict[int, set[str]] = {}

    def update(self, points: Iterable[tuple[int, tuple[float, float]]], t: float) -> tuple[ZoneEvent, ...]:
        """Events, in zone order then id order, for the people at ``points`` [(id, (x, y))]."""
        events: list[ZoneEvent] = []
        present = dict(points)
        for person_id in sorted(set(self._inside) - set(present)):
            events += [ZoneEvent(name, person_id, "leave", t) for name in self._ordered(self._inside.pop(person_id))]
        for zone, polygon in zip(self.zones, self._polygons):
            for person_id in sorted(present):
                inside = self._inside.setdefault(person_id, set())
                depth = signed_distance(present[person_id], polygon)
                if zone.name not in inside and depth >= self.margin:
                    inside.add(zone.name)
                    events.append(ZoneEvent(zone.name, person_id, "enter", t))
                elif zone.name in inside and depth <= -self.margin:
                    inside.discard(zone.name)
                    events.append(ZoneEvent(zone.name, person_id, "leave", t))
        return tuple(events)

    def zones_of(self, person_id: int) -> frozenset[str]:
        """The names of the zones the person is in now."""
        return frozenset(self._inside.get(person_id, ()))

    def interacting(self, person_id: int) -> bool:
        """True if the person is in an interaction zone, or there are no interaction zones."""
        return not self._interaction or not self._interaction.isdisjoint(self._inside.get(person_id, ()))

    def _ordered(self, names: set[str]) -> list[str]:
        return [zone.name for zone in self.zones if zone.name in names]
