"""Body-size normalisation: the body's features mean the same for a visitor near the camera and
one far from it (or a child and an adult): distances are measured in the visitor's own shoulder
widths and torso lengths, so only ``body_size`` and the positions change with distance."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from installation.config import PerceptionConfig, SmoothingConfig
from installation.contracts import Frame
from installation.features import FeatureExtractor
from installation.perceiver import Perceiver
from installation.smoothing import BodySmoother

SCALE_INVARIANT = ("hands_spread", "left_hand_height", "right_hand_height", "lean")


def features_of(image: np.ndarray):
    perceiver = Perceiver(PerceptionConfig())
    try:
        observation = perceiver.process(Frame(0, 0.0, 0.0, image))
    finally:
        perceiver.close()
    assert observation.has_pose
    body = BodySmoother(SmoothingConfig()).update(observation)
    return FeatureExtractor(image_aspect=image.shape[1] / image.shape[0]).update(body).as_dict()


@pytest.mark.parametrize("photo", ["tfjs_pose.jpg", "mpsamples_pose_test_image.jpg"])
def test_a_visitor_twice_as_far_away_gives_the_same_body_features(media, photo):
    near = cv2.imread(str(media / "images" / "pose" / photo))
    height, width = near.shape[:2]
    far = np.full_like(near, 127)  # the same person at 60 % of the size, standing further back
    small = cv2.resize(near, (int(width * 0.6), int(height * 0.6)), interpolation=cv2.INTER_AREA)
    top, left = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    far[top:top + small.shape[0], left:left + small.shape[1]] = small
    a, b = features_of(near), features_of(far)
    for name in SCALE_INVARIANT:
        assert abs(a[name] - b[name]) <= 0.12, f"{name}: near {a[name]:.3f}, far {b[name]:.3f}"
    assert b["body_size"] == pytest.approx(0.6 * a["body_size"], rel=0.2), "the size itself does change"
