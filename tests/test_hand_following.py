"""Hands between runs of the hand landmark model: followed by their image motion, looked at again
when they change shape, never one hand on both sides, the palm detector's hands followed too."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from installation.config import PerceptionConfig
from installation.contracts import Frame
from installation.hand_motion import HandMotion
from installation.perceiver import Perceiver
from tests.helpers.video import mirrored_frames

FOLLOWED_FRAMES = 6


def _clip(media, name: str, limit: int | None = None) -> list[Frame]:
    return mirrored_frames(media / "video" / name, limit)


def _every_frame_hands(frames: list[Frame]) -> tuple[list[np.ndarray], list[dict]]:
    """Each frame's 640-pixel grey inference image, and its hands' (21, 2) pixel landmarks by side,
    from the hand landmark model run on every hand every frame."""
    perceiver = Perceiver(PerceptionConfig(hand_refresh_frames=1))
    grays, hands = [], []
    for frame in frames:
        observation = perceiver.process(frame)
        rgb = perceiver._inference_image(frame.image_bgr)
        size = np.array([rgb.shape[1], rgb.shape[0]], np.float32)
        grays.append(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        hands.append({hand.side: hand.landmarks[:, :2] * size for hand in observation.hands})
    perceiver.close()
    return grays, hands


def test_a_hand_moved_turned_and_scaled_is_followed_to_the_pixel(media):
    # a real signer's frame, and the same frame turned 8 degrees about the hand, moved and scaled
    # by 5 %: the followed landmarks land where the same similarity puts them, and the change is
    # well under the default that would have the model look again (3 %)
    frames = _clip(media, "intel_asl/please.mkv", 12)
    grays, hands = _every_frame_hands(frames)
    gray, landmarks = grays[-1], next(iter(hands[-1].values())).astype(np.float32)
    centre = landmarks.mean(axis=0)
    similarity = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), 8.0, 1.05)
    similarity[:, 2] += (6.0, -4.0)
    moved_gray = cv2.warpAffine(gray, similarity, (gray.shape[1], gray.shape[0]), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
    followed = HandMotion(gray, landmarks).follow(moved_gray)
    assert followed is not None
    moved, change = followed
    expected = landmarks @ similarity[:, :2].T + similarity[:, 2]
    assert np.median(np.linalg.norm(moved - expected, axis=1)) < 1.0
    assert change < 0.5 * PerceptionConfig().hand_refresh_change


def test_a_hand_gone_from_the_picture_is_due_a_look(media):
    # a signer's hands followed into a real frame with nobody in it (the tree clip, resized):
    # the following gives up, or says the hand changed past the default that has the model look
    # again; it never carries on a hand that is not there
    frames = _clip(media, "intel_asl/please.mkv", 12)
    grays, hands = _every_frame_hands(frames)
    empty = mirrored_frames(media / "video" / "opencv_tree_nobody.avi", 1)[0].image_bgr
    empty_gray = cv2.cvtColor(cv2.resize(empty, grays[-1].shape[::-1]), cv2.COLOR_BGR2GRAY)
    for landmarks in hands[-1].values():
        followed = HandMotion(grays[-1], landmarks.astype(np.float32)).follow(empty_gray)
        assert followed is None or followed[1] > PerceptionConfig().hand_refresh_change


def test_the_change_says_when_the_followed_landmarks_have_drifted(media):
    # each hand the every-frame model finds, followed for 6 frames of real signing: where
    # HandMotion reports under 3 % change, its landmarks are within a few pixels of the model's
    # (median), and where it reports more, they are several times further off, so the change is
    # what should make the model look again. Measured over please, sorry and walk: 1.3 px
    # (191 hands) against 6.5 px (72 hands).
    kept, changed = [], []
    for name in ("intel_asl/please.mkv", "intel_asl/sorry.mkv", "intel_asl/walk.mkv"):
        grays, hands = _every_frame_hands(_clip(media, name))
        for start in range(len(grays) - FOLLOWED_FRAMES):
            for side, landmarks in hands[start].items():
                if not all(side in hands[i] for i in range(start, start + FOLLOWED_FRAMES + 1)):
                    continue
                motion, followed = HandMotion(grays[start], landmarks.astype(np.float32)), None
                for i in range(start + 1, start + FOLLOWED_FRAMES + 1):
                    followed = motion.follow(grays[i])
                    if followed is None:
                        break
                if followed is None:
                    continue
                moved, change = followed
                error = float(np.median(np.linalg.norm(moved - hands[start + FOLLOWED_FRAMES][side], axis=1)))
                (kept if change < 3.0 else changed).append(error)
    assert len(kept) >= 100 and len(changed) >= 30
    assert np.median(kept) < 3.0
    assert np.median(changed) > 3.0 * np.median(kept)


@pytest.mark.parametrize("name", ["intel_asl/please.mkv", "intel_asl/sorry.mkv"])
def test_default_hands_stay_near_the_every_frame_landmarks_at_a_quarter_of_the_runs(media, name):
    # the default (hands followed by their image motion, the model again when they change shape
    # or every 10 frames) against the model on every hand every frame, on a signer's clip.
    # Measured: please 1.5 px median, 134 hands against 132, 20 % of the runs; sorry 2.4 px,
    # 134 against 131, 23 %. Tolerances: median 3 px, 93 % of the hands, 40 % of the runs
    every = Perceiver(PerceptionConfig(hand_refresh_frames=1))
    default = Perceiver(PerceptionConfig())
    runs = {}
    for label, perceiver in (("every", every), ("default", default)):
        graph, runs[label] = perceiver._regions._graph, [0]
        perceiver._regions._graph = _CountingGraph(graph, runs[label])
    distances, found = [], {"every": 0, "default": 0}
    for frame in _clip(media, name):
        a, b = every.process(frame), default.process(frame)
        found_a = {hand.side: hand.landmarks for hand in a.hands}
        found_b = {hand.side: hand.landmarks for hand in b.hands}
        found["every"] += len(found_a)
        found["default"] += len(found_b)
        for side in found_a.keys() & found_b.keys():
            distances.append(np.median(np.linalg.norm((found_a[side][:, :2] - found_b[side][:, :2]) * [640, 480], axis=1)))
    every.close()
    default.close()
    assert found["default"] >= 0.93 * found["every"]
    assert np.median(distances) < 3.0
    assert runs["default"][0] <= 0.4 * runs["every"][0]


def test_one_hand_is_never_given_to_both_sides(media):
    # book.mkv: palms pressed together, the right one edge-on. Looking for the right hand where
    # the pose points, the model finds the left one again; before, both sides then followed the
    # same hand (to the pixel, frames 35-40). A hand is now kept only on the side whose pose
    # wrist it is nearer.
    for config in (PerceptionConfig(hand_refresh_frames=1), PerceptionConfig()):
        perceiver = Perceiver(config)
        both = 0
        for frame in _clip(media, "intel_asl/book.mkv", 60):
            hands = perceiver.process(frame).hands
            if len(hands) == 2:
                both += 1
                left, right = (hand.landmarks[:, :2] * [640, 480] for hand in hands)
                hand_size = np.ptp(left, axis=0).max()
                assert np.median(np.linalg.norm(left - right, axis=1)) > 0.3 * hand_size
        perceiver.close()


def test_hands_the_palm_detector_finds_are_followed_without_it(media):
    # thumbsup: a close-up where the pose's hand points are unsure, so its regions hold no hand
    # and the palm detector looks (every 4 frames). Once it finds the hand, the hand is followed
    # (carried, the landmark model in its region): the palm detector does not run again and the
    # hand is there on every later frame.
    perceiver = Perceiver(PerceptionConfig())
    palm_runs = [0]
    perceiver._hands = _CountingGraph(perceiver._hands, palm_runs)
    first_found, runs_then = None, 0
    with_hand = 0
    frames = _clip(media, "mpsamples_gesture_thumbsup_test_video.mp4", 70)
    for frame in frames:
        hands = perceiver.process(frame).hands
        if hands and first_found is None:
            first_found, runs_then = frame.index, palm_runs[0]
        with_hand += first_found is not None and len(hands) == 1
    perceiver.close()
    assert first_found is not None and first_found < 40
    assert palm_runs[0] == runs_then
    assert with_hand == len(frames) - first_found


class _CountingGraph:
    """Counts the runs of a MediaPipe graph (a HandRegions graph, or MediaPipe Hands)."""

    def __init__(self, graph, count: list[int]) -> None:
        self._graph, self._count = graph, count

    def process(self, inputs):
        self._count[0] += 1
        return self._graph.process(inputs)

    def close(self) -> None:
        self._graph.close()
