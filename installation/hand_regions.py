"""Hands found where the pose points: MediaPipe's hand landmark model alone, on a region per side.

The palm detector (MediaPipe Hands' first stage) is the expensive part of finding hands; the
pose already says where the wrists and knuckles are. ``HandRegions`` takes each hand's region
from the pose (or from where the hand itself was, as MediaPipe's tracking does), runs only the
landmark model on it, and maps the 21 landmarks back to the whole image.

The landmark model still costs half a pose per hand, so a found hand is not looked at again
every frame: between runs it is carried by its image motion (``HandMotion``: corners followed
with optical flow, a similarity fitted to them), and the model runs again when the hand changes
shape (``hand_refresh_change``), after ``hand_refresh_frames`` frames at most, or when it can no
longer be followed. benchmarks/README.md has the measurement.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from installation.config import PerceptionConfig
from installation.contracts import Hand, Side
from installation.hand_motion import HandMotion
from installation.native_logs import quiet_mediapipe

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

# Each hand's wrist, pinky knuckle and index knuckle in the pose (the Observation's pose already
# names the visitor's own sides).
POSE_HAND_POINTS = {Side.LEFT: (15, 17, 19), Side.RIGHT: (16, 18, 20)}
# Hand landmarks MediaPipe uses to place the next frame's region (its HandLandmarksToRect).
HAND_REGION_POINTS = np.array([0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18])
POSE_REGION_SCALE = 2.7  # a pose hand region's side, in twice the wrist -> knuckles distance (Holistic's)
TRACK_RADIUS = 1.5  # last frame's hand is followed if its wrist is this near the pose's, in wrist -> knuckles
DOUBLE_HAND = 0.3  # two sides' hands this near (median landmark distance, in hand sizes) are one hand
PALM_SEARCH_FRAMES = 4  # with no hand found at all, the palm detector looks every 4 frames without one
SEARCH_WAITS = (1, 2, 4, 8, 16)  # a side whose hand the model missed is looked at again after 1, 2, 4, 8, then every 16 frames
PALM_AFTER_MISSES = 4  # missed 4 times where the pose points: the palm detector looks too (the pose can be wrong)
PALM_WAITS = (0, 16, 32)  # ... at once, then after 16, then every 32 frames


class HandTrack:
    """A hand the landmark model found, carried from frame to frame until the model runs again."""

    def __init__(self, points: np.ndarray, score: float, motion: HandMotion | None) -> None:
        self.points, self.score = points, score  # (21, 3) normalised, as found
        self.estimate = points  # (21, 3) normalised: where the hand is now
        self.motion = motion  # follows it in the image between runs (None: not followed, it stays put)
        self.change = 0.0  # how much it changed shape since found, in percent of its size (inf: lost)

    def carry(self, gray: np.ndarray | None, size: np.ndarray) -> None:
        """Move ``estimate`` to this frame by the hand's image motion. A hand that cannot be
        followed stays where it was last seen, due to be looked at there (MediaPipe's tracking
        rule; its pose wrist is no better a guide: near the face it jumps)."""
        followed = self.motion.follow(gray) if self.motion is not None else None
        if followed is None:
            self.motion, self.change = None, np.inf
            return
        moved_px, self.change = followed
        self.estimate = self.points.copy()
        self.estimate[:, :2] = moved_px / size


@dataclass
class _Side:
    """What HandRegions knows of one side in sight: its hand, if found, and when to run the model."""

    due: int  # the frame from which the next model run is due
    track: HandTrack | None = None
    looked_wrist: np.ndarray | None = None  # the pose wrist at the last model run (normalised)
    misses: int = 0  # model runs in a row that found no hand
    palm_due: int | None = None  # the frame from which the palm detector is due to look for it (None: not yet)
    palm_misses: int = 0  # palm detector looks in a row that found no hand for it


class HandRegions:
    """Finds the hands inside regions taken from the pose, with MediaPipe's hand landmark model
    alone (no palm detector). A side whose hand is being followed, near the pose's wrist, is
    looked for where that hand is (MediaPipe's own tracking rule); otherwise in a square around
    the pose's wrist and knuckles, turned so the fingers point up. A side whose pose hand points
    are not visible is not looked for.

    The model runs on a side: when it comes into sight; when its hand has changed shape by
    ``hand_refresh_change`` percent of its size since found, or cannot be followed; when its
    pose wrist has moved ``hand_fast_motion`` wrist -> knuckles lengths since the last run; and
    at least every ``hand_refresh_frames`` frames (with 1, every frame: no carrying at all). A
    side whose hand the model missed is looked at again after 1, 2, 4, 8, then every 16 frames
    (sooner once its pose wrist moves: a hand coming into sight); missed 4 times where the pose
    points, the palm detector looks for it on the whole frame too (``palm_sides``): at once,
    after 16, then every 32 frames (``palm_wanted``). The palm detector's hands (``adopt``) are
    followed like the model's. Beyond sides just come into sight, the model runs at most
    ``ceil(sides / hand_refresh_frames)`` times a frame, the most pressing first."""

    def __init__(self, config: PerceptionConfig) -> None:
        quiet_mediapipe()
        from google.protobuf import text_format
        from mediapipe.framework import calculator_pb2
        from mediapipe.framework.formats import rect_pb2
        from mediapipe.python.solution_base import SolutionBase

        self.config = config
        self._rect = rect_pb2.NormalizedRect
        graph = text_format.Parse(HAND_LANDMARK_GRAPH, calculator_pb2.CalculatorGraphConfig())
        self._graph = SolutionBase(graph_config=graph, side_inputs={"model_complexity": config.hand_model_complexity})
        self._sides: dict[Side, _Side] = {}  # the sides in sight
        self._rgb: np.ndarray | None = None  # this frame, and in grey once a hand is to be followed in it
        self._gray: np.ndarray | None = None
        self._frame = -1  # this frame's number (find() counts it)
        self._palm_wait = 0  # frames without a hand until the palm detector may look again
        self._searched: set[Side] = set()  # sides the palm detector looks for this frame

    @property
    def _carrying(self) -> bool:
        return self.config.hand_refresh_frames > 1

    def _grey(self) -> np.ndarray:
        """This frame in grey, converted once, and only when a hand is followed in it."""
        if self._gray is None:
            self._gray = cv2.cvtColor(self._rgb, cv2.COLOR_RGB2GRAY)
        return self._gray

    def find(self, rgb: np.ndarray, pose: np.ndarray) -> tuple[Hand, ...]:
        """The hands of the visitor whose (33, 4) pose is given (sides the visitor's own)."""
        height, width = rgb.shape[:2]
        size = np.array([width, height], np.float32)
        visibility = {side: float(pose[list(points), 3].min()) for side, points in POSE_HAND_POINTS.items()}
        followed = {side for side, state in self._sides.items() if state.track is not None}
        looked_for = [side for side in sorted(visibility, key=visibility.get, reverse=True)  # the surer hand first
                      if visibility[side] >= self.config.hand_visibility or side in followed][: self.config.max_hands]
        self._sides = {side: state for side, state in self._sides.items() if side in looked_for}
        self._frame, self._rgb, self._gray = self._frame + 1, rgb, None
        for state in self._sides.values():
            if state.track is not None:
                state.track.carry(self._grey() if state.track.motion is not None else None, size)
        runs = self._sides_to_run(looked_for, pose, size)
        for side in looked_for:
            if side in runs:
                self._run_model(rgb, side, pose, size)
        self._drop_double(pose, size)
        return self._hands()

    def _hands(self) -> tuple[Hand, ...]:
        hands = [Hand(state.track.estimate, side, state.track.score)
                 for side, state in self._sides.items() if state.track is not None]
        return tuple(sorted(hands, key=lambda hand: hand.side is not Side.LEFT))

    def _sides_to_run(self, sides: list[Side], pose: np.ndarray, size: np.ndarray) -> set[Side]:
        """The sides whose hand landmark model runs this frame (see the class's rules)."""
        arrived = {side for side in sides if side not in self._sides}
        # (how pressing, side): a hand lost from sight or moved fast; then a side with no hand, due
        # to be looked at (a hand missed is worse than one a little off); then the most changed
        # hand; then the longest due
        pressing = []
        for side in sides:
            if side in arrived:
                continue
            state, track = self._sides[side], self._sides[side].track
            overdue = float(self._frame - state.due)
            if (track is not None and track.change == np.inf) or self._moved_fast(state, side, pose, size):
                pressing.append(((3, 0.0), side))
            elif track is None and overdue >= 0:
                pressing.append(((2, overdue), side))
            elif track is not None and track.change > self.config.hand_refresh_change:
                pressing.append(((1, track.change), side))
            elif overdue >= 0:
                pressing.append(((0, overdue), side))
        pressing.sort(key=lambda item: item[0], reverse=True)
        share = -(-len(sides) // self.config.hand_refresh_frames)  # ceil
        return arrived | {side for _, side in pressing[:share]}

    def _drop_double(self, pose: np.ndarray, size: np.ndarray) -> None:
        """When both sides hold the same hand (the model, looking for a hand the other one hides,
        finds the other one), keep it on the side whose pose wrist it is nearer."""
        tracks = {side: state.track for side, state in self._sides.items() if state.track is not None}
        if len(tracks) < 2:
            return
        left, right = (tracks[side].estimate[:, :2] * size for side in (Side.LEFT, Side.RIGHT))
        hand_size = float(np.ptp(left, axis=0).max())
        if float(np.median(np.linalg.norm(left - right, axis=1))) > DOUBLE_HAND * hand_size:
            return
        distance = {side: float(np.linalg.norm((tracks[side].estimate[0, :2] - pose[POSE_HAND_POINTS[side][0], :2]) * size))
                    for side in tracks}
        impostor = self._sides[max(distance, key=distance.get)]
        impostor.track = None
        self._missed(impostor)

    def _moved_fast(self, state: _Side, side: Side, pose: np.ndarray, size: np.ndarray) -> bool:
        """Whether ``side``'s pose wrist has moved more than ``hand_fast_motion`` wrist -> knuckles
        lengths since the model last looked at it (False with the check off)."""
        if state.looked_wrist is None or self.config.hand_fast_motion <= 0.0:
            return False
        wrist, _, reach = _pose_hand(pose, side, size)
        return float(np.linalg.norm(wrist - state.looked_wrist * size)) > self.config.hand_fast_motion * reach

    def _run_model(self, rgb: np.ndarray, side: Side, pose: np.ndarray, size: np.ndarray) -> None:
        """Run the hand landmark model in ``side``'s region; its track is what it finds (or None)
        and the side's next run is scheduled."""
        state = self._sides.setdefault(side, _Side(due=self._frame))
        result = self._look(rgb, self._region(state.track, side, pose, size))
        state.track, state.looked_wrist = None, pose[POSE_HAND_POINTS[side][0], :2].copy()
        if result is None:
            self._missed(state)
            return
        points = np.array([(p.x, p.y, p.z) for p in result.landmarks.landmark], np.float32)  # (21, 3)
        self._found(state, points, float(result.handedness.classification[0].score), size)

    def _found(self, state: _Side, points: np.ndarray, score: float, size: np.ndarray) -> None:
        """A hand found for ``state``'s side, by the landmark model or the palm detector: it is
        followed from this frame on, and looked at again in ``hand_refresh_frames`` at most."""
        motion = HandMotion(self._grey(), points[:, :2] * size) if self._carrying else None
        state.track = HandTrack(points, score, motion)
        state.misses, state.palm_due, state.palm_misses = 0, None, 0
        state.due = self._frame + self.config.hand_refresh_frames

    def _missed(self, state: _Side) -> None:
        """The model found no hand for ``state``'s side: when to look again (SEARCH_WAITS), and
        from the PALM_AFTER_MISSES-th miss on, when the palm detector is to look too."""
        state.misses += 1
        state.due = self._frame + SEARCH_WAITS[min(state.misses, len(SEARCH_WAITS)) - 1]
        if state.misses == PALM_AFTER_MISSES:
            state.palm_due, state.palm_misses = self._frame + PALM_WAITS[0], 0

    def _look(self, rgb: np.ndarray, region):
        """The hand landmark model's result in ``region`` (None: no region, or no hand there)."""
        if region is None:
            return None
        result = self._graph.process({"image": rgb, "roi": region})
        return result if result.landmarks is not None else None

    def _region(self, track: HandTrack | None, side: Side, pose: np.ndarray, size: np.ndarray):
        """The NormalizedRect to look in for ``side``'s hand, or None if it lies off the image."""
        wrist, knuckles, reach = _pose_hand(pose, side, size)
        followed = track.estimate[:, :2] * size if track is not None else None  # where the hand is now
        if followed is not None and np.linalg.norm(followed[0] - wrist) < TRACK_RADIUS * reach:
            angle = _hand_angle(followed)
            centre, (w, h) = _rotated_box(followed[HAND_REGION_POINTS], angle)
            scale = 2.0  # MediaPipe's tracking: the box around the hand's landmarks, doubled
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

    def palm_wanted(self) -> bool:
        """After ``find``: whether the palm detector is to look at the whole frame. It looks for
        the sides whose hand the landmark model missed PALM_AFTER_MISSES times in a row where the
        pose points, when they are due (the pose's hand points can be wrong: near the face, a
        hand held edge-on); and, with no hand found at all, every PALM_SEARCH_FRAMES frames
        without one (a close-up where the pose is a guess). Its hands go to ``adopt``."""
        self._searched = {side for side, state in self._sides.items()
                          if state.track is None and state.palm_due is not None and state.palm_due <= self._frame}
        if not self._searched and any(state.track is not None for state in self._sides.values()):
            return False
        self._palm_wait -= 1
        if not self._searched and self._palm_wait > 0:
            return False
        self._palm_wait = PALM_SEARCH_FRAMES
        return True

    def adopt(self, rgb: np.ndarray, pose: np.ndarray, hands: tuple[Hand, ...]) -> tuple[Hand, ...]:
        """Follow the hands the palm detector found this frame (``palm_wanted``) on sides that
        have none, as if the landmark model had found them in their regions; a side it was to
        look for and did not find waits longer. Returns every hand followed now."""
        size = np.array([rgb.shape[1], rgb.shape[0]], np.float32)
        for hand in hands[: self.config.max_hands]:
            state = self._sides.setdefault(hand.side, _Side(due=self._frame))
            if state.track is None:  # a side already followed keeps the landmark model's hand
                state.looked_wrist = pose[POSE_HAND_POINTS[hand.side][0], :2].copy()
                self._found(state, hand.landmarks, hand.score, size)
        for side in self._searched:
            state = self._sides[side]
            if state.track is None:  # looked for less and less often
                state.palm_misses += 1
                state.palm_due = self._frame + PALM_WAITS[min(state.palm_misses, len(PALM_WAITS) - 1)]
        self._drop_double(pose, size)
        return self._hands()

    def forget(self) -> None:
        """Drop the hands followed so far: nobody's pose to follow them with (and without a pose,
        the palm detector looks at every frame)."""
        self._sides.clear()
        self._palm_wait = PALM_SEARCH_FRAMES

    def close(self) -> None:
        self._graph.close()


def _pose_hand(pose: np.ndarray, side: Side, size: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``side``'s wrist and knuckles (about the middle finger's, as Holistic estimates it) from
    the pose, in pixels, and the distance between them."""
    wrist, pinky, index = (pose[i, :2] * size for i in POSE_HAND_POINTS[side])
    knuckles = (2.0 * index + pinky) / 3.0
    return wrist, knuckles, float(np.linalg.norm(knuckles - wrist))


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


def _rotated_box(points: np.ndarray, angle: float) -> tuple[np.ndarray, tuple[float, float]]:
    """(centre, (width, height)) of the smallest box turned by ``angle`` around (N, 2) points."""
    middle = (points.max(axis=0) + points.min(axis=0)) / 2.0
    turned = np.stack([_turn(point, -angle) for point in points - middle])
    low, high = turned.min(axis=0), turned.max(axis=0)
    return middle + _turn((low + high) / 2.0, angle), (float(high[0] - low[0]), float(high[1] - low[1]))
