"""Two-hand shapes (heart, cross/X, time-out T) on real hands placed to make them.

No clip or photo in ../shared/media shows a two-hand shape, so the shapes are built from real
MediaPipe landmark sets moved rigidly (turned in the image plane, mirrored, shifted), never
reshaped: a heart from the "C" hand of tfjs_asl_hand.25fps.mp4 (frame 51: thumb out, fingers
curved) and its mirror image; a T from the open palms of tfjs_hands.jpg; an X from the dancer of
tfjs_pose_1_dance.mp4 with her arms turned at the shoulders and elbows until the wrists cross,
and real fists on her wrists. Each shape must reach the event threshold where it is made and stay under
it on the others, on two pointing hands, two fists, and the unchanged photos and poses.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from installation.contracts import HandLandmark as H
from installation.contracts import PoseLandmark as P
from installation.file_sources import clip_frames
from installation.gestures.body_poses import PoseView
from installation.gestures.config import GesturesConfig
from installation.gestures.normalise import BodyFrame, isotropic, palm_length
from installation.gestures.two_hand_shapes import two_hand_confidences

ON = GesturesConfig().on_threshold  # what starts an event (the gates' hysteresis does the rest)
ASL = "video/tfjs_asl_hand.25fps.mp4"
C_HAND, POINTING, FIST = 51, 147, 180  # frames of the ASL clip
DANCE_FRAME = 50  # the dancer's arms seen at their full length (forearms ~1 shoulder width)


def _found_hands(image: np.ndarray, count: int) -> list[np.ndarray]:
    """The isotropic (21, 3) hands MediaPipe Hands (static mode) finds in ``image``, left to right."""
    import mediapipe as mp

    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=count, model_complexity=1) as hands:
        result = hands.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    found = [isotropic(np.array([(p.x, p.y, p.z) for p in hand.landmark]), image.shape[1] / image.shape[0])
             for hand in result.multi_hand_landmarks or ()]
    return sorted(found, key=lambda hand: float(hand[H.WRIST, 0]))


@pytest.fixture(scope="module")
def real(media) -> dict[str, object]:
    frames = clip_frames(media / ASL)
    asl = {name: _found_hands(frames[index], 1)[0] for name, index in
           (("c", C_HAND), ("pointing", POINTING), ("fist", FIST))}
    palms = _found_hands(cv2.imread(str(media / "images" / "hands" / "tfjs_hands.jpg")), 2)
    dance = clip_frames(media / "video" / "tfjs_pose_1_dance.mp4")[DANCE_FRAME]
    import mediapipe as mp

    with mp.solutions.pose.Pose(static_image_mode=True) as pose:
        landmarks = pose.process(cv2.cvtColor(dance, cv2.COLOR_BGR2RGB)).pose_landmarks.landmark
    body = np.array([(p.x, p.y, p.z, p.visibility) for p in landmarks], np.float64)  # (33, 4), square image
    return {**asl, "palms": palms, "pose": body}


def _turned(hand: np.ndarray, degrees: float) -> np.ndarray:
    """The hand turned in the image plane about its wrist (image y down: positive is clockwise)."""
    a = np.radians(degrees)
    rotation = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    return (hand - hand[H.WRIST]) @ rotation.T + hand[H.WRIST]


def _pointing_along(hand: np.ndarray, direction: tuple[float, float]) -> np.ndarray:
    """The hand turned so its wrist-to-middle-tip runs along ``direction`` (x, y)."""
    along = hand[H.MIDDLE_TIP, :2] - hand[H.WRIST, :2]
    return _turned(hand, np.degrees(np.arctan2(direction[1], direction[0]) - np.arctan2(along[1], along[0])))


def _mirror(hand: np.ndarray) -> np.ndarray:
    return hand * np.array([-1.0, 1.0, 1.0])


def _moved(hand: np.ndarray, landmark: H, to: np.ndarray) -> np.ndarray:
    return hand + np.r_[np.asarray(to, np.float64)[:2] - hand[landmark, :2], 0.0]


def _facing_pair(hand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The heart's way of holding two hands: ``hand`` turned so its thumb tip is straight below its
    index tip, on the left with its tips 0.1 palm left of x = 0, and its mirror image on the right."""
    gap = hand[H.THUMB_TIP, :2] - hand[H.INDEX_TIP, :2]
    left = _turned(hand, 90.0 - np.degrees(np.arctan2(gap[1], gap[0])))
    if left[H.WRIST, 0] > left[H.INDEX_TIP, 0]:
        left = _mirror(left)
    left = _moved(left, H.INDEX_TIP, (-0.1 * palm_length(left), 0.0))
    return left, _mirror(left)


def _t(palms: list[np.ndarray], stem_up: bool) -> tuple[np.ndarray, np.ndarray]:
    """A time-out T: one open palm pointing up, the other sideways, the sideways one's fingertips
    on the upright one's palm (``stem_up`` False), or the upright one's on the sideways one's."""
    upright = _pointing_along(palms[0], (0.0, -1.0))
    across = _pointing_along(_mirror(palms[1]), (1.0, 0.0))
    if stem_up:  # the common T: the bar across on top, the upright fingers touching its palm
        middle = (across[H.WRIST, :2] + across[H.MIDDLE_MCP, :2]) / 2
        return across, _moved(upright, H.MIDDLE_TIP, middle)
    middle = (upright[H.WRIST, :2] + upright[H.MIDDLE_MCP, :2]) / 2
    return _moved(across, H.MIDDLE_TIP, middle), upright


def _crossed_pose(pose: np.ndarray) -> np.ndarray:
    """The pose with its arms turned at the shoulders and elbows, bones kept at their lengths: the
    elbows hang below and a little inside the shoulders, the forearms reach up across the chest
    and the wrists end 0.4 shoulder widths past the middle, on the other side."""
    crossed = pose.copy()
    middle = pose[[P.LEFT_SHOULDER, P.RIGHT_SHOULDER], :2].mean(axis=0)
    width = float(np.linalg.norm(pose[P.LEFT_SHOULDER, :2] - pose[P.RIGHT_SHOULDER, :2]))
    down = np.array([0.0, width])  # image y grows downwards
    for shoulder, elbow, wrist in ((P.LEFT_SHOULDER, P.LEFT_ELBOW, P.LEFT_WRIST),
                                   (P.RIGHT_SHOULDER, P.RIGHT_ELBOW, P.RIGHT_WRIST)):
        side = pose[shoulder, :2] - middle  # half a shoulder width toward this arm's side
        for start, end, target in ((shoulder, elbow, middle + 0.7 * side + down),
                                   (elbow, wrist, middle - 0.8 * side + 0.4 * down)):
            length = float(np.linalg.norm(pose[end, :2] - pose[start, :2]))
            towards = target - crossed[start, :2]
            crossed[end, :2] = crossed[start, :2] + length * towards / np.linalg.norm(towards)
    return crossed


def _hands_on_wrists(pose: np.ndarray, fist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A real fist, scaled to a third of the shoulder width (its palm), on each pose wrist, turned
    along its forearm; the visitor's right hand is the mirror image."""
    shoulders = float(np.linalg.norm(pose[P.LEFT_SHOULDER, :2] - pose[P.RIGHT_SHOULDER, :2]))
    fist = (fist - fist[H.WRIST]) * (shoulders / 3.0 / palm_length(fist))
    hands = []
    for elbow, wrist, hand in ((P.LEFT_ELBOW, P.LEFT_WRIST, fist), (P.RIGHT_ELBOW, P.RIGHT_WRIST, _mirror(fist))):
        forearm = pose[wrist, :2] - pose[elbow, :2]
        hands.append(_moved(_pointing_along(hand, tuple(forearm)), H.WRIST, pose[wrist, :2]))
    return hands[0], hands[1]


def _view(pose: np.ndarray) -> PoseView:
    return PoseView(pose, BodyFrame.of(pose, 1.0, mirrored=False), 1.0)


def _confidences(left: np.ndarray, right: np.ndarray, pose: np.ndarray | None = None) -> dict[str, float]:
    view = _view(pose) if pose is not None else None
    return {shape.value: value for shape, value in two_hand_confidences(left, right, view).items()}


def test_a_heart_of_two_real_c_hands_is_a_heart_and_nothing_else(real):
    read = _confidences(*_facing_pair(real["c"]))
    assert read["heart"] >= ON and read["time_out"] < ON and read["cross"] == 0.0, read


@pytest.mark.parametrize("hand", ["pointing", "fist"])
def test_two_pointing_hands_or_fists_held_like_a_heart_are_not_one(real, hand):
    read = _confidences(*_facing_pair(real[hand]))
    assert max(read.values()) < ON, read


@pytest.mark.parametrize("stem_up", [False, True])
def test_a_time_out_of_two_real_open_palms_either_way_round(real, stem_up):
    read = _confidences(*_t(real["palms"], stem_up))
    assert read["time_out"] >= ON and read["heart"] < ON, read


def test_open_palms_side_by_side_or_tip_to_tip_are_no_time_out(real):
    left, right = real["palms"]
    assert max(_confidences(left, right).values()) < ON  # the photo as shot: two palms up, apart
    upright = _pointing_along(left, (0.0, -1.0))
    across = _pointing_along(_mirror(right), (1.0, 0.0))
    tip_to_tip = _moved(across, H.MIDDLE_TIP, upright[H.MIDDLE_TIP, :2])  # an L, not a T
    assert _confidences(tip_to_tip, upright)["time_out"] < ON


def test_crossed_forearms_are_an_x_and_the_dancers_own_arms_are_not(real):
    crossed = _crossed_pose(real["pose"])
    read = _confidences(*_hands_on_wrists(crossed, real["fist"]), crossed)
    assert read["cross"] >= ON and read["heart"] < ON and read["time_out"] < ON, read
    plain = _confidences(*_hands_on_wrists(real["pose"], real["fist"]), real["pose"])
    assert max(plain.values()) < ON, plain
    assert _confidences(*_hands_on_wrists(crossed, real["fist"]))["cross"] == 0.0  # no pose, no X
