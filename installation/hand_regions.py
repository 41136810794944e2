"""Hands found where the pose points: MediaPipe's hand landmark model alone, on a region per side.

The palm detector (MediaPipe Hands' first stage) is the expensive part of finding hands; the
pose already says where the wrists and knuckles are. ``HandRegions`` takes each hand's region
from the pose (or from the hand's own landmarks of the frame before, as MediaPipe's tracking
does), runs only the landmark model on it, and maps the 21 landmarks back to the whole image.
With ``hand_refresh_frames`` > 1 the two hands take turns, each carried with its pose wrist
between runs. benchmarks/README.md has the measurement.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from installation.config import PerceptionConfig
from installation.contracts import Hand, Side

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
POSE_HAND_POINTS = {Side.LEFT: (15, 17, 19), Side.RIGHT: (16, 18, 20)}
# Hand landmarks MediaPipe uses to place the next frame's region (its HandLandmarksToRect).
HAND_REGION_POINTS = np.array([0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18])
POSE_REGION_SCALE = 2.7  # a pose hand region's side, in twice the wrist -> knuckles distance (Holistic's)
TRACK_RADIUS = 1.5  # last frame's hand is followed if its wrist is this near the pose's, in wrist -> knuckles


class HandTrack:
    """A hand as the landmark model last found it, and where the pose's wrist was then."""

    def __init__(self, points: np.ndarray, score: float, wrist: np.ndarray) -> None:
        self.points, self.score, self.wrist = points, score, wrist  # (21, 3) normalised; (2,) normalised
        self.shown_wrist = wrist  # the pose wrist of the frame it was last carried to

    def carried(self, wrist: np.ndarray) -> np.ndarray:
        """The (21, 3) landmarks moved by the pose wrist's displacement since they were found."""
        shifted = self.points.copy()
        shifted[:, :2] += wrist - self.wrist
        return shifted


class HandRegions:
    """Finds the hands inside regions taken from the pose, with MediaPipe's hand landmark model
    alone (no palm detector). A side whose hand was found in the frame before, near the pose's
    wrist, is looked for where that hand was (MediaPipe's own tracking rule); otherwise in a
    square around the pose's wrist and knuckles, turned so the fingers point up. A side whose
    pose hand points are not visible is not looked for.

    With ``hand_refresh_frames`` N > 1 the model runs on each hand only every N frames (two hands
    in turn), and between runs the hand's last landmarks are carried with its pose wrist (the
    pose runs every frame); a hand just come into sight, just lost, or whose wrist has moved
    ``hand_fast_motion`` wrist -> knuckles lengths since its last run is looked at sooner."""

    def __init__(self, config: PerceptionConfig) -> None:
        from google.protobuf import text_format
        from mediapipe.framework import calculator_pb2
        from mediapipe.framework.formats import rect_pb2
        from mediapipe.python.solution_base import SolutionBase

        self.config = config
        self._rect = rect_pb2.NormalizedRect
        graph = text_format.Parse(HAND_LANDMARK_GRAPH, calculator_pb2.CalculatorGraphConfig())
        self._graph = SolutionBase(graph_config=graph, side_inputs={"model_complexity": config.hand_model_complexity})
        self._tracks: dict[Side, HandTrack] = {}  # each side's hand as the model last found it
        self._due: dict[Side, int] = {}  # the frame from which each side in sight is due its next model run
        self._frame = 0  # frames seen

    def find(self, rgb: np.ndarray, pose: np.ndarray) -> tuple[Hand, ...]:
        """The hands of the visitor whose (33, 4) pose is given (sides the visitor's own)."""
        height, width = rgb.shape[:2]
        size = np.array([width, height], np.float32)
        visibility = {side: float(pose[list(points), 3].min()) for side, points in POSE_HAND_POINTS.items()}
        looked_for = [side for side in sorted(visibility, key=visibility.get, reverse=True)  # the surer hand first
                      if visibility[side] >= self.config.hand_visibility]
        for side in set(self._due) - set(looked_for):  # out of sight: looked for at once when back
            del self._due[side]
            self._tracks.pop(side, None)
        runs = self._sides_to_run(looked_for, pose, size)
        hands = []
        for side in looked_for:
            wrist = pose[POSE_HAND_POINTS[side][0], :2]
            if len(hands) >= self.config.max_hands:  # enough hands found: this side is not looked for
                self._tracks.pop(side, None)
                self._due.pop(side, None)
                continue
            if side in runs:
                lost = side in self._tracks  # if the model now finds no hand, look again next frame
                track = self._run_model(rgb, side, pose, size, wrist)
                self._due[side] = self._frame + (1 if lost and track is None else self.config.hand_refresh_frames)
            else:
                track = self._tracks.get(side)
            if track is not None:
                track.shown_wrist = wrist
                hands.append(Hand(track.carried(wrist), side, track.score))
        self._frame += 1
        return tuple(sorted(hands, key=lambda hand: hand.side is not Side.LEFT))

    def _sides_to_run(self, sides: list[Side], pose: np.ndarray, size: np.ndarray) -> set[Side]:
        """The sides whose hand landmark model runs this frame: one just come into sight, one whose
        pose wrist has moved fast since its landmarks were found (they would lag), and of the
        others those ``hand_refresh_frames`` since their last run, the longest waiting first, no
        more than an even share a frame (two hands refreshed every 2 frames: one a frame, in turn)."""
        urgent = {side for side in sides if side not in self._due or self._moved_fast(side, pose, size)}
        waiting = sorted((side for side in sides if side not in urgent and self._due[side] <= self._frame),
                         key=self._due.get)
        share = -(-len(sides) // self.config.hand_refresh_frames)  # ceil
        return urgent | set(waiting[: max(0, share - len(urgent))])

    def _moved_fast(self, side: Side, pose: np.ndarray, size: np.ndarray) -> bool:
        """Whether ``side``'s pose wrist has moved more than ``hand_fast_motion`` wrist -> knuckles
        lengths since its hand's landmarks were found (False without a hand, or with the check off)."""
        track = self._tracks.get(side)
        if track is None or self.config.hand_fast_motion <= 0.0:
            return False
        wrist, pinky, index = (pose[i, :2] * size for i in POSE_HAND_POINTS[side])
        reach = float(np.linalg.norm((2.0 * index + pinky) / 3.0 - wrist))
        return float(np.linalg.norm(wrist - track.wrist * size)) > self.config.hand_fast_motion * reach

    def _run_model(self, rgb: np.ndarray, side: Side, pose: np.ndarray, size: np.ndarray, wrist: np.ndarray):
        """Run the hand landmark model in ``side``'s region; its new HandTrack, or None if no hand."""
        region = self._region(side, pose, size)
        self._tracks.pop(side, None)
        if region is None:
            return None
        result = self._graph.process({"image": rgb, "roi": region})
        if result.landmarks is None:
            return None
        points = np.array([(p.x, p.y, p.z) for p in result.landmarks.landmark], np.float32)  # (21, 3)
        track = HandTrack(points, float(result.handedness.classification[0].score), wrist.copy())
        self._tracks[side] = track
        return track

    def _region(self, side: Side, pose: np.ndarray, size: np.ndarray):
        """The NormalizedRect to look in for ``side``'s hand, or None if it lies off the image."""
        wrist, pinky, index = (pose[i, :2] * size for i in POSE_HAND_POINTS[side])
        knuckles = (2.0 * index + pinky) / 3.0  # about the middle finger's knuckle, as Holistic estimates it
        reach = float(np.linalg.norm(knuckles - wrist))
        track = self._tracks.get(side)
        previous = track.carried(track.shown_wrist)[:, :2] * size if track is not None else None  # last frame's
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
        self._tracks.clear()
        self._due.clear()
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
