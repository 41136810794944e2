"""The tracker on synthetic boxes (coasting, ids never reused, hysteresis) and the primary
participant on real still frames (no flicker)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from installation.audience import (
    AudienceConfig,
    CrowdPerceiver,
    Person,
    PersonDetection,
    PrimaryChooser,
    PrimaryConfig,
    Tracker,
    TrackerConfig,
)
from installation.audience.tracking import assign
from installation.config import PerceptionConfig
from installation.contracts import Frame

DT = 0.04  # 25 fps
_GREEN = np.zeros(64, np.float32)
_GREEN[20] = 1.0
_RED = np.zeros(64, np.float32)
_RED[0] = 1.0


def det(x: float, y: float = 0.5, w: float = 0.1, h: float = 0.4, colour: np.ndarray = _GREEN) -> PersonDetection:
    box = np.array([x - w / 2, y - h / 2, x + w / 2, y + h / 2], np.float32)
    return PersonDetection(box, np.zeros((0, 4), np.float32), 1.0, colour)


def run(tracker: Tracker, frames: list[list[PersonDetection]], start: int = 0) -> list[tuple[Person, ...]]:
    return [tracker.update(dets, (start + i) * DT) for i, dets in enumerate(frames)]


def confirmed(people: tuple[Person, ...]) -> list[Person]:
    return [p for p in people if p.confirmed]


def test_a_track_is_confirmed_after_n_hits_and_a_flicker_never_gets_an_id():
    tracker = Tracker(TrackerConfig(confirm_hits=3))
    out = run(tracker, [[det(0.3)], [det(0.3)], [], [det(0.3)], [det(0.3)], [det(0.3)]])
    assert [len(confirmed(p)) for p in out] == [0, 0, 0, 0, 0, 1]
    assert confirmed(out[-1])[0].id == 1  # the two-frame flicker used up no public id


def test_a_confirmed_track_coasts_on_its_prediction_then_is_dropped():
    tracker = Tracker(TrackerConfig(confirm_hits=2, max_missed=5))
    # walking right at 0.25 image widths per second
    out = run(tracker, [[det(0.2 + 0.01 * i)] for i in range(10)])
    person = confirmed(out[-1])[0]
    assert person.velocity[0] == pytest.approx(0.25, rel=0.05)
    coast = run(tracker, [[] for _ in range(6)], start=10)
    for k, people in enumerate(coast[:5], start=1):
        (ghost,) = people
        assert ghost.id == person.id and ghost.missed == k and ghost.landmarks.shape == (0, 4)
        assert ghost.centre[0] == pytest.approx(0.29 + 0.01 * k, abs=0.005)  # constant velocity
    assert coast[5] == ()  # the sixth miss is one too many


def test_a_person_back_within_the_coasting_time_keeps_the_id():
    tracker = Tracker(TrackerConfig(confirm_hits=2, max_missed=5))
    run(tracker, [[det(0.2 + 0.01 * i)] for i in range(10)])
    run(tracker, [[] for _ in range(3)], start=10)
    (back,) = tracker.update([det(0.33)], 13 * DT)
    assert back.id == 1 and back.missed == 0


def test_ids_are_never_reused():
    tracker = Tracker(TrackerConfig(confirm_hits=2, max_missed=2))
    seen = []
    for visit in range(4):  # one visitor after another at the same spot
        out = run(tracker, [[det(0.5)]] * 4 + [[]] * 4, start=visit * 8)
        seen += [p.id for people in out for p in confirmed(people)]
    assert sorted(set(seen)) == [1, 2, 3, 4]


def test_two_crossing_people_keep_their_ids_by_motion_and_colour():
    tracker = Tracker(TrackerConfig(confirm_hits=2))
    frames = [[det(0.2 + 0.03 * i, colour=_GREEN), det(0.8 - 0.03 * i, colour=_RED)] for i in range(21)]
    out = run(tracker, frames)
    start = {round(float(p.centre[0]), 2): p.id for p in confirmed(out[2])}
    end = {p.id: float(p.centre[0]) for p in confirmed(out[-1])}
    assert end[start[0.26]] == pytest.approx(0.8, abs=0.01)  # the one from the left ends on the right
    assert end[start[0.74]] == pytest.approx(0.2, abs=0.01)


def test_assignment_is_optimal_not_greedy():
    cost = np.array([[0.1, 0.2], [0.15, 0.9]])  # greedy takes (0,0) then leaves row 1 a bad match
    assert sorted(assign(cost, 0.8)) == [(0, 1), (1, 0)]
    assert assign(np.array([[0.9]]), 0.8) == []
    assert assign(np.zeros((0, 3)), 0.8) == []


def person(pid: int, x: float, size: float, age: float = 1.0) -> Person:
    box = np.array([x - size / 4, 0.5 - size / 2, x + size / 4, 0.5 + size / 2], np.float32)
    return Person(pid, box, np.zeros((0, 4), np.float32), age, 0.0, age, True, np.zeros(2, np.float32))


def test_primary_switches_only_after_a_clear_margin_held_long_enough():
    chooser = PrimaryChooser(PrimaryConfig(policy="closest", margin=0.2, hold_s=1.0))
    rng = np.random.default_rng(0)
    for i in range(100):  # two people of nearly equal size, their boxes jittering
        assert chooser.choose([person(1, 0.3, 0.4 + rng.normal(0, 0.02)), person(2, 0.7, 0.4 + rng.normal(0, 0.02))], i * DT) == 1
    for i in range(100, 124):  # person 2 steps forward: bigger by more than the margin, under 1 s
        assert chooser.choose([person(1, 0.3, 0.4), person(2, 0.7, 0.6)], i * DT) == 1
    assert chooser.choose([person(1, 0.3, 0.4), person(2, 0.7, 0.6)], 125 * DT) == 2
    assert chooser.switches == 1
    assert chooser.choose([person(1, 0.3, 0.4)], 126 * DT) == 1  # the primary left: the role moves at once
    assert chooser.choose([], 127 * DT) is None


@pytest.mark.parametrize("policy", ["closest", "central", "longest"])
def test_policies_pick_the_expected_person(policy):
    chooser = PrimaryChooser(PrimaryConfig(policy=policy))
    people = [person(1, 0.1, 0.8, age=1.0), person(2, 0.5, 0.3, age=2.0), person(3, 0.9, 0.3, age=9.0)]
    assert chooser.choose(people, 0.0) == {"closest": 1, "central": 2, "longest": 3}[policy]


def test_unknown_policy_is_a_clear_error():
    with pytest.raises(ValueError, match="loudest"):
        PrimaryConfig(policy="loudest")


@pytest.mark.parametrize("policy", ["closest", "central"])
def test_primary_holds_with_two_people_standing_still(media, policy):
    """The walkers' last frame held for 100 frames with camera-like pixel noise: two real people
    side by side, standing still. The primary may be chosen once and must then stay."""
    capture = cv2.VideoCapture(str(media / "video/intel_face-demographics-walking.gif"))
    for _ in range(35):
        ok, still = capture.read()
        assert ok
    capture.release()
    rng = np.random.default_rng(7)
    crowd = CrowdPerceiver(PerceptionConfig(hands=False, input_width=0), AudienceConfig(primary=PrimaryConfig(policy=policy)))
    primaries = []
    try:
        for i in range(100):
            noisy = np.clip(still.astype(np.int16) + rng.integers(-6, 7, still.shape), 0, 255).astype(np.uint8)
            observation, audience = crowd.perceive(Frame(i, i / 25, 0.0, noisy))
            primaries.append(audience.primary_id)
    finally:
        crowd.close()
    chosen = [p for p in primaries if p is not None]
    assert len(chosen) >= 90
    changes = sum(a != b for a, b in zip(chosen, chosen[1:]))
    assert changes <= 1, primaries
    assert crowd.chooser.switches <= 1
    assert len(crowd.last_audience.people) == 2
