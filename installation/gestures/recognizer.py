"""``GestureRecognizer``: one ``TrackedBody`` per frame in, gesture events out.

Every frame it asks each recogniser for confidences keyed by (gesture name, side):

    built-in hand shapes   per hand      hand_shapes.shape_confidences (the best shape only)
    two-hand shapes        side None     two_hand_shapes.two_hand_confidences (both hands seen)
    built-in body poses    side None     body_poses.pose_confidences
    built-in movements     per hand      motion.MotionDetector (clap: side None)
    learned hand shapes    per hand      knn.KnnClassifier on normalise.hand_descriptor
    learned movements      side None     dtw.StreamingMatcher per taught template

and the event layer (events.EventLayer) turns them into start / hold / end events. Time is the
``t`` passed in (media time): the recogniser never reads a clock, so a replay gives the same
events every time.
"""

from __future__ import annotations

import logging

import numpy as np

from installation.contracts import HAND_LANDMARK_COUNT, HandLandmark, PoseLandmark, Side, TrackedBody
from installation.gestures.body_poses import PoseView, pose_confidences
from installation.gestures.config import GesturesConfig
from installation.gestures.continuous import ContinuousMapping
from installation.gestures.dtw import StreamingMatcher
from installation.gestures.errors import GestureError
from installation.gestures.events import EventLayer, GateSettings, GestureEvent
from installation.gestures.hand_shapes import best_shape
from installation.gestures.model import TrainedGestures
from installation.gestures.motion import MOMENTARY, MotionDetector
from installation.gestures.normalise import (
    BodyFrame,
    hand_descriptor,
    isotropic,
    mirror_movement,
    movement_descriptor,
    palm_length,
)
from installation.gestures.store import GestureStore, load_model
from installation.gestures.two_hand_shapes import two_hand_confidences

log = logging.getLogger(__name__)

Key = tuple[str, Side | None]
PALM_LENGTHS_PER_SHOULDER_WIDTH = 4.0  # hands-only framing: a palm is ~1/4 of a shoulder width
MIN_WRIST_TRUST = 0.5  # a pose wrist less visible than this is not followed
POSE_WRISTS = {Side.LEFT: PoseLandmark.LEFT_WRIST, Side.RIGHT: PoseLandmark.RIGHT_WRIST}
PALM_CENTRE = (HandLandmark.WRIST, HandLandmark.INDEX_MCP, HandLandmark.MIDDLE_MCP, HandLandmark.PINKY_MCP)
MAX_LOGGED_ERRORS = 3
MAX_PALM_PER_SHOULDER = 0.9  # an adult palm is ~0.25-0.4 shoulder widths; bigger: a hand close-up


class GestureRecognizer:
    """Built-in and learned gestures of one visitor.

    ``image_aspect`` is the perceived image's width / height and ``mirrored`` whether the source
    flips it (``[source] mirror``); both are fixed for a run. ``trained`` is what
    ``gestures train`` learned, if anything (see ``from_config``).
    """

    def __init__(
        self, config: GesturesConfig, image_aspect: float, mirrored: bool, trained: TrainedGestures | None = None
    ) -> None:
        if not image_aspect > 0:
            raise ValueError(f"image_aspect must be a positive width / height, got {image_aspect!r}")
        self.config, self.aspect, self.mirrored = config, float(image_aspect), mirrored
        self.trained = trained if trained is not None and config.learned else TrainedGestures()
        self.errors = 0
        self.learned_enabled = True  # taught gestures run (switched over OSC, Wekinator's run/stop)
        self.confidences: dict[Key, float] = {}  # the last frame's, for overlays and OSC
        held = GateSettings(config.on_threshold, config.off_threshold, config.min_on_s, config.release_s,
                            config.refractory_s, config.hold_interval_s)
        momentary = GateSettings(config.on_threshold, config.off_threshold, 0.0, config.release_s,
                                 config.refractory_s, config.hold_interval_s)
        self._events = EventLayer(held, momentary)
        self._motion = MotionDetector()
        self._matchers = self._build_matchers()
        self._momentary = MOMENTARY | {template.name for template in self.trained.templates}
        self._visitor = 0  # the body's visitor at the last update

    @staticmethod
    def from_config(config: GesturesConfig, image_aspect: float, mirrored: bool) -> GestureRecognizer:
        """A recogniser with the installation's trained model, if ``gestures train`` made one.

        A missing model is fine (built-in gestures only, logged); a corrupt one raises
        GestureFileError at start-up, naming the file and how to fix it."""
        trained = None
        if config.enabled and config.learned:
            path = GestureStore(config.folder).model_path
            if path.is_file():
                trained = load_model(path)
                log.info("gestures: loaded %s\n%s", path, trained.describe())
            else:
                log.info("gestures: no trained model at %s; built-in gestures only", path)
        return GestureRecognizer(config, image_aspect, mirrored, trained)

    def mapping(self, name: str) -> ContinuousMapping:
        """A taught continuous mapping by name. Raises GestureError naming the known ones."""
        if name not in self.trained.mappings:
            known = ", ".join(sorted(self.trained.mappings)) or "none"
            raise GestureError(f"no taught mapping called {name!r} (taught: {known})")
        return self.trained.mappings[name]

    def use(self, trained: TrainedGestures) -> None:
        """Switch to newly trained gestures and mappings (taught live), keeping the built-ins."""
        self.trained = trained
        self._matchers = self._build_matchers()
        self._momentary = MOMENTARY | {template.name for template in self.trained.templates}
        self._events.reset()

    def mapped(self, values: dict[str, float]) -> dict[str, dict[str, float]]:
        """Every taught mapping applied to named inputs (e.g. ``Features.as_dict()``):
        {mapping name: {output name: value}}; empty when nothing was taught. A mapping whose
        inputs are missing from ``values`` raises KeyError naming them."""
        return {name: mapping.predict_named(values) for name, mapping in self.trained.mappings.items()}

    def reset(self) -> None:
        """Forget the visitor: movement histories, match states and gate states."""
        self._events.reset()
        self._motion.reset()
        for matcher, _ in self._matchers:
            matcher.reset()

    def update(self, body: TrackedBody, t: float) -> list[GestureEvent]:
        """The events of this frame (media time ``t`` seconds), in a stable order.

        A failure inside a recogniser is logged (the first few), counted in ``errors`` and
        treated as a frame with no confidences, so held gestures end instead of the loop stopping.
        """
        if not self.config.enabled:
            return []
        if body.visitor != self._visitor:  # another person: their movements must not join the last one's
            self._visitor = body.visitor
            self._motion.reset()
            for matcher, _ in self._matchers:
                matcher.reset()
        try:
            confidences = self._confidences(body, t)
        except Exception:  # noqa: BLE001 - the show goes on; see the docstring
            self.errors += 1
            if self.errors <= MAX_LOGGED_ERRORS:
                log.exception("gesture recognition failed at t=%.3f; no gestures this frame", t)
            confidences = {}
        self.confidences = confidences
        return self._events.step(confidences, t, self._momentary)

    # --- confidences ---------------------------------------------------------------------------

    def _confidences(self, body: TrackedBody, t: float) -> dict[Key, float]:
        hands = self._hands(body)
        frame = BodyFrame.of(body.pose, self.aspect, self.mirrored) if body.pose_presence > 0.0 else None
        out: dict[Key, float] = {}
        if self.config.builtin:
            out.update(self._builtin(body, hands, frame, t))
        if not self.learned_enabled:
            return out
        for key, confidence in self._learned_shapes(hands).items():  # a taught name may equal a built-in one
            out[key] = max(out.get(key, 0.0), confidence)
        out.update(self._movement_matches(body, frame))
        return out

    def _builtin(
        self, body: TrackedBody, hands: dict[Side, np.ndarray], frame: BodyFrame | None, t: float
    ) -> dict[Key, float]:
        out: dict[Key, float] = {}
        view = PoseView(np.asarray(body.pose, np.float64), frame, self.aspect) if frame is not None else None
        both = self._two_hand_shapes(hands, view)
        out.update(both)
        # While the two hands make one shape together, what each makes alone (two open palms of a
        # T, the halves of a heart) is part of it, not a gesture of its own.
        if max(both.values(), default=0.0) < self.config.on_threshold:
            for side, hand in hands.items():
                shape, confidence = best_shape(hand)
                if shape is not None:
                    out[(shape.value, side)] = confidence
        if view is not None and not self._hand_closeup(frame, hands):
            palms = {side: frame.to_body(hand[list(PALM_CENTRE), :2].mean(axis=0)) for side, hand in hands.items()}
            out.update({(pose.value, None): value for pose, value in pose_confidences(view, palms).items()})
        out.update(self._motion.update(t, self._motion_points(view, hands), has_body=view is not None))
        return out

    @staticmethod
    def _two_hand_shapes(hands: dict[Side, np.ndarray], view: PoseView | None) -> dict[Key, float]:
        """The two-hand shapes' confidences (side None), when both of the visitor's hands are seen."""
        if Side.LEFT not in hands or Side.RIGHT not in hands:
            return {}
        confidences = two_hand_confidences(hands[Side.LEFT], hands[Side.RIGHT], view)
        return {(shape.value, None): value for shape, value in confidences.items() if value > 0.0}

    @staticmethod
    def _hand_closeup(frame: BodyFrame, hands: dict[Side, np.ndarray]) -> bool:
        """True when a hand's palm is longer than ``MAX_PALM_PER_SHOULDER`` shoulder widths: the
        camera sees a hand up close, and a crouch or arms-up read off the guessed body is noise."""
        return any(palm_length(hand) > MAX_PALM_PER_SHOULDER * frame.shoulder_width for hand in hands.values())

    def _learned_shapes(self, hands: dict[Side, np.ndarray]) -> dict[Key, float]:
        out: dict[Key, float] = {}
        if self.trained.static is None:
            return out
        for side, hand in hands.items():
            descriptor = hand_descriptor(hand)
            if descriptor is not None:
                name, confidence = self.trained.static.predict(descriptor)
                if name is not None:
                    out[(name, side)] = confidence
        return out

    def _hands(self, body: TrackedBody) -> dict[Side, np.ndarray]:
        """The isotropic (21, 3) landmarks of each hand present enough to judge."""
        hands = {}
        for side in Side:
            landmarks = np.asarray(body.hand(side), np.float64)
            if (body.hand_presence(side) >= self.config.min_hand_presence
                    and landmarks.shape == (HAND_LANDMARK_COUNT, 3) and np.isfinite(landmarks).all()):
                hands[side] = isotropic(landmarks, self.aspect)
        return hands

    def _motion_points(self, view: PoseView | None, hands: dict[Side, np.ndarray]) -> dict[Side, np.ndarray]:
        """Each followed hand's point in body coordinates: the pose wrist with a body, else
        (hands-only framing) the hand's wrist, in units of ~a shoulder width made of palms."""
        if view is not None:
            return {
                side: view.point(wrist) for side, wrist in POSE_WRISTS.items() if view.trust(wrist) >= MIN_WRIST_TRUST
            }
        points = {}
        sign = 1.0 if self.mirrored else -1.0
        for side, hand in hands.items():
            unit = PALM_LENGTHS_PER_SHOULDER_WIDTH * palm_length(hand)
            if unit > 0.0:
                wrist = hand[HandLandmark.WRIST, :2]
                points[side] = np.array([sign * wrist[0], -wrist[1]]) / unit
        return points

    # --- learned movements ---------------------------------------------------------------------

    def _build_matchers(self) -> list[tuple[StreamingMatcher, int]]:
        """One matcher per template (and its mirror image, when mirror_invariant), each with the
        index of its template."""
        matchers = []
        for index, template in enumerate(self.trained.templates):
            matchers.append((StreamingMatcher(template.sequence), index))
            if self.config.mirror_invariant:
                mirrored = mirror_movement(template.sequence, self.trained.shape_weight)
                matchers.append((StreamingMatcher(mirrored), index))
        return matchers

    def _movement_matches(self, body: TrackedBody, frame: BodyFrame | None) -> dict[Key, float]:
        if not self._matchers:
            return {}
        descriptor = None
        if frame is not None:
            hands = {side.value: (body.hand(side), body.hand_presence(side)) for side in Side}
            descriptor = movement_descriptor(body.pose, hands, self.aspect, self.mirrored, self.trained.shape_weight)
        if descriptor is None:  # nobody: a match must not bridge the gap
            for matcher, _ in self._matchers:
                matcher.reset()
            return {}
        out: dict[Key, float] = {}
        for matcher, index in self._matchers:
            template = self.trained.templates[index]
            distance = matcher.step(descriptor)
            confidence = float(2.0 ** (-((distance / template.threshold) ** 2))) if np.isfinite(distance) else 0.0
            out[(template.name, None)] = max(out.get((template.name, None), 0.0), confidence)
        return out

