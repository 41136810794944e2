"""Which of the people the piece answers to: the primary participant, chosen without flicker.

A policy scores each candidate (higher is better); the current primary keeps the role until
someone beats its score by ``margin`` (a fraction of its score) continuously for ``hold_s``
seconds, or until it is no longer a candidate (gone, coasting too long, or out of every
interaction zone), when the best candidate takes over at once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from installation.audience.tracking import Person

log = logging.getLogger(__name__)


def closest_score(person: Person) -> float:
    """Apparent size: the square root of the box area (image units). Nearer people look bigger;
    the box is steadier than shoulder width, which shrinks when a visitor turns side-on."""
    box = person.box
    return math.sqrt(max(0.0, float(box[2] - box[0]) * float(box[3] - box[1])))


def central_score(person: Person) -> float:
    """1 at the image centre, 0 in a corner (distance of the box centre from the centre)."""
    cx, cy = person.centre
    return 1.0 - math.hypot(float(cx) - 0.5, float(cy) - 0.5) / math.hypot(0.5, 0.5)


def longest_score(person: Person) -> float:
    """Seconds present."""
    return person.age_s


POLICIES: dict[str, Callable[[Person], float]] = {
    "closest": closest_score,
    "central": central_score,
    "longest": longest_score,
}


def _choices(*names: str) -> dict:
    return {"choices": names}


@dataclass(frozen=True)
class PrimaryConfig:
    """The policy and its hysteresis."""

    policy: str = field(default="closest", metadata=_choices(*POLICIES))
    margin: float = 0.2  # a challenger must score this fraction more than the primary ...
    hold_s: float = 1.5  # ... for this long without a break before the role moves
    max_missed: int = 3  # a primary unseen for more frames than this gives up the role at once

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"primary policy {self.policy!r} is not one of {sorted(POLICIES)}")


class PrimaryChooser:
    """``choose(people, t)`` returns the primary's id, or None when there is no candidate."""

    def __init__(self, config: PrimaryConfig | None = None) -> None:
        self.config = config or PrimaryConfig()
        self._score = POLICIES[self.config.policy]
        self.primary_id: int | None = None
        self.switches = 0  # role changes from one person to another (not from or to nobody)
        self._challenger: int | None = None
        self._challenge_since = 0.0

    def choose(self, candidates: Sequence[Person], t: float) -> int | None:
        """Pick among ``candidates`` (confirmed people the caller allows, e.g. inside an
        interaction zone) at media time t; returns the primary's id or None."""
        usable = [p for p in candidates if p.confirmed and p.missed <= self.config.max_missed]
        if not usable:
            self._set(None, t)
            return None
        # ties go to the lower id (the earlier arrival), so equal scores never alternate
        best = max(usable, key=lambda p: (self._score(p), -p.id))
        current = next((p for p in usable if p.id == self.primary_id), None)
        if current is None:
            self._set(best.id, t)
        elif best.id != current.id and self._score(best) > self._score(current) * (1 + self.config.margin):
            if self._challenger != best.id:
                self._challenger, self._challenge_since = best.id, t
            elif t - self._challenge_since >= self.config.hold_s:
                self._set(best.id, t)
        else:
            self._challenger = None  # the challenge must be unbroken
        return self.primary_id

    def _set(self, person_id: int | None, t: float) -> None:
        if person_id != self.primary_id:
            if person_id is not None and self.primary_id is not None:
                self.switches += 1
            log.debug("primary participant %s -> %s at %.2f s", self.primary_id, person_id, t)
        self.primary_id = person_id
        self._challenger = None
