"""Perception on real photos: landmarks found, sides that are the visitor's own, nobody = empty."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from installation.clock import ManualClock
from installation.config import PerceptionConfig
from installation.contracts import Frame, Observation, PoseLandmark, Side
from installation.perceiver import Perceiver, assign_sides
from installation.perception import InlinePerception, ThreadedPerception
from installation.slots import NewestSlot
from tests.helpers.video import mirrored_frames


@pytest.fixture(scope="module")
def perceiver():
    instance = Perceiver(PerceptionConfig())
    yield instance
    instance.close()


def frame_of(path, mirrored: bool = False, index: int = 0) -> Frame:
    image = cv2.imread(str(path))
    return Frame(index, index / 30, 0.0, cv2.flip(image, 1) if mirrored else image, mirrored)


@pytest.mark.parametrize("mirrored", [False, True])
def test_pose_sides_are_the_visitors_own_whether_or_not_the_image_is_mirrored(media, mirrored):
    # a fresh perceiver per image: tracking mode must not carry a person across unrelated images
    perceiver = Perceiver(PerceptionConfig())
    observation = perceiver.process(frame_of(media / "images" / "pose" / "tfjs_pose.jpg", mirrored))
    perceiver.close()
    assert observation.has_pose
    left_x = observation.pose[PoseLandmark.LEFT_SHOULDER, 0]
    right_x = observation.pose[PoseLandmark.RIGHT_SHOULDER, 0]
    # facing the camera, the visitor's left shoulder is on the image's right unless mirrored
    assert (left_x < right_x) if mirrored else (left_x > right_x)


@pytest.mark.parametrize("mirrored", [False, True])
def test_each_hand_is_given_the_side_of_the_nearer_pose_wrist(media, mirrored):
    perceiver = Perceiver(PerceptionConfig())
    observation = perceiver.process(frame_of(media / "images" / "pose" / "mpsamples_pose_test_image.jpg", mirrored))
    perceiver.close()
    assert observation.has_pose and len(observation.hands) == 2
    for hand in observation.hands:
        wrist = PoseLandmark.LEFT_WRIST if hand.side is Side.LEFT else PoseLandmark.RIGHT_WRIST
        other = PoseLandmark.RIGHT_WRIST if hand.side is Side.LEFT else PoseLandmark.LEFT_WRIST
        near = np.linalg.norm(hand.landmarks[0, :2] - observation.pose[wrist, :2])
        far = np.linalg.norm(hand.landmarks[0, :2] - observation.pose[other, :2])
        assert near < far
    assert {hand.side for hand in observation.hands} == {Side.LEFT, Side.RIGHT}


def test_without_a_pose_handedness_labels_are_used_and_swapped_for_unmirrored_images():
    hands = [np.zeros((21, 3), np.float32)]
    empty_pose = np.zeros((0, 4), np.float32)
    assert assign_sides(hands, ["Left"], empty_pose, mirrored=True) == [Side.LEFT]
    assert assign_sides(hands, ["Left"], empty_pose, mirrored=False) == [Side.RIGHT]


def test_nobody_there_is_an_empty_observation_not_none(perceiver, media):
    capture = cv2.VideoCapture(str(media / "video" / "opencv_tree_nobody.avi"))
    ok, image = capture.read()
    observation = perceiver.process(Frame(0, 0.0, 0.0, image))
    assert observation is not None and observation.is_empty
    assert observation.pose.shape == (0, 4) and observation.hands == ()


def test_inference_size_is_independent_of_the_camera_size(media):
    path = media / "images" / "hands" / "tfjs_hands.jpg"
    results = []
    for width in (320, 960):
        perceiver = Perceiver(PerceptionConfig(input_width=width))
        results.append(perceiver.process(frame_of(path)))
        perceiver.close()
    small, large = results
    assert len(small.hands) == len(large.hands) == 2
    # normalised coordinates: the same wrists within 2% of the image, whatever the inference size
    for a, b in zip(sorted(h.landmarks[0, 0] for h in small.hands), sorted(h.landmarks[0, 0] for h in large.hands)):
        assert abs(a - b) < 0.02


def test_threaded_schedule_returns_the_same_observation_as_inline(media):
    frame = frame_of(media / "images" / "pose" / "tfjs_pose.jpg")
    inline = InlinePerception(Perceiver(PerceptionConfig()))
    threaded = ThreadedPerception(lambda: Perceiver(PerceptionConfig()))
    inline.submit(frame)
    threaded.submit(frame)
    a, b = inline.wait(), threaded.wait()
    inline.close()
    threaded.close()
    assert np.array_equal(a.pose, b.pose)
    assert threaded.poll() is None


def test_hands_found_from_pose_regions_match_the_palm_detectors(media):
    # a signer with both hands up, mirrored as the runtime sees it: the same hands, sides and
    # landmarks (within a few pixels of the 640-pixel image) whichever way the hands are found
    regions = Perceiver(PerceptionConfig(hand_regions="pose"))
    palms = Perceiver(PerceptionConfig(hand_regions="palm_detector"))
    distances, both = [], 0
    for frame in mirrored_frames(media / "video" / "intel_asl" / "please.mkv", 30):
        a, b = regions.process(frame), palms.process(frame)
        found_a = {hand.side: hand.landmarks for hand in a.hands}
        found_b = {hand.side: hand.landmarks for hand in b.hands}
        both += len(found_a.keys() & found_b.keys())
        assert len(found_a) >= len(found_b) - 1
        for side in found_a.keys() & found_b.keys():
            distances.append(np.median(np.linalg.norm((found_a[side][:, :2] - found_b[side][:, :2]) * [640, 480], axis=1)))
    regions.close()
    palms.close()
    assert both >= 40  # both hands in most of the 30 frames
    assert np.median(distances) < 4.0


def test_without_a_pose_the_palm_detector_still_finds_the_hands(media):
    # tfjs_hands.jpg: two palms and no body; the pose gives no region, the whole frame is searched
    perceiver = Perceiver(PerceptionConfig(hand_regions="pose"))
    observation = perceiver.process(frame_of(media / "images" / "hands" / "tfjs_hands.jpg"))
    perceiver.close()
    assert not observation.has_pose and len(observation.hands) == 2


class GatedPerceiver:
    """Stands in for a Perceiver: each frame waits for the test's ``go`` before its observation."""

    def __init__(self) -> None:
        self.errors = self.consecutive_errors = 0
        self.started, self.go = threading.Event(), threading.Event()

    def process(self, frame: Frame) -> Observation:
        self.started.set()
        self.go.wait(timeout=10.0)
        return Observation(frame.index, frame.timestamp_s, frame.wall_s)

    def counters(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        self.go.set()


def blank_frame(index: int, wall_s: float) -> Frame:
    return Frame(index, index / 30, wall_s, np.zeros((4, 4, 3), np.uint8))


def test_the_hang_watch_measures_the_clocks_wall_time():
    clock = ManualClock()
    made: list[GatedPerceiver] = []

    def make() -> GatedPerceiver:
        made.append(GatedPerceiver())
        return made[-1]

    schedule = ThreadedPerception(make, hang_timeout_s=5.0, clock=clock)
    try:
        schedule.submit(blank_frame(0, clock.wall()))
        assert made[0].started.wait(timeout=5.0)  # the worker is busy on frame 0, for as long as the test likes
        assert schedule.poll() is None and schedule.restarts == 0
        clock.advance_wall(4.9)
        assert schedule.poll() is None and schedule.restarts == 0
        clock.advance_wall(0.2)  # 5.1 s of the clock's wall time without a result: hung
        assert schedule.poll() is None
        assert schedule.restarts == 1 and len(made) == 2
    finally:
        made[0].go.set()
        schedule.close()


@pytest.mark.parametrize("waited_s, swapped", [(0.05, False), (0.5, True)])
def test_a_frames_age_is_measured_on_the_clocks_wall_time(waited_s, swapped):
    clock = ManualClock()
    schedule = ThreadedPerception(GatedPerceiver, max_frame_age_s=0.1, clock=clock)
    try:
        taken = blank_frame(1, clock.wall())
        clock.advance_wall(waited_s)  # how long the frame waited while the worker was busy
        inbox: NewestSlot[Frame] = NewestSlot()
        inbox.put(blank_frame(2, clock.wall()))
        chosen = schedule._freshest(taken, inbox)
    finally:
        schedule.close()
    assert chosen.index == (2 if swapped else 1)
    assert schedule.stale_swapped == int(swapped)
