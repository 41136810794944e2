"""Several people on real media: both walkers of the Intel clip keep their ids, three people in a photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from installation.audience import CrowdPerceiver, DetectorConfig, PeopleDetector
from installation.audience.detection import box_iou, histogram_distance, landmark_box, torso_descriptor
from installation.config import PerceptionConfig
from installation.contracts import Frame, PoseLandmark
from tests.helpers.video import read_frames

WALKING = "video/intel_face-demographics-walking.gif"
THREE = "images/pose/tfjs_three_people.jpg"
GIF_FPS = 12.5  # 80 ms per frame, from the GIF's own frame durations


@pytest.fixture(scope="module")
def walking_run(media):
    """The audience of every frame of the walking clip, replayed in order with media time."""
    frames = read_frames(media / WALKING)
    assert len(frames) == 35
    crowd = CrowdPerceiver(PerceptionConfig(hands=False))
    try:
        return [crowd.perceive(Frame(i, i / GIF_FPS, 0.0, image))[1] for i, image in enumerate(frames)]
    finally:
        crowd.close()


def test_both_walkers_are_found_in_most_frames(walking_run):
    with_two = sum(len(audience.people) == 2 for audience in walking_run)
    assert with_two >= 0.8 * len(walking_run), f"two confirmed people in only {with_two} of {len(walking_run)} frames"
    assert all(len(audience.people) <= 2 for audience in walking_run)  # nobody invented


def test_walkers_keep_their_ids_for_the_whole_clip(walking_run):
    ids = {person.id for audience in walking_run for person in audience.people}
    assert len(ids) == 2, f"ids seen: {sorted(ids)}"
    # They walk side by side and never cross: the woman stays left of the man all along.
    first_two = next(a for a in walking_run if len(a.people) == 2)
    left_id = min(first_two.people, key=lambda p: p.centre[0]).id
    for audience in walking_run:
        if len(audience.people) == 2:
            assert min(audience.people, key=lambda p: p.centre[0]).id == left_id, f"swap at frame {audience.frame_index}"


def test_walkers_are_measured_not_coasting(walking_run):
    seen = [p for audience in walking_run for p in audience.people]
    assert sum(p.missed == 0 and p.landmarks.shape == (33, 4) for p in seen) >= 0.95 * len(seen)
    for person in seen:
        x0, y0, x1, y1 = person.box
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        assert 0.25 < (x0 + x1) / 2 < 0.8  # the walkers are in the middle of the frame, not on the walls


def test_three_people_are_found_in_the_photo(media):
    image = cv2.imread(str(media / THREE))
    detector = PeopleDetector(DetectorConfig())
    try:
        found = detector.detect(image)
    finally:
        detector.close()
    assert len(found) == 3
    # standing left (nose at about x 0.17), seated middle (0.38), standing right (0.84): three
    # distinct faces, not one body found three times
    noses = sorted(float(d.landmarks[PoseLandmark.NOSE, 0]) for d in found)
    assert noses == pytest.approx([0.17, 0.38, 0.84], abs=0.05)
    for a in range(3):
        assert found[a].landmarks.shape == (33, 4)
        for b in range(a + 1, 3):
            assert box_iou(found[a].box, found[b].box) < 0.5


def test_landmark_box_and_descriptor():
    landmarks = np.zeros((33, 4), np.float32)
    landmarks[:, 0] = np.linspace(0.2, 0.4, 33)
    landmarks[:, 1] = np.linspace(0.1, 0.9, 33)
    landmarks[:, 3] = 1.0
    box = landmark_box(landmarks, 0.5)
    assert np.allclose(box, [0.2, 0.1 - 0.08 * 0.8, 0.4, 0.9], atol=1e-6)
    red = np.zeros((100, 100, 3), np.uint8)
    red[:] = (0, 0, 200)
    blue = np.zeros((100, 100, 3), np.uint8)
    blue[:] = (200, 0, 0)
    d_red = torso_descriptor(cv2.cvtColor(red, cv2.COLOR_BGR2HSV), landmarks, box)
    d_blue = torso_descriptor(cv2.cvtColor(blue, cv2.COLOR_BGR2HSV), landmarks, box)
    assert d_red.shape == (64,) and abs(float(d_red.sum()) - 1) < 1e-5
    assert histogram_distance(d_red, d_red) < 1e-3
    assert histogram_distance(d_red, d_blue) > 0.99


def test_three_people_held_in_view_keep_three_ids(media):
    """The photo as a still camera view: overlapping bodies (one seated in front of another) must
    not be tracked twice when a follower's crop drifts onto the neighbour."""
    image = cv2.imread(str(media / THREE))
    crowd = CrowdPerceiver(PerceptionConfig(hands=False))
    try:
        audiences = [crowd.perceive(Frame(i, i / 25, 0.0, image))[1] for i in range(20)]
    finally:
        crowd.close()
    assert all(len(a.people) == 3 for a in audiences[3:])
    assert {p.id for a in audiences for p in a.people} == {1, 2, 3}
