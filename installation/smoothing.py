"""Smoothing and presence: ``Observation`` -> ``TrackedBody``.

Two pieces:

- ``OneEuroFilter``: the One Euro filter (Casiez, Roussel and Vogel, CHI 2012), vectorised over
  a numpy array of any shape. Each element is filtered independently: a low-pass filter whose
  cut-off rises with the element's own speed, so a still hand stops jittering and a fast one
  does not lag.
- ``BodySmoother``: one filter per body part (pose, left hand, right hand) plus hold-and-fade
  presence when a part drops out, so a visitor who is lost for a few frames does not vanish.

Units. Landmarks are normalised image coordinates, so a speed is in image units per second
(1.0 = crossing the whole image in one second). ``beta`` multiplies that speed: the cut-off is
``min_cutoff_hz + beta * |speed|`` Hz. Time is always passed in; nothing here reads a clock.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from installation.config import SmoothingConfig
from installation.contracts import (
    HAND_LANDMARK_COUNT,
    POSE_LANDMARK_COUNT,
    Hand,
    Observation,
    Side,
    TrackedBody,
)

log = logging.getLogger(__name__)


def _alpha(dt_s: float, cutoff_hz: np.ndarray | float) -> np.ndarray | float:
    """Smoothing factor of a first-order low-pass with the given cut-off, for a step of dt_s."""
    tau_s = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau_s / dt_s)


class OneEuroFilter:
    """One Euro filter over an array of any (fixed) shape; every element is independent.

    ``min_cutoff_hz``: cut-off at rest; lower = less jitter, more lag when moving slowly.
    ``beta``: cut-off increase per unit of speed, in Hz per (image unit / s) for normalised
    landmarks; higher = less lag when moving fast. ``derivative_cutoff_hz``: low-pass applied to
    the speed estimate itself.

    State is kept in float64; outputs are float64 arrays. Values must be finite.
    """

    def __init__(self, min_cutoff_hz: float, beta: float, derivative_cutoff_hz: float) -> None:
        if min_cutoff_hz <= 0 or derivative_cutoff_hz <= 0 or beta < 0:
            raise ValueError(
                f"OneEuroFilter needs min_cutoff_hz > 0, derivative_cutoff_hz > 0 and beta >= 0; "
                f"got {min_cutoff_hz}, {derivative_cutoff_hz}, {beta}"
            )
        self.min_cutoff_hz = float(min_cutoff_hz)
        self.beta = float(beta)
        self.derivative_cutoff_hz = float(derivative_cutoff_hz)
        self.reset()

    def reset(self) -> None:
        """Forget all state: the next value passes through unfiltered."""
        self._value: np.ndarray | None = None  # last filtered value
        self._speed: np.ndarray | None = None  # last filtered derivative, units/s
        self._timestamp_s = 0.0

    @property
    def is_initialised(self) -> bool:
        """True once a value has been filtered since construction or the last reset()."""
        return self._value is not None

    def __call__(self, value: np.ndarray, timestamp_s: float) -> np.ndarray:
        """Filter one sample taken at ``timestamp_s``; returns the filtered array (float64).

        The first sample after a reset passes through. A sample whose timestamp is not later
        than the previous one (dt <= 0) is ignored and the previous output is returned, because
        a speed cannot be computed from it. Raises ValueError if the shape changes.
        """
        x = np.array(value, dtype=np.float64)  # a copy: the caller may reuse its buffer
        if self._value is None:
            self._value, self._speed, self._timestamp_s = x, np.zeros_like(x), float(timestamp_s)
            return x.copy()
        if x.shape != self._value.shape:
            raise ValueError(f"OneEuroFilter: shape changed from {self._value.shape} to {x.shape}; reset() first")
        dt_s = float(timestamp_s) - self._timestamp_s
        if not dt_s > 0.0:
            return self._value.copy()
        # The derivative is taken against the previous *filtered* value, as in the paper.
        raw_speed = (x - self._value) / dt_s
        speed = self._speed + _alpha(dt_s, self.derivative_cutoff_hz) * (raw_speed - self._speed)
        cutoff_hz = self.min_cutoff_hz + self.beta * np.abs(speed)
        filtered = self._value + _alpha(dt_s, cutoff_hz) * (x - self._value)
        self._value, self._speed, self._timestamp_s = filtered, speed, float(timestamp_s)
        return filtered.copy()


@dataclass
class _PartTrack:
    """One body part: its filter, its last smoothed value and when it was last seen."""

    filter: OneEuroFilter
    empty: np.ndarray  # (0, k) float32, returned when the part is gone
    value: np.ndarray | None = None  # (n, k) float32, read-only
    last_seen_s: float = 0.0

    def see(self, landmarks: np.ndarray, timestamp_s: float) -> tuple[np.ndarray, float]:
        """Filter a new sighting; returns (smoothed value, presence 1)."""
        smoothed = self.filter(landmarks, timestamp_s).astype(np.float32)
        smoothed.setflags(write=False)  # shared by later held frames: nobody may edit it
        self.value, self.last_seen_s = smoothed, timestamp_s
        return smoothed, 1.0

    def miss(self, timestamp_s: float, hold_s: float, fade_s: float) -> tuple[np.ndarray, float]:
        """No sighting: hold, then fade, then drop; returns (value or empty, presence)."""
        if self.value is None:
            return self.empty, 0.0
        presence = _hold_fade_presence(timestamp_s - self.last_seen_s, hold_s, fade_s)
        if presence <= 0.0:
            # Gone: forget the filter so a re-entering visitor is not smoothed from here.
            self.value = None
            self.filter.reset()
            return self.empty, 0.0
        return self.value, presence


def _hold_fade_presence(elapsed_s: float, hold_s: float, fade_s: float) -> float:
    """Presence after a part has been unseen for elapsed_s: 1 during the hold, then a linear ramp."""
    if elapsed_s <= hold_s:
        return 1.0
    if fade_s <= 0.0:
        return 0.0
    return max(0.0, 1.0 - (elapsed_s - hold_s) / fade_s)


class BodySmoother:
    """Observation -> TrackedBody: One Euro smoothing per part, and hold/fade presence.

    Parts: the pose (33, 4) and the visitor's left and right hands (21, 3). The pose's
    visibility column is filtered with the same filter as x, y, z: that keeps it in [0, 1] (the
    filter is a running convex combination) and stops a landmark flickering across the
    visibility threshold used by the features.

    A part that is seen is filtered and has presence 1. A part that drops out keeps its last
    smoothed value at presence 1 for ``hold_s``, then its presence falls linearly to 0 over
    ``fade_s``; then it is empty and its filter is reset. A part containing non-finite numbers or
    of the wrong shape is treated as not seen, and counted in ``rejected_parts``.
    """

    def __init__(self, config: SmoothingConfig) -> None:
        self.config = config
        self._pose = _PartTrack(self._new_filter(), _readonly(np.zeros((0, 4), np.float32)))
        self._hands = {
            side: _PartTrack(self._new_filter(), _readonly(np.zeros((0, 3), np.float32))) for side in Side
        }
        self.rejected_parts = 0  # malformed parts dropped since construction
        self._visitor = 0  # the visitor of the last observation

    def reset(self) -> None:
        """Forget everybody: every part becomes empty and every filter restarts."""
        for track in (self._pose, *self._hands.values()):
            track.value = None
            track.filter.reset()

    def update(self, observation: Observation) -> TrackedBody:
        """Smooth a new observation; returns the TrackedBody at the observation's timestamp."""
        t = observation.timestamp_s
        if observation.visitor != self._visitor:
            # Another person (a pose that jumped to another body, or a new primary): never glide
            # the old visitor's landmarks over to the new one.
            self.reset()
            self._visitor = observation.visitor
        pose = self._checked(observation.pose, POSE_LANDMARK_COUNT, 4, "pose") if observation.has_pose else None
        hands = self._best_hands(observation.hands)
        pose_out = self._step(self._pose, pose, t)
        hand_out = {side: self._step(self._hands[side], hands.get(side), t) for side in Side}
        return self._body(t, pose_out, hand_out, self._visitor)

    def tick(self, timestamp_s: float) -> TrackedBody:
        """No new observation: advance hold and fade to ``timestamp_s``; returns the TrackedBody."""
        pose_out = self._pose.miss(timestamp_s, *self._timing)
        hand_out = {side: self._hands[side].miss(timestamp_s, *self._timing) for side in Side}
        return self._body(timestamp_s, pose_out, hand_out, self._visitor)

    def _step(self, track: _PartTrack, landmarks: np.ndarray | None, t: float) -> tuple[np.ndarray, float]:
        """Advance one part: filter it if it was seen (landmarks given), else hold or fade it."""
        if landmarks is None:
            return track.miss(t, *self._timing)
        return track.see(landmarks, t)

    def _new_filter(self) -> OneEuroFilter:
        c = self.config
        return OneEuroFilter(c.min_cutoff_hz, c.beta, c.derivative_cutoff_hz)

    @property
    def _timing(self) -> tuple[float, float]:
        return self.config.hold_s, self.config.fade_s

    def _best_hands(self, hands: tuple[Hand, ...]) -> dict[Side, np.ndarray]:
        """The landmarks of the highest-scoring well-formed hand of each side."""
        best: dict[Side, Hand] = {}
        for hand in hands:
            if self._checked(hand.landmarks, HAND_LANDMARK_COUNT, 3, f"{hand.side.value} hand") is None:
                continue
            if hand.side not in best or hand.score > best[hand.side].score:
                best[hand.side] = hand
        return {side: hand.landmarks for side, hand in best.items()}

    def _checked(self, landmarks: np.ndarray, rows: int, cols: int, what: str) -> np.ndarray | None:
        """The landmarks if they are (rows, cols) and finite, else None (counted and logged)."""
        array = np.asarray(landmarks)
        if array.shape == (rows, cols) and np.isfinite(array).all():
            return array
        self.rejected_parts += 1
        log.debug("dropped a malformed %s: shape %s, finite %s", what, array.shape, np.isfinite(array).all())
        return None

    @staticmethod
    def _body(
        t: float, pose: tuple[np.ndarray, float], hands: dict[Side, tuple[np.ndarray, float]], visitor: int
    ) -> TrackedBody:
        (left, left_presence), (right, right_presence) = hands[Side.LEFT], hands[Side.RIGHT]
        if pose[1] == 0.0 and left_presence == 0.0 and right_presence == 0.0:
            return TrackedBody.nobody(t)
        return TrackedBody(t, pose[0], left, right, pose[1], left_presence, right_presence, visitor)


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array
