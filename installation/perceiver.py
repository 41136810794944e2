"""The perceiver: MediaPipe Pose and Hands (legacy ``mp.solutions``) turn a Frame into an Observation.

This module owns the MediaPipe graphs and what is decided on their output (the pose's sides, the
hands' sides and owner, nobody when no shoulder is in view). When and on which thread a Perceiver
runs is ``installation.perception``'s schedules.

Inference runs on a copy of the frame scaled to ``input_width`` (independent of the camera's
size); landmarks come back normalised, so nothing downstream cares about the scale.

Where the hands are looked for is ``hand_regions``: ``"pose"`` (the default) takes each hand's
region from the pose (wrist, pinky, index; then the hand's own landmarks of the frame before, as
MediaPipe's tracking does) and runs only MediaPipe's hand landmark model on it; the palm detector
runs only where that finds no hand (no pose, no hand where the pose points, or a side the model
keeps missing there), and the hands it finds are followed from then on; ``"palm_detector"`` runs
MediaPipe Hands on the whole frame, palm detector included.
Between runs of the hand model a found hand is carried by its image motion, and the model runs
again when it changes shape or after ``hand_refresh_frames`` (see HandRegions).
benchmarks/README.md and benchmarks/perception_ratio.py have the measurement.
"""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np

from installation.config import PerceptionConfig
from installation.contracts import POSE_LANDMARK_COUNT, Frame, Hand, HandLandmark, Observation, PoseLandmark, Side
from installation.hand_ownership import owned_hands
from installation.hand_regions import HandRegions
from installation.native_logs import quiet_mediapipe
from installation.visitor_continuity import VisitorContinuity

log = logging.getLogger(__name__)

_PAIRS = ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10)) + tuple((i, i + 1) for i in range(11, 33, 2))
MIRRORED_POSE_ORDER = np.arange(POSE_LANDMARK_COUNT)
for _left, _right in _PAIRS:
    MIRRORED_POSE_ORDER[_left], MIRRORED_POSE_ORDER[_right] = _right, _left

MIN_SHOULDER_VISIBILITY = 0.5  # a pose with no shoulder this visible inside the image is nobody


class Perceiver:
    """Owns the MediaPipe graphs. ``process(frame)`` returns an Observation (empty if nobody)."""

    def __init__(self, config: PerceptionConfig) -> None:
        quiet_mediapipe()
        import mediapipe as mp  # imported here: start-up cost is paid only when perception is used

        self.config = config
        self.errors = 0
        self.consecutive_errors = 0
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=False,  # tracking mode: detect once, then follow
            model_complexity=config.pose_model_complexity,
            smooth_landmarks=True,
            min_detection_confidence=config.min_detection_confidence,
            min_tracking_confidence=config.min_tracking_confidence,
        )
        self._hands = (  # the whole frame, palm detector included: the only hand finder without a pose
            mp.solutions.hands.Hands(
                static_image_mode=False,
                max_num_hands=config.max_hands,
                model_complexity=config.hand_model_complexity,
                min_detection_confidence=config.min_detection_confidence,
                min_tracking_confidence=config.min_tracking_confidence,
            )
            if config.hands
            else None
        )
        self._regions = HandRegions(config) if config.hands and config.hand_regions == "pose" else None
        self.hands_dropped = 0  # hands whose wrist sat on no pose wrist of the visitor (someone else's)
        self.continuity = VisitorContinuity()
        self._faces = None
        if config.faces:  # close-range pieces only: FaceMesh costs a few ms a frame
            from installation.faces import FaceReader

            self._faces = FaceReader(config.min_detection_confidence, config.min_tracking_confidence)

    def process(self, frame: Frame) -> Observation:
        """Run pose and hands on one frame. A MediaPipe failure is logged, counted and gives an
        empty observation, so one bad frame never stops the show."""
        started = time.perf_counter()
        rgb = self._inference_image(frame.image_bgr)
        try:
            pose = self._run_pose(rgb, frame.mirrored)
            hands = self._own_hands(rgb, pose, self._run_hands(rgb, pose, frame.mirrored))
            visitor = self.continuity.update(rgb, pose, frame.timestamp_s)
            face = self._faces.read(rgb, frame.mirrored) if self._faces is not None else None
            self.consecutive_errors = 0
        except Exception:  # MediaPipe raises plain RuntimeError/ValueError on bad input
            self.errors += 1
            self.consecutive_errors += 1
            log.exception("perception failed on frame %d; using an empty observation", frame.index)
            pose, hands, visitor = np.zeros((0, 4), np.float32), (), self.continuity.visitor
            face = None
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return Observation(frame.index, frame.timestamp_s, frame.wall_s, pose, hands, elapsed_ms, visitor=visitor,
                           face=face)

    def counters(self) -> dict[str, int]:
        """What this stage threw away instead of passing on, by kind (the run's stats, /status,
        the health file and the staff page show them beside the errors)."""
        return {"hands_dropped": self.hands_dropped, "pose_jumps": self.continuity.jumps}

    def _own_hands(self, rgb: np.ndarray, pose: np.ndarray, hands: tuple[Hand, ...]) -> tuple[Hand, ...]:
        """The hands on the visitor's own pose wrists (the palm detector also finds bystanders')."""
        if pose.shape[0] == 0:
            return hands  # no body to judge by: hands alone are the visitor's
        owned = owned_hands(hands, pose, (), rgb.shape[1] / rgb.shape[0])
        self.hands_dropped += owned.dropped
        return owned.hands

    def _inference_image(self, image_bgr: np.ndarray) -> np.ndarray:
        height, width = image_bgr.shape[:2]
        target = self.config.input_width
        if target and target != width:
            size = (target, max(1, round(height * target / width)))
            interpolation = cv2.INTER_AREA if target < width else cv2.INTER_LINEAR
            image_bgr = cv2.resize(image_bgr, size, interpolation=interpolation)
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False  # lets MediaPipe take the buffer without a copy
        return rgb

    def _run_pose(self, rgb: np.ndarray, mirrored: bool) -> np.ndarray:
        result = self._pose.process(rgb)
        if result.pose_landmarks is None:
            return np.zeros((0, 4), np.float32)
        points = result.pose_landmarks.landmark
        pose = np.array([(p.x, p.y, p.z, p.visibility) for p in points], np.float32)  # (33, 4)
        if not _shoulder_in_view(pose):
            # Pose in tracking mode can hold on to a body after the visitor has gone, sliding it
            # off the bottom edge with falling visibility: with no shoulder seen in the picture
            # there is nobody to answer to (measured on a signer followed by an empty scene).
            return np.zeros((0, 4), np.float32)
        # Pose names sides as seen in an unmirrored camera image; in a mirrored one its "left"
        # is the visitor's right, so swap the pairs to keep LEFT_* the visitor's own left.
        return pose[MIRRORED_POSE_ORDER] if mirrored else pose

    def _run_hands(self, rgb: np.ndarray, pose: np.ndarray, mirrored: bool) -> tuple[Hand, ...]:
        if self._hands is None:
            return ()
        if self._regions is None:  # hand_regions = "palm_detector"
            return self._palm_detector_hands(rgb, pose, mirrored)
        if pose.shape[0] == 0:  # nobody's pose to take regions from: the palm detector, every frame
            self._regions.forget()
            return self._palm_detector_hands(rgb, pose, mirrored)
        found = self._regions.find(rgb, pose)
        if not self._regions.palm_wanted():
            return found
        return self._regions.adopt(rgb, pose, self._palm_detector_hands(rgb, pose, mirrored))

    def _palm_detector_hands(self, rgb: np.ndarray, pose: np.ndarray, mirrored: bool) -> tuple[Hand, ...]:
        """MediaPipe Hands on the whole frame, palm detector included; sides from the pose."""
        result = self._hands.process(rgb)
        if not result.multi_hand_landmarks:
            return ()
        landmarks = [
            np.array([(p.x, p.y, p.z) for p in hand.landmark], np.float32)  # (21, 3)
            for hand in result.multi_hand_landmarks
        ]
        labels = [(h.classification[0].label, h.classification[0].score) for h in result.multi_handedness]
        sides = assign_sides(landmarks, [label for label, _ in labels], pose, mirrored)
        return tuple(Hand(points, side, float(score)) for points, side, (_, score) in zip(landmarks, sides, labels))

    def close(self) -> None:
        self._pose.close()
        if self._hands is not None:
            self._hands.close()
        if self._regions is not None:
            self._regions.close()
        if self._faces is not None:
            self._faces.close()


def _shoulder_in_view(pose: np.ndarray) -> bool:
    """True when at least one shoulder lies inside the image with visibility 0.5 or more."""
    shoulders = pose[[PoseLandmark.LEFT_SHOULDER, PoseLandmark.RIGHT_SHOULDER]]  # (2, 4)
    inside = (shoulders[:, 0] >= 0) & (shoulders[:, 0] <= 1) & (shoulders[:, 1] >= 0) & (shoulders[:, 1] <= 1)
    return bool(np.any(inside & (shoulders[:, 3] >= MIN_SHOULDER_VISIBILITY)))


def assign_sides(hands: list[np.ndarray], labels: list[str], pose: np.ndarray, mirrored: bool) -> list[Side]:
    """Decide which of the visitor's hands each detected hand is.

    With a pose (sides already the visitor's own), each hand goes to the nearer pose wrist (two
    hands: the pairing with the smaller total distance). Without one, MediaPipe's handedness
    label is used; it assumes a mirrored (selfie) image, so it is swapped for an unmirrored one.
    """
    if pose.shape[0] == 0:
        own_left = "Left" if mirrored else "Right"
        return [Side.LEFT if label == own_left else Side.RIGHT for label in labels]
    left_wrist = pose[PoseLandmark.LEFT_WRIST, :2]
    right_wrist = pose[PoseLandmark.RIGHT_WRIST, :2]

    def cost(hand: np.ndarray, side: Side) -> float:
        target = left_wrist if side is Side.LEFT else right_wrist
        return float(np.linalg.norm(hand[HandLandmark.WRIST, :2] - target))

    if len(hands) == 1:
        return [min((Side.LEFT, Side.RIGHT), key=lambda side: cost(hands[0], side))]
    straight = cost(hands[0], Side.LEFT) + cost(hands[1], Side.RIGHT)
    crossed = cost(hands[0], Side.RIGHT) + cost(hands[1], Side.LEFT)
    return [Side.LEFT, Side.RIGHT] if straight <= crossed else [Side.RIGHT, Side.LEFT]
