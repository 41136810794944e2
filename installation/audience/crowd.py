"""The audience stage: several people, stable ids, zones and one primary participant per frame.

``CrowdPerceiver`` has the surface of ``installation.perceiver.Perceiver`` (``process(frame)``
returns an Observation, ``close()``, ``errors``/``consecutive_errors``), so either perception
schedule can run it. Its Observation is the primary participant's body and hands, exactly as the
single-person Perceiver would give them; the whole ``Audience`` rides along on it (an
``audience`` field, when Observation has one) and is also kept in ``last_audience``.

``OscSlots`` turns an Audience into fixed per-slot OSC messages: a person keeps a slot for as
long as they are tracked, and a newcomer takes the lowest free one.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from installation.audience.detection import DetectorConfig, PeopleDetector
from installation.audience.primary import PrimaryChooser, PrimaryConfig
from installation.audience.tracking import Departure, Person, Tracker, TrackerConfig
from installation.audience.zones import Zone, ZoneEvent, ZoneWatch, anchor_point
from installation.config import PerceptionConfig
from installation.contracts import Frame, Hand, Observation
from installation.hand_ownership import owned_hands
from installation.native_logs import quiet_mediapipe
from installation.perceiver import MIRRORED_POSE_ORDER, assign_sides

log = logging.getLogger(__name__)

_EMPTY_POSE = np.zeros((0, 4), np.float32)


@dataclass(frozen=True)
class AudienceConfig:
    """Everything the audience stage needs besides the perception settings it shares."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    primary: PrimaryConfig = field(default_factory=PrimaryConfig)
    zone_margin: float = 0.02  # hysteresis of zone borders, normalised image units
    hand_margin: float = 0.35  # the primary's hand crop grows by this fraction of its box height, each side


@dataclass(frozen=True)
class Audience:
    """Everyone the stage follows at one moment.

    ``people``: the confirmed people, oldest first (coasting ones included, ``missed`` > 0);
    ``primary_id``: the primary participant's id or None; ``events``: this frame's zone events;
    ``anchors``: each person's standing point (x, y) in normalised image units; ``zones``: the
    names of the zones each person is in.
    """

    frame_index: int
    timestamp_s: float
    people: tuple[Person, ...] = ()
    primary_id: int | None = None
    events: tuple[ZoneEvent, ...] = ()
    anchors: dict[int, tuple[float, float]] = field(default_factory=dict)
    zones: dict[int, frozenset[str]] = field(default_factory=dict)
    departures: tuple[Departure, ...] = ()  # ids that ended this frame (walked out at an edge, or lost)

    @property
    def primary(self) -> Person | None:
        return self.person(self.primary_id) if self.primary_id is not None else None

    def person(self, person_id: int) -> Person | None:
        """The person with this id, or None if not present."""
        return next((p for p in self.people if p.id == person_id), None)


class CrowdPerceiver:
    """Owns the audience stage's MediaPipe graphs and state. Set up once; ``process`` per frame."""

    def __init__(self, perception: PerceptionConfig, config: AudienceConfig | None = None,
                 zones: Sequence[Zone] = ()) -> None:
        quiet_mediapipe()
        import mediapipe as mp  # imported here: the start-up cost is paid only when used

        self.perception = perception
        self.config = config or AudienceConfig()
        detector_config = dataclasses.replace(
            self.config.detector, pose_model_complexity=perception.pose_model_complexity,
            min_detection_confidence=perception.min_detection_confidence,
            min_tracking_confidence=perception.min_tracking_confidence)
        self.detector = PeopleDetector(detector_config)
        self.tracker = Tracker(self.config.tracker)
        self.chooser = PrimaryChooser(self.config.primary)
        self.zone_watch = ZoneWatch(zones, self.config.zone_margin)
        self._hands = (
            mp.solutions.hands.Hands(
                static_image_mode=False, max_num_hands=perception.max_hands,
                model_complexity=perception.hand_model_complexity,
                min_detection_confidence=perception.min_detection_confidence,
                min_tracking_confidence=perception.min_tracking_confidence)
            if perception.hands else None
        )
        self.errors = 0
        self.consecutive_errors = 0
        self.hands_dropped = 0  # hands found near the primary that sat on nobody's or another person's wrist
        self.last_audience: Audience | None = None

    def process(self, frame: Frame) -> Observation:
        """The primary participant's Observation for one frame (empty when there is none), with
        the Audience attached. A MediaPipe failure is logged and counted and gives an empty
        observation and audience; it never raises."""
        return self.perceive(frame)[0]

    def perceive(self, frame: Frame) -> tuple[Observation, Audience]:
        """As ``process``, returning the Observation and the Audience side by side."""
        started = time.perf_counter()
        t = frame.timestamp_s
        try:
            image = self._inference_image(frame.image_bgr)
            detections = self.detector.detect(image, self.tracker.hints(t))
            audience = self._audience(frame, self.tracker.update(detections, t))
            pose, hands = self._primary_body(image, audience, frame.mirrored)
            self.consecutive_errors = 0
        except Exception:  # MediaPipe raises plain RuntimeError/ValueError on bad input
            self.errors += 1
            self.consecutive_errors += 1
            log.exception("audience perception failed on frame %d; using an empty observation", frame.index)
            audience, pose, hands = Audience(frame.index, t), _EMPTY_POSE, ()
        self.last_audience = audience
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        visitor = audience.primary_id or 0  # a new primary is a new visitor to the smoother and gestures
        return Observation(frame.index, t, frame.wall_s, pose, hands, elapsed_ms, audience=audience,
                           visitor=visitor), audience

    def counters(self) -> dict[str, int]:
        """What the stage threw away instead of passing on, by kind: hands on nobody's or another
        person's wrist, searched bodies that were a painted person found again (ghosts), followers
        that latched onto someone already found (shadowed, reset), and id moves refused by the
        tracker's appearance or speed gate."""
        return {"hands_dropped": self.hands_dropped, "people_ghosts": self.detector.ghosts,
                "people_shadowed": self.detector.shadowed, "id_moves_refused": self.tracker.refused}

    def close(self) -> None:
        self.detector.close()
        if self._hands is not None:
            self._hands.close()

    def _inference_image(self, image_bgr: np.ndarray) -> np.ndarray:
        height, width = image_bgr.shape[:2]
        target = self.perception.input_width
        if not target or target == width:
            return image_bgr
        interpolation = cv2.INTER_AREA if target < width else cv2.INTER_LINEAR
        return cv2.resize(image_bgr, (target, max(1, round(height * target / width))), interpolation=interpolation)

    def _audience(self, frame: Frame, tracked: tuple[Person, ...]) -> Audience:
        people = tuple(p for p in tracked if p.confirmed)
        anchors = {p.id: anchor_point(p.box, p.landmarks) for p in people}
        events = self.zone_watch.update(anchors.items(), frame.timestamp_s)
        candidates = [p for p in people if self.zone_watch.interacting(p.id)]
        primary_id = self.chooser.choose(candidates, frame.timestamp_s)
        zones = {p.id: self.zone_watch.zones_of(p.id) for p in people}
        return Audience(frame.index, frame.timestamp_s, people, primary_id, events, anchors, zones,
                        self.tracker.departures)

    def _primary_body(self, image_bgr: np.ndarray, audience: Audience,
                      mirrored: bool) -> tuple[np.ndarray, tuple[Hand, ...]]:
        primary = audience.primary
        if primary is None or primary.landmarks.shape[0] == 0:
            return _EMPTY_POSE, ()  # nobody, or the primary coasts this frame: the smoother holds
        # Pose names sides as seen in an unmirrored image; in a mirrored one swap the pairs so
        # LEFT_* is the visitor's own left, as the single-person Perceiver does.
        pose = primary.landmarks[MIRRORED_POSE_ORDER] if mirrored else primary.landmarks
        found = self._primary_hands(image_bgr, primary.box, pose, mirrored)
        # The crop around the primary also holds the hands of anyone close: keep only the hands on
        # the primary's own wrists (gestures are only ever read from those).
        others = [p.landmarks for p in audience.people if p.id != primary.id and p.landmarks.shape[0]]
        height, width = image_bgr.shape[:2]
        owned = owned_hands(found, primary.landmarks, others, width / height)
        self.hands_dropped += owned.dropped
        return pose, owned.hands

    def _primary_hands(self, image_bgr: np.ndarray, box: np.ndarray, pose: np.ndarray,
                       mirrored: bool) -> tuple[Hand, ...]:
        if self._hands is None:
            return ()
        height, width = image_bgr.shape[:2]
        pad = self.config.hand_margin * float(box[3] - box[1])  # raised hands reach above the head
        xa, xb = int(max(0.0, box[0] - pad) * width), int(np.ceil(min(1.0, box[2] + pad) * width))
        ya, yb = int(max(0.0, box[1] - pad) * height), int(np.ceil(min(1.0, box[3] + pad) * height))
        if xb - xa < 8 or yb - ya < 8:
            return ()
        rgb = cv2.cvtColor(image_bgr[ya:yb, xa:xb], cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False
        result = self._hands.process(rgb)
        if not result.multi_hand_landmarks:
            return ()
        scale = np.array([(xb - xa) / width, (yb - ya) / height, (xb - xa) / width], np.float32)
        offset = np.array([xa / width, ya / height, 0.0], np.float32)
        landmarks = [np.array([(p.x, p.y, p.z) for p in hand.landmark], np.float32) * scale + offset  # (21, 3)
                     for hand in result.multi_hand_landmarks]
        labels = [(h.classification[0].label, h.classification[0].score) for h in result.multi_handedness]
        sides = assign_sides(landmarks, [label for label, _ in labels], pose, mirrored)
        return tuple(Hand(points, side, float(score)) for points, side, (_, score) in zip(landmarks, sides, labels))


class OscSlots:
    """Fixed OSC slots 0..max_people-1 for the people of an Audience.

    ``messages(audience)`` returns [(address, args)]: for every slot ``/person/<slot>/id`` [id, or
    -1 when empty], ``/x`` and ``/y`` [the standing point, normalised image units; 0 when empty],
    ``/present`` [1 or 0]; then ``/audience/primary`` [the primary's slot, or -1]. A person keeps
    their slot while tracked; a newcomer takes the lowest free one, and waits (unsent) if none is.
    """

    def __init__(self, max_people: int) -> None:
        self.max_people = max_people
        self._slots: list[int | None] = [None] * max_people  # person id per slot

    def messages(self, audience: Audience) -> list[tuple[str, list]]:
        present = [p.id for p in audience.people]
        self._slots = [pid if pid in present else None for pid in self._slots]
        for pid in present:
            if pid not in self._slots and None in self._slots:
                self._slots[self._slots.index(None)] = pid
        out: list[tuple[str, list]] = []
        for slot, pid in enumerate(self._slots):
            x, y = audience.anchors.get(pid, (0.0, 0.0)) if pid is not None else (0.0, 0.0)
            out += [(f"/person/{slot}/id", [pid if pid is not None else -1]),
                    (f"/person/{slot}/x", [float(x)]),
                    (f"/person/{slot}/y", [float(y)]),
                    (f"/person/{slot}/present", [int(pid is not None)])]
        primary_slot = self.slot_of(audience.primary_id) if audience.primary_id is not None else None
        out.append(("/audience/primary", [-1 if primary_slot is None else primary_slot]))
        return out

    def slot_of(self, person_id: int) -> int | None:
        """The slot the person holds, or None."""
        return self._slots.index(person_id) if person_id in self._slots else None
