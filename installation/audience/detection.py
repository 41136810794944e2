"""Finding several people in one frame with MediaPipe Pose, which finds one person per image.

MediaPipe 0.10.21's legacy Pose follows a single body, so several bodies take several runs, each
on a region that holds one person. Three kinds of region are used (docs/audience.md gives the
measurements that chose them over HOG boxes and segmentation blobs):

1. **Followed**: each tracked person's predicted box, grown by a margin, is cropped and given to
   that person's own Pose instance in tracking mode (a Pose instance keeps temporal state, so one
   instance must only ever see one person).
2. **Searched**: everyone already found is painted out with flat grey and a static-mode Pose runs
   on the whole (scaled) image; whoever it finds is painted out in turn, until it finds nobody or
   ``max_people`` are found. This is what finds newcomers.
3. **Scanned**: one full-height window of the painted image per frame, in turn, for a person too
   small beside the others for the whole-image search to notice.

Landmarks from a crop are mapped back to full-image normalised coordinates; two regions that
found the same body are merged (landmark-box IoU). Each detection carries an HSV colour histogram
of its torso for the tracker's appearance term.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from installation.contracts import POSE_LANDMARK_COUNT, PoseLandmark
from installation.native_logs import quiet_mediapipe

log = logging.getLogger(__name__)


HIST_BINS = (16, 4)  # hue x saturation: clothing colour; value (brightness) is left out, it follows the lighting
DESCRIPTOR_SIZE = HIST_BINS[0] * HIST_BINS[1]
_TORSO = (PoseLandmark.LEFT_SHOULDER, PoseLandmark.RIGHT_SHOULDER, PoseLandmark.LEFT_HIP, PoseLandmark.RIGHT_HIP)
_HEAD_AND_SHOULDERS = (PoseLandmark.NOSE, PoseLandmark.LEFT_SHOULDER, PoseLandmark.RIGHT_SHOULDER)
_GREY = 127  # the paint that hides a found person from the search: no edges, no skin, no colour


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
    duplicate_iou: float = 0.5  # two landmark boxes overlapping more than this are one body
    search_width: int = 640  # the searched image is scaled to this width (0 = as captured)
    scan_width: float = 0.75  # scan windows are this many image heights wide (0 = no scan)
    search_every: int = 1  # look for newcomers every this many frames (the followed run every frame)


@dataclass(frozen=True)
class PersonDetection:
    """One body found in one frame.

    ``box`` is (x0, y0, x1, y1) in normalised image units, ``landmarks`` (33, 4) x y z visibility in
    full-image normalised units (MediaPipe's convention), ``confidence`` the mean visibility of the
    torso landmarks, ``descriptor`` an L1-normalised (64,) hue-saturation histogram of the torso,
    ``source`` "followed", "searched" or "scanned" and ``hint`` the key of the followed region (-1: searched).
    """

    box: np.ndarray
    landmarks: np.ndarray
    confidence: float
    descriptor: np.ndarray
    source: str = "searched"
    hint: int = -1

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


def same_body(a: PersonDetection, b: PersonDetection) -> bool:
    """True when two detections put the nose and both shoulders in the same places (within half a
    shoulder width on average): one body found from two regions. Boxes alone can't tell, as a
    half-hidden body's box changes with how much of the legs each run guessed."""
    if a.landmarks.shape[0] != POSE_LANDMARK_COUNT or b.landmarks.shape[0] != POSE_LANDMARK_COUNT:
        return False
    pa, pb = a.landmarks[list(_HEAD_AND_SHOULDERS), :2], b.landmarks[list(_HEAD_AND_SHOULDERS), :2]
    shoulders = max(float(np.linalg.norm(pa[1] - pa[2])), float(np.linalg.norm(pb[1] - pb[2])),
                    0.1 * float(max(a.box[3] - a.box[1], b.box[3] - b.box[1])))  # side-on shoulders overlap
    return float(np.linalg.norm(pa - pb, axis=1).mean()) < 0.5 * shoulders


def torso_descriptor(image_hsv: np.ndarray, landmarks: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The (64,) L1-normalised hue-saturation histogram of the torso (shoulders to hips), or of the
    middle of ``box`` when the torso landmarks are missing; a uniform histogram if nothing is left."""
    height, width = image_hsv.shape[:2]
    if landmarks.shape[0] == POSE_LANDMARK_COUNT:
        torso = landmarks[list(_TORSO), :2]
        x0, y0 = torso.min(axis=0)
        x1, y1 = torso.max(axis=0)
    else:
        bw, bh = box[2] - box[0], box[3] - box[1]
        x0, y0, x1, y1 = box[0] + 0.25 * bw, box[1] + 0.25 * bh, box[2] - 0.25 * bw, box[1] + 0.6 * bh
    xa, xb = int(np.clip(x0 * width, 0, width - 1)), int(np.clip(x1 * width, 1, width))
    ya, yb = int(np.clip(y0 * height, 0, height - 1)), int(np.clip(y1 * height, 1, height))
    patch = image_hsv[ya:max(yb, ya + 1), xa:max(xb, xa + 1)]
    hist = cv2.calcHist([patch], [0, 1], None, list(HIST_BINS), [0, 180, 0, 256]).reshape(-1)
    total = float(hist.sum())
    if total <= 0:
        return np.full(DESCRIPTOR_SIZE, 1.0 / DESCRIPTOR_SIZE, np.float32)
    return (hist / total).astype(np.float32)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya (Hellinger) distance of two L1-normalised histograms: 0 same, 1 disjoint."""
    return float(np.sqrt(max(0.0, 1.0 - float(np.sum(np.sqrt(a * b))))))


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
            detection = self._follow(image_bgr, hsv, hint, self._followers[slot])
            if detection is not None and not self._duplicate(detection, found):
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

    def _follow(self, image_bgr: np.ndarray, hsv: np.ndarray, hint: RegionHint, pose) -> PersonDetection | None:
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
        landmarks = self._run(pose, image_bgr[ya:yb, xa:xb])
        if landmarks is None:
            return None
        # crop-normalised -> image-normalised; z is in units of the crop's width, like x
        landmarks[:, 0] = (xa + landmarks[:, 0] * (xb - xa)) / width
        landmarks[:, 1] = (ya + landmarks[:, 1] * (yb - ya)) / height
        landmarks[:, 2] *= (xb - xa) / width
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
            self._paint_out(scaled, detection.box)
        more: list[PersonDetection] = []
        while len(found) + len(more) < self.config.max_people:
            landmarks = self._run(self._search, scaled)
            if landmarks is None:
                break
            detection = self._detection(hsv, landmarks, "searched", -1)
            self._paint_out(scaled, detection.box)
            if detection.confidence < self.config.min_confidence:
                continue  # painted out anyway, so the search moves on instead of finding it again
            if not self._duplicate(detection, found + more):
                more.append(detection)
        if len(found) + len(more) < self.config.max_people:
            detection = self._scan(scaled, hsv)
            if detection is not None and not self._duplicate(detection, found + more):
                more.append(detection)
        return more

    def _scan(self, painted: np.ndarray, hsv: np.ndarray) -> PersonDetection | None:
        """Run the search on one full-height window of the painted image, the next in turn each
        frame. Pose's detector looks for a body that fills a good part of its input, so a person
        standing small beside someone bigger (painted out or not) is found in a window and missed
        in the whole image; one window per frame keeps the cost at one Pose run."""
        height, width = painted.shape[:2]
        window = int(round(self.config.scan_width * height))
        if window <= 0 or window >= width:
            return None
        starts = np.linspace(0, width - window, int(np.ceil(2 * width / window)) - 1).astype(int)
        xa = int(starts[self._scan_index % len(starts)])
        self._scan_index += 1
        landmarks = self._run(self._search, painted[:, xa:xa + window])
        if landmarks is None:
            return None
        landmarks[:, 0] = (xa + landmarks[:, 0] * window) / width
        landmarks[:, 2] *= window / width
        detection = self._detection(hsv, landmarks, "scanned", -1)
        return detection if detection.confidence >= self.config.min_confidence else None

    def _paint_out(self, image: np.ndarray, box: np.ndarray) -> None:
        height, width = image.shape[:2]
        m = self.config.mask_margin
        bw, bh = box[2] - box[0], box[3] - box[1]
        xa, xb = int(max(0.0, box[0] - m * bw) * width), int(np.ceil(min(1.0, box[2] + m * bw) * width))
        ya, yb = int(max(0.0, box[1] - m * bh) * height), int(np.ceil(min(1.0, box[3] + m * bh) * height))
        image[ya:yb, xa:xb] = _GREY

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
        confidence = float(landmarks[list(_TORSO), 3].mean())
        return PersonDetection(box, landmarks, confidence, torso_descriptor(hsv, landmarks, box), source, hint)

    def _duplicate(self, detection: PersonDetection, others: Sequence[PersonDetection]) -> bool:
        return any(box_iou(detection.box, other.box) > self.config.duplicate_iou or same_body(detection, other)
                   for other in others)
