"""Built-in hand gestures on real photos, through the real pipeline: MediaPipe (Perceiver) ->
smoothing (BodySmoother) -> GestureRecognizer, in the image as shot and mirrored.

tfjs_asl_hand_f063.jpg is not used as "pointing": it shows the ASL letter I, the *little*
finger raised (the landmarks agree), so it must not read as pointing. tfjs_asl_hand_f295.jpg
(a claw, ASL E/C) is none of the built-in shapes and is left out."""

from __future__ import annotations

import dataclasses

import cv2
import pytest

from installation.config import PerceptionConfig, SmoothingConfig
from installation.contracts import Frame, Observation
from installation.gestures import GestureRecognizer, GesturesConfig, Phase
from installation.gestures.hand_shapes import HandShape, best_shape, shape_confidences
from installation.gestures.normalise import isotropic
from installation.perceiver import Perceiver
from installation.smoothing import BodySmoother

PHOTOS = {
    "mpsamples_hand_landmarker_test_image.jpg": "thumbs_up",
    "mpsamples_hand_thumb_up.jpg": "thumbs_up",
    "mpsamples_thumbs-up.png": "thumbs_up",
    "tfjs_asl_hand_f000.jpg": "fist",
    "tfjs_asl_hand_f230.jpg": "fist",
    "tfjs_asl_hand_f147.jpg": "pointing",
    "tfjs_hands.jpg": "open_palm",
}


def perceive(path, mirrored: bool) -> tuple[Observation, float]:
    """One photo through MediaPipe (a fresh perceiver: tracking must not carry across photos)."""
    image = cv2.imread(str(path))
    perceiver = Perceiver(PerceptionConfig(schedule="inline"))
    try:
        observation = perceiver.process(Frame(0, 0.0, 0.0, cv2.flip(image, 1) if mirrored else image, mirrored))
    finally:
        perceiver.close()
    return observation, image.shape[1] / image.shape[0]


def recognise_still(observation: Observation, aspect: float, mirrored: bool, seconds: float = 0.5) -> list:
    """Events of the photo held in front of the camera for ``seconds`` (the observation repeated
    at 30 fps through the smoother and the recogniser)."""
    smoother = BodySmoother(SmoothingConfig())
    recognizer = GestureRecognizer(GesturesConfig(), aspect, mirrored)
    events = []
    for index in range(int(seconds * 30)):
        t = index / 30.0
        body = smoother.update(dataclasses.replace(observation, frame_index=index, timestamp_s=t))
        events += recognizer.update(body, t)
    return events


@pytest.mark.parametrize("mirrored", [False, True], ids=["as-shot", "mirrored"])
@pytest.mark.parametrize("photo", sorted(PHOTOS))
def test_photo_gets_its_built_in_gesture(media, photo, mirrored):
    observation, aspect = perceive(media / "images" / "hands" / photo, mirrored)
    assert observation.hands, "MediaPipe found no hand"
    expected = PHOTOS[photo]
    for hand in observation.hands:  # the classifier on every hand MediaPipe found
        assert best_shape(isotropic(hand.landmarks, aspect))[0].value == expected
    # and the whole path. Without a pose, sides come from MediaPipe's handedness, which calls
    # both palms of tfjs_hands.jpg "left"; the smoother keeps one hand per side, so one event.
    started = [(e.name, e.side) for e in recognise_still(observation, aspect, mirrored) if e.phase is Phase.START]
    hand_shapes = {shape.value for shape in HandShape}
    sides = {hand.side for hand in observation.hands}
    assert [name for name, _ in started if name in hand_shapes] == [expected] * len(sides), started
    assert {side for name, side in started if name in hand_shapes} == sides


def test_the_little_finger_raised_is_not_pointing(media):
    observation, aspect = perceive(media / "images" / "hands" / "tfjs_asl_hand_f063.jpg", mirrored=False)
    (hand,) = observation.hands
    confidences = shape_confidences(isotropic(hand.landmarks, aspect))
    assert confidences[HandShape.POINTING] < 0.1 and confidences[HandShape.OPEN_PALM] < 0.1
