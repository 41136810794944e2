"""Finding several people in one frame with MediaPipe Pose, which finds one person per image.

MediaPipe 0.10.21's legacy Pose follows a single body, so several bodies take several runs, each
on a region that holds one person. Three kinds of region are used (docs/audience.md gives the
measurements that chose them over HOG boxes and segmentation blobs):

1. **Followed**: each tracked person's predicted box, grown by a margin, is cropped and given to
   that person's own Pose instance in tracking mode (a Pose instance keeps temporal state, so one
   instance must only ever see one person). The heads and torsos of the people followed before
   are painted out of the crop, so a follower whose person is hidden does not latch onto the one
   in front; a follower that still comes back with someone already found is reset.
2. **Searched**: the head and torso of everyone already found are painted out with flat grey (not
   their whole box: a second person overlapping the first keeps their face) and a static-mode Pose
   runs on the whole (scaled) image; whoever it finds is painted out in turn, until it finds
   nobody or ``max_people`` are found. This is what finds newcomers.
3. **Beside**: one window per frame, in turn, straddling the left or right edge of someone found:
   Pose's detector wants a body that fills a good part of its input, so a second dancer at the
   first one's shoulder is found in a window around that shoulder and missed in the whole image.
4. **Scanned**: one full-height window of the painted image per frame, in turn, for a person too
   small beside the others for the whole-image search to notice.

Landmarks from a crop are mapped back to full-image normalised coordinates; two regions that
found the same body are merged when their landmarks lie on each other (``same_body``; boxes alone
can't tell two overlapping people from one). Each detection carries its torso colour histogram
and limb proportions (``appearance``) for the tracker.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from installation.appearance import (  # noqa: F401 - re-exported for callers of this module
    TORSO,
    histogram_distance,
    limb_proportions,
    torso_descriptor,
)
from installation.audience.regions import face_on_paint, paint_core, to_image
from installation.contracts import POSE_LANDMARK_COUNT, PoseLandmark
from installation.native_logs import quiet_mediapipe

log = logging.getLogger(__name__)


_TORSO = list(TORSO)
_CORE = (PoseLandmark.NOSE, PoseLandmark.LEFT_SHOULDER, PoseLandmark.RIGHT_SHOULDER,
         PoseLandmark.LEFT_HIP, PoseLandmark.RIGHT_HIP)  # where two detections of one body must agree
_CORE_SWAPPED = (PoseLandmark.NOSE, PoseLandmark.RIGHT_SHOULDER, PoseLandmark.LEFT_SHOULDER,
                 PoseLandmark.RIGHT_HIP, PoseLandmark.LEFT_HIP)


@dataclass(frozen=True)
class DetectorConfig:
    """How people are looked for. ``max_people`` bounds the work per frame (one Pose run each)."""

    max_people: int = 4
    pose_model_complexity: int = 1
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    min_visibility: float = 0.5  # a landmark counts toward a body's box above this visibility
    min_confidence: float = 0.3  # mean torso visibility below this: not a person
    crop_margin: float = 0.25  # a followed crop grows by this fraction of the box height on each side
    mask_margin: float = 0.08  # the painted-out box grows by this fraction of its size, each side
    same_body_distance: float = 0.5  # core landmarks closer than this many shoulder widths (mean): one body
    search_width: int = 640  # the searched image is scaled to this width (0 = as captured)
    scan_width: float = 0.75  # scan windows are this many image heights wide (0 = no scan)
    beside_width: float = 0.9  # a window beside a found person is this many of their box heights wide (0 = none)
    search_every: int = 1  # look for newcomers every this many frames (the followed run every frame)


@dataclass(frozen=True)
class PersonDetection:
    """One body found in one frame.

    ``box`` is (x0, y0, x1, y1) in normalised image units, ``landmarks`` (33, 4) x y z visibility in
    full-image normalised units (MediaPipe's convention), ``confidence`` the mean visibility of the
    torso landmarks, ``descriptor`` an L1-normalised (64,) hue-saturation histogram of the torso,
    ``proportions`` (10,) bone lengths in shoulder widths (NaN: not seen), ``source`` "followed",
    "searched", "beside" or "scanned" and ``hint`` the key of the followed region (-1: searched).
    """

    box: np.ndarray
    landmarks: np.ndarray
    confidence: float
    descriptor: np.ndarray
    source: str = "searched"
    hint: int = -1
    proportions: np.ndarray = field(default_factory=lambda: np.full(10, np.nan, np.float32), repr=False)

    @property
    def centre(self) -> np.ndarray:
        return np.array([(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2], np.float32)


@dataclass(frozen=True)
class RegionHint:
    """A region to follow: ``key`` names whose Pose instance runs on it (a track id), ``box`` is the
    predicted (x0, y0, x1, y1) in normalised image units."""

    key: int
    box: np.ndarray = field(repr=False)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes; 0 when either is empty."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def landmark_box(landmarks: np.ndarray, min_visibility: float) -> np.ndarray:
    """The (x0, y0, x1, y1) box of the visible landmarks, clipped to the image, with room above the
    eyes for the top of the head (Pose has no landmark there). All landmarks count if none is visible."""
    visible = landmarks[landmarks[:, 3] >= min_visibility]
    if len(visible) < 4:
        visible = landmarks
    x0, y0 = visible[:, :2].min(axis=0)
    x1, y1 = visible[:, :2].max(axis=0)
    y0 -= 0.08 * (y1 - y0)  # the crown is about this far above the eyes for a standing body
    return np.clip(np.array([x0, y0, x1, y1], np.float32), 0.0, 1.0)


def same_body(a: PersonDetection, b: PersonDetection, max_distance: float = 0.5) -> bool:
    """True when two detections put the nose, shoulders and hips (those seen in both) in the same
    places, within ``max_distance`` shoulder widths on average: one body found from two regions.
    Boxes can't tell: two people overlapping mid-frame have nearly one box, and one half-hidden
    body's box changes with how much of the legs each run guessed."""
    if a.landmarks.shape[0] != POSE_LANDMARK_COUNT or b.landmarks.shape[0] != POSE_LANDMARK_COUNT:
        return False
    pa = a.landmarks[list(_CORE)]
    shoulders = max(float(np.linalg.norm(pa[1, :2] - pa[2, :2])),
                    float(np.linalg.norm(b.landmarks[_CORE[1], :2] - b.landmarks[_CORE[2], :2])),
                    0.1 * float(max(a.box[3] - a.box[1], b.box[3] - b.box[1])))  # side-on shoulders overlap
    # A run that sees the body from behind names its sides the other way round: compare both ways.
    for order in (_CORE, _CORE_SWAPPED):
        pb = b.landmarks[list(order)]
        shared = (pa[:, 3] >= 0.3) & (pb[:, 3] >= 0.3)
        if int(shared.sum()) < 2:
            shared[:] = True  # nothing trustworthy in both: compare all five, as guessed
        if float(np.linalg.norm(pa[shared, :2] - pb[shared, :2], axis=1).mean()) < max_distance * shoulders:
            return True
    return False


class PeopleDetector:
    """Owns the Pose instances: one per follow slot (tracking mode) and one for the search (static).

    ``detect(image_bgr, hints)`` returns the people found. Instances are made at set-up; a slot is
    given to a hint's key on first sight and reset when that key stops being hinted.
    """

    def __init__(self, config: DetectorConfig) -> None:
        quiet_mediapipe()
        import mediapipe as mp  # imported here: the start-up cost is paid only when used

        self.config = config

        def pose(static: bool):
            return mp.solutions.pose.Pose(
                static_image_mode=static,
                model_complexity=config.pose_model_complexity,
                smooth_landmarks=False,  # the crop moves every frame; smoothing belongs to the tracker and smoother
                min_detection_confidence=config.min_detection_confidence,
                min_tracking_confidence=config.min_tracking_confidence,
            )

        self._followers = [pose(False) for _ in range(config.max_people)]
        self._free = list(range(config.max_people))
        self._slot_of: dict[int, int] = {}  # hint key -> follower index
        self._search = pose(True)
        self._scan_index = 0  # which scan window runs next (one per frame, in turn)
        self._beside_index = 0  # which beside window runs next
        self.shadowed = 0  # followed runs that came back with someone already found (follower reset)
        self.ghosts = 0  # searched bodies whose face lay on paint: a painted person found again, dropped
        self._calls = 0

    def detect(self, image_bgr: np.ndarray, hints: Sequence[RegionHint] = ()) -> list[PersonDetection]:
        """Find up to ``max_people`` bodies in a BGR image: first in the hinted regions (in the
        order given: earlier hints win a contested slot), then by searching the rest (every
        ``search_every`` calls: a replay must make every call in frame order). Returns the
        detections without duplicates; MediaPipe's own errors propagate to the caller."""
        self._release_unhinted(hints)
        hsv = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2HSV)
        found: list[PersonDetection] = []
        for hint in hints:
            slot = self._claim(hint.key)
            if slot is None:
                continue  # more tracks than slots: the search may still find this person
            detection = self._follow(image_bgr, hsv, hint, self._followers[slot], found)
            if detection is None:
                continue
            if self._duplicate(detection, found):
                # This follower latched onto someone already found (its own person is hidden
                # behind them): forget its state, so it detects afresh instead of shadowing.
                self._followers[slot].reset()
                self.shadowed += 1
                continue
            found.append(detection)
        searching = self._calls % max(1, self.config.search_every) == 0
        self._calls += 1
        if searching and len(found) < self.config.max_people:
            found.extend(self._search_rest(image_bgr, hsv, found))
        return found

    def close(self) -> None:
        for pose in self._followers:
            pose.close()
        self._search.close()

    # --- followed regions ---------------------------------------------------------------------

    def _release_unhinted(self, hints: Sequence[RegionHint]) -> None:
        keys = {hint.key for hint in hints}
        for key in [k for k in self._slot_of if k not in keys]:
            slot = self._slot_of.pop(key)
            self._followers[slot].reset()  # forget the old person before someone else is followed
            self._free.append(slot)
        self._free.sort()  # deterministic slot order, so a replay runs the same instances

    def _claim(self, key: int) -> int | None:
        if key not in self._slot_of:
            if not self._free:
                return None
            self._slot_of[key] = self._free.pop(0)
        return self._slot_of[key]

    def _follow(self, image_bgr: np.ndarray, hsv: np.ndarray, hint: RegionHint, pose,
                others: Sequence[PersonDetection]) -> PersonDetection | None:
        height, width = image_bgr.shape[:2]
        x0, y0, x1, y1 = (float(v) for v in hint.box)
        pad = self.config.crop_margin * (y1 - y0)
        # Pose letterboxes its input to a square; a crop at least half as wide as tall keeps a thin
        # standing body from being shrunk to a sliver, and leaves room for raised arms.
        half_w = max((x1 - x0) / 2 + pad * height / width, (y1 - y0 + 2 * pad) * height / width / 4)
        cx = (x0 + x1) / 2
        xa, xb = int(max(0.0, cx - half_w) * width), int(np.ceil(min(1.0, cx + half_w) * width))
        ya, yb = int(max(0.0, y0 - pad) * height), int(np.ceil(min(1.0, y1 + pad) * height))
        if xb - xa < 8 or yb - ya < 8:
            return None
        crop = image_bgr[ya:yb, xa:xb]
        if others:
            crop = crop.copy()  # painted on below: never paint the caller's frame
            for other in others:
                paint_core(crop, other.landmarks, (xa / width, ya / height, (xb - xa) / width, (yb - ya) / height))
        landmarks = self._run(pose, crop)
        if landmarks is None:
            return None
        to_image(landmarks, xa, ya, xb - xa, yb - ya, width, height)
        detection = self._detection(hsv, landmarks, "followed", hint.key)
        return detection if detection.confidence >= self.config.min_confidence else None

    # --- search -------------------------------------------------------------------------------

    def _search_rest(self, image_bgr: np.ndarray, hsv: np.ndarray, found: list[PersonDetection]) -> list[PersonDetection]:
        height, width = image_bgr.shape[:2]
        target = self.config.search_width
        if target and target < width:
            scaled = cv2.resize(image_bgr, (target, max(1, round(height * target / width))), interpolation=cv2.INTER_AREA)
        else:
            scaled = image_bgr.copy()  # painted on below: never paint the caller's frame
        for detection in found:
            paint_core(scaled, detection.landmarks)
        more: list[PersonDetection] = []
        for _ in range(self.config.max_people - len(found)):  # bounded: a run that finds a duplicate costs a turn
            landmarks = self._run(self._search, scaled)
            if landmarks is None:
                break
            detection = self._detection(hsv, landmarks, "searched", -1)
            ghost = face_on_paint(scaled, landmarks)
            paint_core(scaled, landmarks)
            if ghost:
                self.ghosts += 1
            elif detection.confidence >= self.config.min_confidence and not self._duplicate(detection, found + more):
                more.append(detection)
        for window in (self._beside_window, self._scan_window):
            if len(found) + len(more) >= self.config.max_people:
                break
            detection = self._search_window(scaled, hsv, window(scaled.shape, found + more))
            if detection is not None and not self._duplicate(detection, found + more):
                more.append(detection)
                paint_core(scaled, detection.landmarks)
        return more

    def _beside_window(self, shape: tuple[int, ...], found: Sequence[PersonDetection]) -> tuple[int, int, int, int] | None:
        """The next window straddling the left or right edge of someone found (in turn, one a
        frame): (x0, y0, x1, y1) pixels of the searched image, or None with nobody found."""
        height, width = shape[:2]
        if not found or self.config.beside_width <= 0:
            return None
        edges = [(d, side) for d in sorted(found, key=lambda d: float(d.box[0])) for side in (0, 2)]
        detection, side = edges[self._beside_index % len(edges)]
        self._beside_index += 1
        box = detection.box
        box_h = float(box[3] - box[1]) * height
        half = 0.5 * self.config.beside_width * box_h
        cx = float(box[side]) * width
        xa, xb = int(max(0.0, cx - half)), int(min(float(width), cx + half))
        ya, yb = int(max(0.0, float(box[1]) * height - 0.25 * box_h)), int(min(float(height), float(box[3]) * height + 0.1 * box_h))
        return (xa, ya, xb, yb) if xb - xa >= 16 and yb - ya >= 16 else None

    def _scan_window(self, shape: tuple[int, ...], found: Sequence[PersonDetection]) -> tuple[int, int, int, int] | None:
        """The next full-height window of the image (in turn, one a frame), for a person standing
        small beside bigger ones; None when the image is narrower than a window."""
        height, width = shape[:2]
        window = int(round(self.config.scan_width * height))
        if window <= 0 or window >= width:
            return None
        starts = np.linspace(0, width - window, int(np.ceil(2 * width / window)) - 1).astype(int)
        xa = int(starts[self._scan_index % len(starts)])
        self._scan_index += 1
        return xa, 0, xa + window, height

    def _search_window(self, painted: np.ndarray, hsv: np.ndarray,
                       window: tuple[int, int, int, int] | None) -> PersonDetection | None:
        if window is None:
            return None
        xa, ya, xb, yb = window
        height, width = painted.shape[:2]
        landmarks = self._run(self._search, painted[ya:yb, xa:xb])
        if landmarks is None:
            return None
        to_image(landmarks, xa, ya, xb - xa, yb - ya, width, height)
        if face_on_paint(painted, landmarks):
            self.ghosts += 1
            return None
        detection = self._detection(hsv, landmarks, "scanned" if yb - ya == height else "beside", -1)
        return detection if detection.confidence >= self.config.min_confidence else None

    # --- shared -------------------------------------------------------------------------------

    @staticmethod
    def _run(pose, image_bgr: np.ndarray) -> np.ndarray | None:
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False  # lets MediaPipe take the buffer without a copy
        result = pose.process(rgb)
        if result.pose_landmarks is None:
            return None
        return np.array([(p.x, p.y, p.z, p.visibility) for p in result.pose_landmarks.landmark], np.float32)  # (33, 4)

    def _detection(self, hsv: np.ndarray, landmarks: np.ndarray, source: str, hint: int) -> PersonDetection:
        box = landmark_box(landmarks, self.config.min_visibility)
        confidence = float(landmarks[_TORSO, 3].mean())
        aspect = hsv.shape[1] / hsv.shape[0]
        return PersonDetection(box, landmarks, confidence, torso_descriptor(hsv, landmarks, box), source, hint,
                               limb_proportions(landmarks, aspect))

    def _duplicate(self, detection: PersonDetection, others: Sequence[PersonDetection]) -> bool:
        """The same body as one of ``others``, or a ghost made of one of their limbs (a small body
        inside a bigger one's box: Pose assembles one from a painted person's arm and leg)."""
        return any(same_body(detection, other, self.config.same_body_distance) or _inside(detection.box, other.box)
                   for other in others)


def _inside(small: np.ndarray, big: np.ndarray) -> bool:
    """True when ``small`` lies at least 80 % inside ``big`` and is under 0.7 of its height."""
    w = min(small[2], big[2]) - max(small[0], big[0])
    h = min(small[3], big[3]) - max(small[1], big[1])
    area = float((small[2] - small[0]) * (small[3] - small[1]))
    if w <= 0 or h <= 0 or area <= 0:
        return False
    return float(w * h) / area >= 0.8 and float(small[3] - small[1]) < 0.7 * float(big[3] - big[1])
