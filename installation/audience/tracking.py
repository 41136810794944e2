"""Stable ids for the people found frame by frame.

Each track predicts its box with constant velocity; detections are matched to predictions by a
cost mixing overlap (IoU), centre distance in body heights, clothing colour (histogram distance)
and build (limb proportions), with an optimal assignment (an exact search over the few people an
installation sees; confirmed tracks are matched first). An id moves to a sighting only if appearance and motion both agree: a pair
whose colour differs more than ``max_appearance``, or that would need the body to move faster than
``max_speed`` body heights a second, is never matched, whatever the total cost.

Hysteresis on both ends: a track gets a public id only after ``confirm_hits`` matches in a row,
and a confirmed track coasts on its prediction through ``max_missed`` unmatched frames before it
is dropped. A confirmed track last seen touching an edge of the picture and not found again has
walked out: it ends at once (a ``Departure`` at the edge), so whoever stands there next gets a new
id. Public ids count up from 1 and are never reused within a run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from installation.appearance import histogram_distance, proportion_distance
from installation.audience.detection import PersonDetection, RegionHint, box_iou

log = logging.getLogger(__name__)

_EMPTY_POSE = np.zeros((0, 4), np.float32)
_EXACT_LIMIT = 10  # more detections than this (a crowd, not a visitor group): greedy assignment


@dataclass(frozen=True)
class TrackerConfig:
    """Association weights and the hysteresis of a track's life (counts are frames)."""

    confirm_hits: int = 3  # matches in a row before a track is confirmed and gets an id
    max_missed: int = 12  # a confirmed track coasts this many unmatched frames, then is dropped
    iou_weight: float = 0.4
    distance_weight: float = 0.3  # centre distance, in heights of the person's box (capped at 1)
    appearance_weight: float = 0.3  # Bhattacharyya distance of the torso colour histograms
    max_cost: float = 0.75  # a pair costing more is never matched
    max_distance: float = 1.0  # gate: centres further apart than this many box heights never match
    velocity_smoothing: float = 0.5  # weight of the newest velocity measurement
    appearance_rate: float = 0.1  # how fast a track's colour histogram follows new sightings
    proportion_weight: float = 0.2  # median relative difference of limb proportions (capped at 1)
    max_appearance: float = 0.6  # gate: torso colours further apart than this never match
    max_speed: float = 6.0  # gate: body heights per second; a sprint is ~3, a pose jumping to another body 10+
    edge_margin: float = 0.02  # a box this near the picture's edge touches it (normalised units)
    edge_missed: int = 2  # a track last seen at an edge coasts at most this many frames, not max_missed


@dataclass(frozen=True)
class Departure:
    """A confirmed person's id ended at media time ``t``: ``at_edge`` True when they walked out at
    an edge of the picture, False when they were lost from view for ``max_missed`` frames."""

    person_id: int
    t: float
    at_edge: bool


@dataclass(frozen=True)
class Person:
    """One tracked visitor at one moment.

    ``id`` is public (0 while the track is tentative), ``box`` (x0, y0, x1, y1) normalised image
    units, measured when ``missed`` is 0 and predicted while coasting; ``landmarks`` (33, 4) from
    this frame, or (0, 4) when not seen in it; ``velocity`` (2,) of the box centre in image units
    per second; times in media seconds; ``age_s`` is how long the person has been present.
    """

    id: int
    box: np.ndarray
    landmarks: np.ndarray
    age_s: float
    first_seen_s: float
    last_seen_s: float
    confirmed: bool
    velocity: np.ndarray
    missed: int = 0
    confidence: float = 0.0

    @property
    def centre(self) -> np.ndarray:
        return np.array([(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2], np.float32)


class _Track:
    """A track's mutable state, private to the tracker."""

    def __init__(self, key: int, detection: PersonDetection, t: float) -> None:
        self.key = key  # internal: names the detector's follow slot from the first frame
        self.id = 0
        self.box = detection.box.astype(np.float32)
        self.landmarks = detection.landmarks
        self.descriptor = detection.descriptor.copy()
        self.proportions = detection.proportions.copy()
        self.confidence = detection.confidence
        self.velocity = np.zeros(2, np.float32)
        self.first_seen_s = self.last_seen_s = t
        self.hits, self.missed = 1, 0

    def predict(self, t: float) -> np.ndarray:
        shift = self.velocity * (t - self.last_seen_s)
        return self.box + np.array([shift[0], shift[1], shift[0], shift[1]], np.float32)

    def match(self, detection: PersonDetection, t: float, config: TrackerConfig) -> None:
        dt = t - self.last_seen_s
        if dt > 0:
            moved = (_centre(detection.box) - _centre(self.box)) / dt
            a = config.velocity_smoothing
            self.velocity = (a * moved + (1 - a) * self.velocity).astype(np.float32)
        r = config.appearance_rate
        self.descriptor = (1 - r) * self.descriptor + r * detection.descriptor
        seen = np.isfinite(detection.proportions)
        known = seen & np.isfinite(self.proportions)
        self.proportions[known] = (1 - r) * self.proportions[known] + r * detection.proportions[known]
        self.proportions[seen & ~known] = detection.proportions[seen & ~known]
        self.box, self.landmarks, self.confidence = detection.box.astype(np.float32), detection.landmarks, detection.confidence
        self.last_seen_s = t
        self.hits += 1
        self.missed = 0


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)


def assign(cost: np.ndarray, max_cost: float) -> list[tuple[int, int]]:
    """Pairs (row, column) of a cost matrix with the least total cost, where leaving a row
    unmatched costs ``max_cost`` and a pair costing ``max_cost`` or more is never made. Exact
    (dynamic programming over subsets of columns) up to ten columns, greedy beyond."""
    rows, cols = cost.shape
    if rows == 0 or cols == 0:
        return []
    if cols > _EXACT_LIMIT:
        return _assign_greedy(cost, max_cost)
    # best[mask] = least cost of the rows done so far, having used the columns in mask
    best = {0: (0.0, ())}
    for r in range(rows):
        step: dict[int, tuple[float, tuple[tuple[int, int], ...]]] = {}
        for mask, (total, pairs) in best.items():
            options = [(mask, total + max_cost, pairs)]
            options += [(mask | 1 << c, total + cost[r, c], pairs + ((r, c),))
                        for c in range(cols) if not mask & 1 << c and cost[r, c] < max_cost]
            for new_mask, new_total, new_pairs in options:
                if new_mask not in step or new_total < step[new_mask][0]:
                    step[new_mask] = (new_total, new_pairs)
        best = step
    return list(min(best.values(), key=lambda v: v[0])[1])


def _assign_greedy(cost: np.ndarray, max_cost: float) -> list[tuple[int, int]]:
    pairs, used_r, used_c = [], set(), set()
    for flat in np.argsort(cost, axis=None, kind="stable"):
        r, c = divmod(int(flat), cost.shape[1])
        if cost[r, c] >= max_cost:
            break
        if r not in used_r and c not in used_c:
            pairs.append((r, c))
            used_r.add(r)
            used_c.add(c)
    return pairs


class Tracker:
    """Keeps tracks across frames. Call ``hints(t)`` before detecting (the regions to follow) and
    ``update(detections, t)`` after; times are media seconds and must not go backwards."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._tracks: list[_Track] = []
        self._next_key = 0
        self._next_id = 1
        self.departures: tuple[Departure, ...] = ()  # the ids that ended in the last update
        self.refused = 0  # pairs cheap enough to match but refused by the appearance or speed gate

    def hints(self, t: float) -> list[RegionHint]:
        """Each live track's predicted box at time t: confirmed tracks first, the oldest first,
        so a scarce follow slot goes to the person most worth keeping."""
        order = sorted(self._tracks, key=lambda tr: (tr.id == 0, tr.first_seen_s, tr.key))
        return [RegionHint(tr.key, np.clip(tr.predict(t), 0.0, 1.0)) for tr in order]

    def update(self, detections: Sequence[PersonDetection], t: float) -> tuple[Person, ...]:
        """Match this frame's detections to the tracks, start, confirm and drop tracks; returns
        every live track (tentative ones have ``confirmed`` False and id 0), oldest first."""
        config = self.config
        cost = self._costs(detections, t)
        # Matching cascade: confirmed people choose first, tentative tracks share what is left, so
        # a newcomer's track started on someone's body while their follower lost them for a frame
        # never takes that person's sighting from them.
        confirmed = [r for r, track in enumerate(self._tracks) if track.id]
        pairs = [(confirmed[r], c) for r, c in assign(cost[confirmed], config.max_cost)]
        free_cols = [c for c in range(len(detections)) if c not in {c for _, c in pairs}]
        tentative = [r for r, track in enumerate(self._tracks) if not track.id]
        pairs += [(tentative[r], free_cols[c]) for r, c in assign(cost[np.ix_(tentative, free_cols)], config.max_cost)]
        matched_tracks = {r for r, _ in pairs}
        matched_dets = {c for _, c in pairs}
        for r, c in pairs:
            self._tracks[r].match(detections[c], t, config)
        survivors, departures = [], []
        for r, track in enumerate(self._tracks):
            if r not in matched_tracks:
                track.missed += 1
                at_edge = _walked_out(track, config)
                if track.id == 0 or at_edge or track.missed > config.max_missed or not _on_screen(track.predict(t)):
                    if track.id:  # a tentative track dies at its first miss: flicker never gets an id
                        departures.append(Departure(track.id, t, at_edge or not _on_screen(track.predict(t))))
                        log.debug("person %d left at %.2f s (%s)", track.id, t, "edge" if at_edge else "lost")
                    continue
            if track.id == 0 and track.hits >= config.confirm_hits:
                track.id, self._next_id = self._next_id, self._next_id + 1
            survivors.append(track)
        for c, detection in enumerate(detections):
            if c not in matched_dets:
                survivors.append(_Track(self._next_key, detection, t))
                self._next_key += 1
        self._tracks = survivors
        self.departures = tuple(departures)
        return tuple(self._person(track, t) for track in self._tracks)

    def _costs(self, detections: Sequence[PersonDetection], t: float) -> np.ndarray:
        config = self.config
        cost = np.full((len(self._tracks), len(detections)), np.inf, np.float64)
        for r, track in enumerate(self._tracks):
            predicted = track.predict(t)
            height = max(predicted[3] - predicted[1], 1e-3)
            for c, detection in enumerate(detections):
                distance = float(np.linalg.norm(_centre(predicted) - _centre(detection.box))) / height
                iou = box_iou(predicted, detection.box)
                if iou <= 0 and distance > config.max_distance:
                    continue
                colour = histogram_distance(track.descriptor, detection.descriptor)
                build = min(proportion_distance(track.proportions, detection.proportions), 1.0)
                dt = max(t - track.last_seen_s, 1e-3)
                speed = float(np.linalg.norm(_centre(track.box) - _centre(detection.box))) / height / dt
                value = (config.iou_weight * (1 - iou) + config.distance_weight * min(distance, 1.0)
                         + config.appearance_weight * colour + config.proportion_weight * build)
                if colour > config.max_appearance or speed > config.max_speed:
                    self.refused += int(value < config.max_cost)
                    continue  # appearance and motion must both agree before an id moves
                cost[r, c] = value
        return cost

    def _person(self, track: _Track, t: float) -> Person:
        seen = track.missed == 0
        box = track.box if seen else np.clip(track.predict(t), 0.0, 1.0)
        return Person(track.id, box, track.landmarks if seen else _EMPTY_POSE, t - track.first_seen_s,
                      track.first_seen_s, track.last_seen_s, track.id > 0, track.velocity.copy(), track.missed,
                      track.confidence)


def _walked_out(track: _Track, config: TrackerConfig) -> bool:
    """True when a confirmed track unseen this frame was last seen touching the left or right edge
    (people walk out sideways) and was heading out, or has stayed unseen there ``edge_missed``
    frames: someone standing at the edge may be missed for a frame without losing their id."""
    box, vx = track.box, float(track.velocity[0])
    outward = 0.05  # image widths per second: slower than this is standing, not leaving
    if box[0] <= config.edge_margin:
        return vx < -outward or track.missed > config.edge_missed
    if box[2] >= 1 - config.edge_margin:
        return vx > outward or track.missed > config.edge_missed
    return False


def _on_screen(box: np.ndarray) -> bool:
    return bool(box[2] > 0 and box[0] < 1 and box[3] > 0 and box[1] < 1)
