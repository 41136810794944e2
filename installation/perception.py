"""Perception: MediaPipe Pose and Hands (legacy ``mp.solutions``) turn a Frame into an Observation.

Inference runs on a copy of the frame scaled to ``input_width`` (independent of the camera's
size); landmarks come back normalised, so nothing downstream cares about the scale.

Where the hands are looked for is ``hand_regions``: ``"pose"`` (the default) takes each hand's
region from the pose (wrist, pinky, index; then the hand's own landmarks of the frame before, as
MediaPipe's tracking does) and runs only MediaPipe's hand landmark model on it; the palm detector
runs only on frames where that finds no hand (no pose, or no hand where the pose points);
``"palm_detector"``
runs MediaPipe Hands on the whole frame, palm detector included. benchmarks/README.md has the
measurement.

Two schedules share one interface (``submit`` a frame, ``poll``/``wait`` for its observation):
``InlinePerception`` runs MediaPipe in the caller's thread; ``ThreadedPerception`` runs it on a
worker thread fed through newest-wins slots, so the render loop never waits for it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable, Protocol

import cv2
import numpy as np

from installation.config import PerceptionConfig
from installation.contracts import POSE_LANDMARK_COUNT, Frame, Hand, HandLandmark, Observation, PoseLandmark, Side
from installation.slots import NewestSlot

log = logging.getLogger(__name__)

# MediaPipe's hand landmark model alone, on a region given with each image (the subgraph that
# MediaPipe Hands runs after its palm detector, and Holistic after its pose).
HAND_LANDMARK_GRAPH = """
input_stream: "image"
input_stream: "roi"
input_side_packet: "model_complexity"
output_stream: "landmarks"
output_stream: "handedness"
node {
  calculator: "HandLandmarkCpu"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  input_side_packet: "MODEL_COMPLEXITY:model_complexity"
  output_stream: "LANDMARKS:landmarks"
  output_stream: "HANDEDNESS:handedness"
}
"""

os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ start-up chatter
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# Pose landmark order with every left/right pair swapped (0 nose, then eyes, ears, mouth, body).
_PAIRS = ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10)) + tuple((i, i + 1) for i in range(11, 33, 2))
MIRRORED_POSE_ORDER = np.arange(POSE_LANDMARK_COUNT)
for _left, _right in _PAIRS:
    MIRRORED_POSE_ORDER[_left], MIRRORED_POSE_ORDER[_right] = _right, _left

# Pose landmarks of each hand (MediaPipe Pose's numbering; the Observation's pose already names
# the visitor's own sides): wrist, pinky knuckle, index knuckle.
POSE_HAND_POINTS = {Side.LEFT: (15, 17, 19), Side.RIGHT: (16, 18, 20)}
# Hand landmarks MediaPipe uses to place the next frame's region (its HandLandmarksToRect).
HAND_REGION_POINTS = np.array([0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18])
POSE_REGION_SCALE = 2.7  # a pose hand region's side, in twice the wrist -> knuckles distance (Holistic's)
TRACK_RADIUS = 1.5  # last frame's hand is followed if its wrist is this near the pose's, in wrist -> knuckles


class Perceiver:
    """Owns the MediaPipe graphs. ``process(frame)`` returns an Observation (empty if nobody)."""

    def __init__(self, config: PerceptionConfig) -> None:
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

    def process(self, frame: Frame) -> Observation:
        """Run pose and hands on one frame. A MediaPipe failure is logged, counted and gives an
        empty observation, so one bad frame never stops the show."""
        started = time.perf_counter()
        rgb = self._inference_image(frame.image_bgr)
        try:
            pose = self._run_pose(rgb, frame.mirrored)
            hands = self._run_hands(rgb, pose, frame.mirrored)
            self.consecutive_errors = 0
        except Exception:  # MediaPipe raises plain RuntimeError/ValueError on bad input
            self.errors += 1
            self.consecutive_errors += 1
            log.exception("perception failed on frame %d; using an empty observation", frame.index)
            pose, hands = np.zeros((0, 4), np.float32), ()
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return Observation(frame.index, frame.timestamp_s, frame.wall_s, pose, hands, elapsed_ms)

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
        # Pose names sides as seen in an unmirrored camera image; in a mirrored one its "left"
        # is the visitor's right, so swap the pairs to keep LEFT_* the visitor's own left.
        return pose[MIRRORED_POSE_ORDER] if mirrored else pose

    def _run_hands(self, rgb: np.ndarray, pose: np.ndarray, mirrored: bool) -> tuple[Hand, ...]:
        if self._hands is None:
            return ()
        if self._regions is not None:
            found = self._regions.find(rgb, pose) if pose.shape[0] > 0 else self._regions.forget()
            if found:
                return found
            # no pose, or no hand where the pose points: the palm detector looks at the whole frame
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


class HandRegions:
    """Finds the hands inside regions taken from the pose, with MediaPipe's hand landmark model
    alone (no palm detector). A side whose hand was found in the frame before, near the pose's
    wrist, is looked for where that hand was (MediaPipe's own tracking rule); otherwise in a
    square around the pose's wrist and knuckles, turned so the fingers point up. A side whose
    pose hand points are not visible is not looked for."""

    def __init__(self, config: PerceptionConfig) -> None:
        from google.protobuf import text_format
        from mediapipe.framework import calculator_pb2
        from mediapipe.framework.formats import rect_pb2
        from mediapipe.python.solution_base import SolutionBase

        self.config = config
        self._rect = rect_pb2.NormalizedRect
        graph = text_format.Parse(HAND_LANDMARK_GRAPH, calculator_pb2.CalculatorGraphConfig())
        self._graph = SolutionBase(graph_config=graph, side_inputs={"model_complexity": config.hand_model_complexity})
        self._previous: dict[Side, np.ndarray] = {}  # each side's (21, 2) landmarks in pixels, last frame

    def find(self, rgb: np.ndarray, pose: np.ndarray) -> tuple[Hand, ...]:
        """The hands of the visitor whose (33, 4) pose is given (sides the visitor's own)."""
        height, width = rgb.shape[:2]
        size = np.array([width, height], np.float32)
        visibility = {side: float(pose[list(points), 3].min()) for side, points in POSE_HAND_POINTS.items()}
        hands = []
        for side in sorted(visibility, key=visibility.get, reverse=True):  # the surer hand first
            region = None
            if visibility[side] >= self.config.hand_visibility and len(hands) < self.config.max_hands:
                region = self._region(side, pose, size)
            if region is None:
                self._previous.pop(side, None)
                continue
            result = self._graph.process({"image": rgb, "roi": region})
            if result.landmarks is None:
                self._previous.pop(side, None)
                continue
            points = np.array([(p.x, p.y, p.z) for p in result.landmarks.landmark], np.float32)  # (21, 3)
            self._previous[side] = points[:, :2] * size
            hands.append(Hand(points, side, float(result.handedness.classification[0].score)))
        return tuple(sorted(hands, key=lambda hand: hand.side is not Side.LEFT))

    def _region(self, side: Side, pose: np.ndarray, size: np.ndarray):
        """The NormalizedRect to look in for ``side``'s hand, or None if it lies off the image."""
        wrist, pinky, index = (pose[i, :2] * size for i in POSE_HAND_POINTS[side])
        knuckles = (2.0 * index + pinky) / 3.0  # about the middle finger's knuckle, as Holistic estimates it
        reach = float(np.linalg.norm(knuckles - wrist))
        previous = self._previous.get(side)
        if previous is not None and np.linalg.norm(previous[0] - wrist) < TRACK_RADIUS * reach:
            centre, (w, h), angle = _rotated_box(previous[HAND_REGION_POINTS], _hand_angle(previous))
            scale = 2.0  # MediaPipe's tracking: the box around last frame's landmarks, doubled
        else:
            centre, angle = knuckles, _angle(wrist, knuckles)
            w = h = 2.0 * reach
            scale = POSE_REGION_SCALE
        centre = centre + _turn(np.array([0.0, -0.1 * h]), angle)  # a little towards the fingertips
        side_px = max(w, h) * scale
        if side_px < 8.0 or not (0.0 <= centre[0] <= size[0] and 0.0 <= centre[1] <= size[1]):
            return None
        return self._rect(x_center=float(centre[0] / size[0]), y_center=float(centre[1] / size[1]),
                          width=float(side_px / size[0]), height=float(side_px / size[1]), rotation=float(angle))

    def forget(self) -> tuple[Hand, ...]:
        """Drop the last frame's hands (nobody's pose to follow them with); returns no hands."""
        self._previous.clear()
        return ()

    def close(self) -> None:
        self._graph.close()


def _angle(wrist: np.ndarray, fingers: np.ndarray) -> float:
    """Rotation (radians, MediaPipe's convention) that turns wrist -> fingers to point up."""
    return float(_normalise_radians(np.pi / 2 - np.arctan2(-(fingers[1] - wrist[1]), fingers[0] - wrist[0])))


def _hand_angle(points: np.ndarray) -> float:
    """MediaPipe's hand rotation from (21, 2) landmarks in pixels: wrist -> middle of the PIP joints."""
    fingers = ((points[6] + points[14]) / 2.0 + points[10]) / 2.0
    return _angle(points[0], fingers)


def _normalise_radians(angle: float) -> float:
    return angle - 2 * np.pi * np.floor((angle + np.pi) / (2 * np.pi))


def _turn(vector: np.ndarray, angle: float) -> np.ndarray:
    cos, sin = np.cos(angle), np.sin(angle)
    return np.array([vector[0] * cos - vector[1] * sin, vector[0] * sin + vector[1] * cos])


def _rotated_box(points: np.ndarray, angle: float) -> tuple[np.ndarray, tuple[float, float], float]:
    """(centre, (width, height), angle) of the smallest box turned by ``angle`` around (N, 2) points."""
    middle = (points.max(axis=0) + points.min(axis=0)) / 2.0
    turned = np.stack([_turn(point, -angle) for point in points - middle])
    low, high = turned.min(axis=0), turned.max(axis=0)
    return middle + _turn((low + high) / 2.0, angle), (float(high[0] - low[0]), float(high[1] - low[1])), angle


class PerceptionSchedule(Protocol):
    errors: int
    dropped: int
    restarts: int

    def submit(self, frame: Frame) -> None: ...

    def poll(self) -> Observation | None: ...

    def wait(self) -> Observation | None: ...

    def close(self) -> None: ...


class InlinePerception:
    """Runs MediaPipe in the render loop's thread: ``submit`` does the work."""

    def __init__(self, perceiver: Perceiver) -> None:
        self.perceiver = perceiver
        self.dropped = 0
        self.restarts = 0  # a hang here blocks the loop itself: the kiosk supervisor restarts the process
        self._result: Observation | None = None

    @property
    def errors(self) -> int:
        return self.perceiver.errors

    def submit(self, frame: Frame) -> None:
        self._result = self.perceiver.process(frame)

    def poll(self) -> Observation | None:
        result, self._result = self._result, None
        return result

    def wait(self) -> Observation | None:
        return self.poll()

    def close(self) -> None:
        self.perceiver.close()


class ThreadedPerception:
    """Runs MediaPipe on its own thread. Frames and observations pass through newest-wins slots:
    if perception falls behind, the older waiting frame is dropped (and counted), never queued.

    A watchdog, run from the loop's thread in ``poll``/``wait``, replaces the worker with a fresh
    Perceiver when one frame has taken longer than ``hang_timeout_s`` (a hung graph: its thread is
    abandoned, since a thread can't be killed) or after ``restart_after_errors`` failures in a row.
    Meanwhile the loop keeps rendering from the last observation.
    """

    def __init__(self, make_perceiver: Callable[[], Perceiver], hang_timeout_s: float = 5.0,
                 restart_after_errors: int = 10) -> None:
        self._make, self.hang_timeout_s, self.restart_after_errors = make_perceiver, hang_timeout_s, restart_after_errors
        self.restarts = 0
        self._retired_errors = self._retired_dropped = 0
        self._start_worker(make_perceiver())

    def _start_worker(self, perceiver: Perceiver) -> None:
        self.perceiver = perceiver
        self._inbox: NewestSlot[Frame] = NewestSlot()
        self._outbox: NewestSlot[Observation] = NewestSlot()
        self._stop = threading.Event()
        self._busy_since: float | None = None
        self._pending = False  # a frame was submitted and its observation not yet put out
        self._thread = threading.Thread(target=self._work, args=(perceiver, self._inbox, self._outbox, self._stop),
                                        name="perception", daemon=True)
        self._thread.start()

    @property
    def errors(self) -> int:
        return self._retired_errors + self.perceiver.errors

    @property
    def dropped(self) -> int:
        return self._retired_dropped + self._inbox.overwritten

    def _work(self, perceiver: Perceiver, inbox: NewestSlot, outbox: NewestSlot, stop: threading.Event) -> None:
        while not stop.is_set():
            frame = inbox.take(timeout_s=0.1)
            if frame is None:
                continue
            self._busy_since = time.perf_counter()
            observation = perceiver.process(frame)
            if stop.is_set():
                return  # replaced while it worked: this worker is retired
            self._busy_since = None
            outbox.put(observation)
            if not inbox.holds_item:
                self._pending = False  # after the put: a waiter sees the result or pending work

    def _check(self) -> bool:
        """Restart a hung or failing worker; returns True if it did."""
        busy = self._busy_since
        if busy is not None and time.perf_counter() - busy > self.hang_timeout_s:
            return self._restart(f"no result for {self.hang_timeout_s:.0f} s (hung)")
        if self.perceiver.consecutive_errors >= self.restart_after_errors:
            return self._restart(f"{self.perceiver.consecutive_errors} failures in a row")
        return False

    def _restart(self, why: str) -> bool:
        try:
            fresh = self._make()
        except Exception:  # can't build one now: keep the old worker, try again at the next check
            log.exception("perception %s, and a new one could not be started", why)
            return False
        self.restarts += 1
        log.error("perception %s: restarted it (restart #%d)", why, self.restarts)
        self._stop.set()
        self._retired_errors += self.perceiver.errors
        self._retired_dropped += self._inbox.overwritten
        self._start_worker(fresh)
        return True

    def submit(self, frame: Frame) -> None:
        self._check()  # a failing worker is replaced before it is given another frame
        self._pending = True
        self._inbox.put(frame)

    def poll(self) -> Observation | None:
        self._check()
        return self._outbox.take(timeout_s=0.0)

    def wait(self) -> Observation | None:
        """Block until the observation of the last submitted frame is ready (lockstep replay);
        None if the worker had to be restarted meanwhile (that frame is lost)."""
        if self._check():
            return None
        while True:
            observation = self._outbox.take(timeout_s=0.2)
            if observation is not None:
                return observation
            if self._check() or not self._thread.is_alive():
                return None
            if not self._pending:
                return self._outbox.take(timeout_s=0.0)  # nothing pending: nothing more will come

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():
            self.perceiver.close()


def build_perception(config: PerceptionConfig) -> PerceptionSchedule:
    """The schedule named by ``config.schedule`` around a new Perceiver."""
    if config.schedule == "threaded":
        return ThreadedPerception(lambda: Perceiver(config), config.hang_timeout_s, config.restart_after_errors)
    return InlinePerception(Perceiver(config))
