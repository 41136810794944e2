"""Zones: point-in-polygon with a border margin, enter/leave events, people outside the interaction
zone ignored, in replay of the walking clip; and the fixed OSC slots."""

from __future__ import annotations

import numpy as np
import pytest

from installation.audience import Audience, CrowdPerceiver, OscSlots, Person, Zone, ZoneEvent, ZoneWatch, anchor_point
from installation.audience.zones import signed_distance
from installation.config import PerceptionConfig
from installation.contracts import Frame, PoseLandmark
from tests.helpers.video import read_frames

SQUARE = Zone("square", ((0.2, 0.2), (0.6, 0.2), (0.6, 0.6), (0.2, 0.6)))
GIF_FPS = 12.5


def test_signed_distance_inside_outside_and_concave():
    square = np.array(SQUARE.points)
    assert signed_distance((0.4, 0.4), square) == pytest.approx(0.2)
    assert signed_distance((0.7, 0.4), square) == pytest.approx(-0.1)
    ell = np.array([(0, 0), (1, 0), (1, 0.5), (0.5, 0.5), (0.5, 1), (0, 1)])  # an L: the notch is outside
    assert signed_distance((0.75, 0.75), ell) < 0 < signed_distance((0.25, 0.75), ell)


def test_a_person_on_the_border_does_not_chatter():
    watch = ZoneWatch([SQUARE], margin=0.02)
    events = []
    for i, x in enumerate(0.6 + 0.015 * np.sin(np.arange(50))):  # wobbling across the right edge
        events += watch.update([(1, (float(x), 0.4))], i * 0.04)
    assert events == []
    events = watch.update([(1, (0.5, 0.4))], 2.0) + watch.update([(1, (0.61, 0.4))], 2.04)
    assert events == (ZoneEvent("square", 1, "enter", 2.0),)  # 0.01 outside is within the margin: still in
    assert watch.update([(1, (0.65, 0.4))], 2.08) == (ZoneEvent("square", 1, "leave", 2.08),)


def test_a_person_who_goes_leaves_every_zone():
    watch = ZoneWatch([SQUARE, Zone("floor", ((0, 0), (1, 0), (1, 1), (0, 1)), role="event")])
    assert [e.kind for e in watch.update([(3, (0.4, 0.4))], 0.0)] == ["enter", "enter"]
    assert watch.zones_of(3) == {"square", "floor"} and watch.interacting(3)
    assert watch.update([], 1.0) == (ZoneEvent("square", 3, "leave", 1.0), ZoneEvent("floor", 3, "leave", 1.0))
    assert not watch.interacting(3)


def test_without_interaction_zones_everyone_interacts():
    watch = ZoneWatch([Zone("door", SQUARE.points, role="event")])
    watch.update([(1, (0.9, 0.9))], 0.0)
    assert watch.interacting(1)


def test_bad_zones_are_clear_errors():
    with pytest.raises(ValueError, match="3 points"):
        Zone("line", ((0, 0), (1, 1)))
    with pytest.raises(ValueError, match="unique"):
        ZoneWatch([SQUARE, SQUARE])


def test_anchor_is_between_the_ankles_or_the_bottom_of_the_box():
    box = np.array([0.4, 0.2, 0.6, 0.9], np.float32)
    assert anchor_point(box, np.zeros((0, 4), np.float32)) == pytest.approx((0.5, 0.9))
    pose = np.zeros((33, 4), np.float32)
    pose[PoseLandmark.LEFT_ANKLE] = (0.45, 0.85, 0, 0.9)
    pose[PoseLandmark.RIGHT_ANKLE] = (0.55, 0.87, 0, 0.9)
    assert anchor_point(box, pose) == pytest.approx((0.5, 0.86))


def _person(pid: int, x: float) -> Person:
    box = np.array([x - 0.05, 0.3, x + 0.05, 0.9], np.float32)
    return Person(pid, box, np.zeros((0, 4), np.float32), 1.0, 0.0, 1.0, True, np.zeros(2, np.float32))


def test_osc_slots_are_stable_and_the_lowest_free_one_is_taken():
    slots = OscSlots(3)

    def audience(*ids: int, primary: int | None = None) -> Audience:
        people = tuple(_person(i, 0.1 * i) for i in ids)
        return Audience(0, 0.0, people, primary, (), {p.id: (float(p.centre[0]), 0.9) for p in people})

    def table(messages):
        return {address: args[0] for address, args in messages}

    first = table(slots.messages(audience(4, 7, primary=7)))
    assert (first["/person/0/id"], first["/person/1/id"], first["/person/2/id"]) == (4, 7, -1)
    assert first["/person/1/x"] == pytest.approx(0.7) and first["/person/1/present"] == 1
    assert first["/audience/primary"] == 1 and first["/person/2/present"] == 0
    second = table(slots.messages(audience(7, 9, 11)))  # 4 left; 9 takes its slot 0; 11 slot 2
    assert (second["/person/0/id"], second["/person/1/id"], second["/person/2/id"]) == (9, 7, 11)
    assert second["/audience/primary"] == -1
    third = table(slots.messages(audience(7, 9, 11, 12)))  # no free slot: 12 waits, nobody moves
    assert (third["/person/0/id"], third["/person/1/id"], third["/person/2/id"]) == (9, 7, 11)
    assert len(slots.messages(audience())) == 3 * 4 + 1


@pytest.fixture(scope="module")
def ping_pong_run(media):
    """The walking clip forward then backward (the walkers go left, then come back), with one
    interaction zone over the left part of the corridor; time from the frame index."""
    frames = read_frames(media / "video/intel_face-demographics-walking.gif")
    left = Zone("left", ((0.0, 0.0), (0.45, 0.0), (0.45, 1.0), (0.0, 1.0)))
    crowd = CrowdPerceiver(PerceptionConfig(hands=False), zones=[left])
    try:
        replay = frames + frames[-2::-1]
        return [crowd.perceive(Frame(i, i / GIF_FPS, 0.0, image))[1] for i, image in enumerate(replay)]
    finally:
        crowd.close()


def test_zone_events_fire_when_a_walker_goes_in_and_out(ping_pong_run):
    events = [e for audience in ping_pong_run for e in audience.events]
    assert [(e.zone, e.kind) for e in events] == [("left", "enter"), ("left", "leave")]
    enter, leave = events
    assert enter.person_id == leave.person_id
    assert 1.0 < enter.t < 2.8 < leave.t < 4.5  # in during the clip's second half, out on the way back
    walker = next(a for a in ping_pong_run if a.frame_index == 30).person(enter.person_id)
    assert walker.centre[0] < 0.45  # the walker on the left went in, not the one on the right


def test_people_outside_the_interaction_zone_are_ignored(ping_pong_run):
    enter, leave = [e for audience in ping_pong_run for e in audience.events]
    for audience in ping_pong_run:
        inside = enter.t <= audience.timestamp_s < leave.t
        assert audience.primary_id == (enter.person_id if inside else None), f"frame {audience.frame_index}"
    assert any(len(a.people) == 2 for a in ping_pong_run if a.primary_id is None)  # present, yet ignored
