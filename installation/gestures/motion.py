"""Built-in dynamic gestures: hand trajectories -> a confidence (0..1) per movement.

Each hand's point (the pose wrist, or the hand tracker's wrist when there is no pose) is kept,
in body coordinates (shoulder widths from the shoulder midpoint, u to the visitor's own right,
v up; see ``normalise.BodyFrame``), for the last ``HISTORY_S`` seconds in a bounded buffer.
Every frame each detector looks back over its window and says how sure it is that the movement
has just been made. Confidences are fuzzy ANDs (``min``) of soft facts (linear ramps, 0.5 at the
midpoint of their thresholds); the event layer turns them into one event per movement.

- swipe left / right / up / down: the hand travelled >= ~0.7 shoulder widths within 0.5 s, in a
  nearly straight line (displacement >= ~0.8 x path length) along one axis (sideways drift
  <= ~0.55 x the travel), at >= ~1.2 shoulder widths per second, with the hand held up (above
  mid-torso from the stroke's start until 0.2 s after its end; a vertical swipe also reaches
  ~0.35 shoulder widths above the shoulders), so raising a hand from rest, or dropping it, is not
  a swipe. Left and right are the visitor's own.
- wave: within 1.5 s the hand, held up (above ~mid-chest), reversed its sideways direction at
  least ~2-3 times with swings of >= 0.15 shoulder widths, moving mostly sideways.
- clap: the two hands came together (to < ~0.4 shoulder widths) from >= ~0.75 apart within
  0.6 s, closing at >= ~1.5 shoulder widths per second.
- circle clockwise / anticlockwise: within one of several windows (0.6 .. 1.6 s) the hand went
  >= ~0.95 turn around the window's centroid, on a round path (radius spread <= ~1/3 of the mean
  radius) of radius >= ~0.16 shoulder widths. Clockwise as the visitor sees their own hand.

A swipe is suppressed on a hand that is waving or circling, and on both hands while they clap:
their strokes look like swipes. A swipe is reported ``SWIPE_SETTLE_S`` (0.2 s) after it ends.
"""

from __future__ import annotations

import enum
import math
from collections import deque

import numpy as np

from installation.contracts import Side
from installation.gestures.hand_shapes import ramp


class Movement(str, enum.Enum):
    SWIPE_LEFT = "swipe_left"
    SWIPE_RIGHT = "swipe_right"
    SWIPE_UP = "swipe_up"
    SWIPE_DOWN = "swipe_down"
    WAVE = "wave"
    CLAP = "clap"
    CIRCLE_CLOCKWISE = "circle_clockwise"
    CIRCLE_ANTICLOCKWISE = "circle_anticlockwise"


HISTORY_S = 2.0
MAX_SAMPLES = 256  # bounds the buffer whatever the frame rate (2 s at 120 fps)

SWIPE_WINDOW_S = 0.5
SWIPE_SETTLE_S = 0.2  # a swipe is judged this long after it ends, once the hand is seen to stay up
SWIPE_TRAVEL = (0.5, 0.9)  # shoulder widths along the swipe's axis
SWIPE_DRIFT = (0.7, 0.4)  # sideways / along
SWIPE_STRAIGHT = (0.7, 0.9)  # displacement / path length
SWIPE_SPEED = (0.8, 1.6)  # shoulder widths per second
HAND_UP = (-1.2, -0.8)  # v of the lower end above this (mid-torso); a resting wrist is -1.5 .. -2
SWIPE_TOP = (0.2, 0.5)  # v of the upper end of a vertical swipe: above the shoulders, so raising
# a hand from rest into a signing or pointing position (which ends near shoulder height) is not
# a swipe up, nor is lowering it a swipe down
SWIPE_AXES = {
    Movement.SWIPE_RIGHT: np.array([1.0, 0.0]),
    Movement.SWIPE_LEFT: np.array([-1.0, 0.0]),
    Movement.SWIPE_UP: np.array([0.0, 1.0]),
    Movement.SWIPE_DOWN: np.array([0.0, -1.0]),
}

WAVE_WINDOW_S = 1.5
WAVE_MIN_SWING = 0.15  # shoulder widths between two turning points
WAVE_REVERSALS = (1.0, 3.0)
WAVE_RAISED = (-1.0, -0.5)
WAVE_SIDEWAYS = (0.5, 0.7)  # sideways share of the path

CLAP_WINDOW_S = 0.6
CLAP_CLOSED = (0.5, 0.3)
CLAP_OPEN = (0.6, 0.9)
CLAP_SPEED = (1.0, 2.0)

CIRCLE_WINDOWS_S = (0.6, 0.9, 1.2, 1.6)
CIRCLE_MIN_SAMPLES = 8
CIRCLE_TURN = (1.8 * math.pi, 2.0 * math.pi)  # radians around the centroid
CIRCLE_RADIUS = (0.12, 0.2)
CIRCLE_ROUND = (0.4, 0.25)  # std / mean of the radius

SUPPRESS_SWIPE = 0.3  # a wave or circle this confident silences swipes on its hand, a clap on both


class Trajectory:
    """The last ``HISTORY_S`` seconds of one point: times (n,) and body coordinates (n, 2)."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, float, float]] = deque(maxlen=MAX_SAMPLES)
        self._array: np.ndarray | None = None  # the samples as (n, 3), made once per new sample

    def add(self, t: float, point: np.ndarray) -> None:
        """Append a sample; one at a time not after the last is ignored (time never runs back)."""
        if self._samples and t <= self._samples[-1][0]:
            return
        self._samples.append((t, float(point[0]), float(point[1])))
        while self._samples and self._samples[0][0] < t - HISTORY_S:
            self._samples.popleft()
        self._array = None

    def clear(self) -> None:
        self._samples.clear()
        self._array = None

    def window(self, seconds: float) -> tuple[np.ndarray, np.ndarray]:
        """Times (n,) and points (n, 2) of the samples in the last ``seconds`` before the newest."""
        if not self._samples:
            return np.zeros(0), np.zeros((0, 2))
        if self._array is None:
            self._array = np.array(self._samples)
        data = self._array[self._array[:, 0] >= self._array[-1, 0] - seconds]
        return data[:, 0], data[:, 1:]


def swipe_confidences(times: np.ndarray, points: np.ndarray, has_body: bool) -> dict[Movement, float]:
    """Confidence of each swipe that ended ``SWIPE_SETTLE_S`` before the newest sample, given the
    samples of the last ``SWIPE_WINDOW_S + SWIPE_SETTLE_S`` seconds. The hand must stay up
    through the settling time too: an arm dropped to rest passes through a "swipe down" on its
    way, and only what follows tells them apart. Every earlier sample is tried as the start."""
    out = {movement: 0.0 for movement in SWIPE_AXES}
    settled = np.flatnonzero(times <= times[-1] - SWIPE_SETTLE_S) if len(times) else np.zeros(0, int)
    if len(settled) < 3:
        return out
    end = int(settled[-1])
    steps = np.linalg.norm(np.diff(points[: end + 1], axis=0), axis=1)
    path = np.cumsum(steps[::-1])[::-1]  # (end,) path length from each start to the end
    displacement = points[end] - points[:end]  # (end, 2)
    distance = np.linalg.norm(displacement, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        straight = ramps(distance / path, SWIPE_STRAIGHT)
        fast = ramps(distance / (times[end] - times[:end]), SWIPE_SPEED)
    lowest = np.minimum.accumulate(points[::-1, 1])[::-1][:end]  # lowest v from each start to now
    raised = ramps(lowest, HAND_UP) if has_body else np.ones(end)
    top = ramps(np.maximum(points[:end, 1], points[end, 1]), SWIPE_TOP) if has_body else np.ones(end)
    common = np.minimum.reduce([straight, fast, raised])
    for movement, axis in SWIPE_AXES.items():
        along = displacement @ axis
        sideways = np.abs(displacement[:, 0] * axis[1] - displacement[:, 1] * axis[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            drift = np.where(along > 0.0, sideways / along, np.inf)
        confidence = np.minimum.reduce([common, ramps(along, SWIPE_TRAVEL), ramps(drift, SWIPE_DRIFT)])
        if axis[1] != 0.0:
            confidence = np.minimum(confidence, top)
        out[movement] = float(confidence.max())
    return out


def ramps(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """``hand_shapes.ramp`` over an array: 0 at bounds[0], 1 at bounds[1]; NaN -> 0."""
    low, high = bounds
    out = np.clip((np.asarray(values, np.float64) - low) / (high - low), 0.0, 1.0)
    out[np.isnan(out)] = 0.0
    return out


def wave_confidence(times: np.ndarray, points: np.ndarray, has_body: bool) -> float:
    """Confidence that the hand is waving over the window (sideways reversals while held up)."""
    if len(times) < 4:
        return 0.0
    reversals = _reversals(points[:, 0], WAVE_MIN_SWING)
    steps = np.abs(np.diff(points, axis=0))
    total = float(steps.sum())
    sideways = float(steps[:, 0].sum()) / total if total > 0.0 else 0.0
    raised = ramp(float(np.median(points[:, 1])), WAVE_RAISED) if has_body else 1.0
    return min(ramp(reversals, WAVE_REVERSALS), ramp(sideways, WAVE_SIDEWAYS), raised)


def _reversals(values: np.ndarray, min_swing: float) -> int:
    """How many times ``values`` turned back after moving at least ``min_swing`` one way (small
    jitter, under ``min_swing``, is not a turn)."""
    count, direction = 0, 0  # direction: +1 rising, -1 falling, 0 not yet known
    low = high = float(values[0])  # extremes since the last turn
    for value in map(float, values[1:]):
        low, high = min(low, value), max(high, value)
        if direction >= 0 and high - value >= min_swing:
            count += direction > 0
            direction, low, high = -1, value, value
        elif direction <= 0 and value - low >= min_swing:
            count += direction < 0
            direction, low, high = 1, value, value
    return count


def clap_confidence(times: np.ndarray, gaps: np.ndarray) -> float:
    """Confidence of a clap ending now, from the distance between the hands over the window."""
    if len(times) < 3:
        return 0.0
    widest = int(np.argmax(gaps[:-1]))
    closing = (gaps[widest] - gaps[-1]) / max(times[-1] - times[widest], 1e-6)
    return min(ramp(float(gaps[-1]), CLAP_CLOSED), ramp(float(gaps[widest]), CLAP_OPEN), ramp(closing, CLAP_SPEED))


def circle_confidences(trajectory: Trajectory) -> dict[Movement, float]:
    """Confidence of a clockwise and an anticlockwise circle ending now (best over windows)."""
    out = {Movement.CIRCLE_CLOCKWISE: 0.0, Movement.CIRCLE_ANTICLOCKWISE: 0.0}
    for seconds in CIRCLE_WINDOWS_S:
        times, points = trajectory.window(seconds)
        if len(times) < CIRCLE_MIN_SAMPLES:
            continue
        offsets = points - points.mean(axis=0)
        radii = np.linalg.norm(offsets, axis=1)
        mean_radius = float(radii.mean())
        if mean_radius <= 0.0:
            continue
        turn = float(np.diff(np.unwrap(np.arctan2(offsets[:, 1], offsets[:, 0]))).sum())
        shape = min(ramp(mean_radius, CIRCLE_RADIUS), ramp(float(radii.std()) / mean_radius, CIRCLE_ROUND))
        confidence = min(shape, ramp(abs(turn), CIRCLE_TURN))
        # u right, v up: a positive turn is anticlockwise as the visitor sees it
        movement = Movement.CIRCLE_ANTICLOCKWISE if turn > 0 else Movement.CIRCLE_CLOCKWISE
        out[movement] = max(out[movement], confidence)
    return out


class MotionDetector:
    """Keeps one trajectory per hand and gives every built-in movement's confidence per frame."""

    def __init__(self) -> None:
        self._tracks = {side: Trajectory() for side in Side}
        self._gaps = Trajectory()  # (distance between the hands, 0) over time
        self._has_body: bool | None = None

    def reset(self) -> None:
        for track in self._tracks.values():
            track.clear()
        self._gaps.clear()
        self._has_body = None

    def update(
        self, t: float, points: dict[Side, np.ndarray], has_body: bool
    ) -> dict[tuple[str, Side | None], float]:
        """Add this frame's hand points (body coordinates; a side that is not seen is absent)
        and return {(movement, side or None for a clap): confidence}."""
        if has_body != self._has_body:  # switching between pose and hand-only units: start over
            self.reset()
            self._has_body = has_body
        for side in Side:
            if side in points:
                self._tracks[side].add(t, points[side])
            else:
                self._tracks[side].clear()
        out: dict[tuple[str, Side | None], float] = {}
        clap = 0.0
        if len(points) == 2:
            self._gaps.add(t, np.array([np.linalg.norm(points[Side.LEFT] - points[Side.RIGHT]), 0.0]))
            times, gaps = self._gaps.window(CLAP_WINDOW_S)
            clap = out[(Movement.CLAP.value, None)] = clap_confidence(times, gaps[:, 0])
        else:
            self._gaps.clear()
        for side in points:
            hand = self._hand(side, has_body, quiet_swipes=clap >= SUPPRESS_SWIPE)
            out.update({(movement.value, side): value for movement, value in hand.items()})
        return out

    def _hand(self, side: Side, has_body: bool, quiet_swipes: bool) -> dict[Movement, float]:
        track = self._tracks[side]
        result = circle_confidences(track)
        result[Movement.WAVE] = wave_confidence(*track.window(WAVE_WINDOW_S), has_body)
        swipes = swipe_confidences(*track.window(SWIPE_WINDOW_S + SWIPE_SETTLE_S), has_body)
        if quiet_swipes or max(result.values()) >= SUPPRESS_SWIPE:
            swipes = {movement: 0.0 for movement in swipes}
        result.update(swipes)
        return result


MOMENTARY = frozenset(movement.value for movement in Movement)
