"""Normalisation: descriptors do not change with hand size, distance, position, left/right or
mirroring, on real MediaPipe hands (keypoint.csv) and on body poses."""

from __future__ import annotations

import numpy as np
import pytest

from installation.contracts import PoseLandmark
from installation.gestures.normalise import (
    BodyFrame,
    hand_descriptor,
    hand_descriptors,
    isotropic,
    mirror_movement,
    mirror_points,
    movement_descriptor,
    trim_rest,
)
from installation.perceiver import MIRRORED_POSE_ORDER


@pytest.fixture(scope="module")
def real_hands(media) -> np.ndarray:
    """200 real hands from keypoint.csv, (200, 21, 2), evenly over the file."""
    rows = np.loadtxt(media / "gestures" / "keypoint.csv", delimiter=",")
    return rows[:: len(rows) // 200, 1:].reshape(-1, 21, 2)[:200]


def test_hand_descriptor_ignores_scale_translation_and_mirror(real_hands):
    reference = hand_descriptors(real_hands)
    assert np.isfinite(reference).all()
    rng = np.random.default_rng(3)
    for _ in range(5):
        scale = rng.uniform(0.05, 20.0)
        shift = rng.uniform(-5.0, 5.0, size=2)
        moved = real_hands * scale + shift
        np.testing.assert_allclose(hand_descriptors(moved), reference, atol=1e-9)
        np.testing.assert_allclose(hand_descriptors(mirror_points(moved)), reference, atol=1e-9)


def test_hand_descriptor_keeps_up_from_down(real_hands):
    upside_down = real_hands * np.array([1.0, -1.0])
    change = np.linalg.norm(hand_descriptors(upside_down) - hand_descriptors(real_hands), axis=1)
    assert np.median(change) > 1.0  # a thumb up and a thumb down are different gestures


def test_aspect_makes_one_hand_identical_in_any_image_shape(real_hands):
    hand_px = real_hands[0] * 80.0 + np.array([400.0, 300.0])  # pixels in a 1280 x 720 image
    descriptors = []
    for width, height in ((1280, 720), (640, 480), (720, 1280)):
        # the same hand seen by a camera of another size: pixels scaled, then normalised per axis
        pixels = hand_px * min(width / 1280.0, height / 720.0)
        normalised = pixels / np.array([width, height])
        descriptors.append(hand_descriptor(isotropic(normalised, width / height)))
    for other in descriptors[1:]:
        np.testing.assert_allclose(other, descriptors[0], atol=1e-9)


def test_a_degenerate_hand_has_no_descriptor():
    assert hand_descriptor(np.zeros((21, 3))) is None
    with pytest.raises(ValueError, match="21"):
        hand_descriptors(np.zeros((2, 20, 2)))


def standing_pose() -> np.ndarray:
    """A plausible (33, 4) pose facing an unmirrored camera, arms slightly out."""
    pose = np.zeros((33, 4))
    pose[:, :2] = (0.5, 0.5)
    pose[:, 3] = 1.0
    # facing the camera, the visitor's left is on the image's right
    pose[PoseLandmark.LEFT_SHOULDER, :2] = (0.6, 0.4)
    pose[PoseLandmark.RIGHT_SHOULDER, :2] = (0.4, 0.4)
    pose[PoseLandmark.LEFT_ELBOW, :2] = (0.68, 0.52)
    pose[PoseLandmark.RIGHT_ELBOW, :2] = (0.33, 0.5)
    pose[PoseLandmark.LEFT_WRIST, :2] = (0.72, 0.63)
    pose[PoseLandmark.RIGHT_WRIST, :2] = (0.25, 0.35)
    return pose


def mirrored_perception(pose: np.ndarray) -> np.ndarray:
    """What perception returns for the same visitor in a flipped (mirrored) frame: x flipped,
    labels still the visitor's own (perception swaps MediaPipe's image-based labels back)."""
    flipped = pose.copy()
    flipped[:, 0] = 1.0 - flipped[:, 0]
    return flipped


def other_handed_perception(pose: np.ndarray) -> np.ndarray:
    """A mirror-image visitor (the other hand making the mirror movement) in an unmirrored frame:
    the flipped picture, labelled as MediaPipe labels an unmirrored image."""
    return mirrored_perception(pose)[MIRRORED_POSE_ORDER]


def test_body_frame_puts_the_visitors_right_at_plus_u_mirrored_or_not():
    pose = standing_pose()
    frame = BodyFrame.of(pose, 4 / 3, mirrored=False)
    right_wrist = frame.to_body(isotropic(pose[PoseLandmark.RIGHT_WRIST, :2], 4 / 3))
    assert right_wrist[0] > 0.5 and right_wrist[1] > 0  # out to the right and raised
    flipped = mirrored_perception(pose)
    mirrored_frame = BodyFrame.of(flipped, 4 / 3, mirrored=True)
    same = mirrored_frame.to_body(isotropic(flipped[PoseLandmark.RIGHT_WRIST, :2], 4 / 3))
    np.testing.assert_allclose(same, right_wrist, atol=1e-12)


def test_movement_descriptor_is_the_same_in_a_mirrored_image_and_scale_free():
    pose = standing_pose()
    flipped = mirrored_perception(pose)
    plain = movement_descriptor(pose, {}, 4 / 3, mirrored=False)
    np.testing.assert_allclose(movement_descriptor(flipped, {}, 4 / 3, mirrored=True), plain, atol=1e-12)
    farther = pose.copy()  # the visitor steps back: half the size, elsewhere in the picture
    farther[:, :2] = 0.5 * pose[:, :2] + 0.2
    np.testing.assert_allclose(movement_descriptor(farther, {}, 4 / 3, mirrored=False), plain, atol=1e-12)


def test_mirror_movement_is_the_other_hand_making_the_mirror_movement():
    pose = standing_pose()
    other_hand = other_handed_perception(pose)
    plain = movement_descriptor(pose, {}, 4 / 3, mirrored=False)
    mirrored = movement_descriptor(other_hand, {}, 4 / 3, mirrored=False)
    np.testing.assert_allclose(mirrored, mirror_movement(plain[None])[0], atol=1e-12)
    np.testing.assert_allclose(mirror_movement(mirror_movement(plain[None])), plain[None])


def test_trim_rest_drops_the_stillness_around_a_movement():
    still = np.zeros((10, 2))
    movement = np.stack([np.linspace(0.0, 1.0, 20), np.zeros(20)], axis=1)
    sequence = np.concatenate([still, movement, np.tile(movement[-1], (10, 1))])
    trimmed = trim_rest(sequence)
    assert 14 <= len(trimmed) <= 24  # the movement, less its slow first and last few per cent
    assert trimmed[0, 0] < 0.2 and trimmed[-1, 0] > 0.8
    assert trim_rest(np.zeros((5, 2))).shape == (5, 2)  # never moves: kept whole
