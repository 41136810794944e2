"""``gestures record``: run the real perception pipeline over a camera or a file and keep what
one demonstration shows, as an ``Example``.

The frames go through the same stages as the installation (source -> MediaPipe -> smoothing,
and features for mappings), so a recorded example looks exactly like what the recogniser will
see live. For a camera, ``delay_s`` of media time is skipped first (the time to step back and get
ready) and ``seconds`` are recorded; a file is recorded whole unless ``seconds`` is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from installation.clock import MonotonicClock
from installation.config import Config
from installation.contracts import HAND_LANDMARK_COUNT, POSE_LANDMARK_COUNT, Side, TrackedBody
from installation.feature_specs import FEATURE_SPECS
from installation.features import FeatureExtractor
from installation.gestures.config import GesturesConfig
from installation.gestures.errors import GestureError
from installation.gestures.model import Example, ExampleKind
from installation.gestures.normalise import isotropic
from installation.gestures.store import check_name
from installation.perceiver import Perceiver
from installation.smoothing import BodySmoother
from installation.sources import Source, open_source, parse_source_spec

log = logging.getLogger(__name__)

DEFAULT_CAMERA_SECONDS = 3.0
HANDS = ("any", "left", "right")


@dataclass(frozen=True)
class RecordRequest:
    """What to record: ``name`` of the gesture or mapping, its ``kind``, from ``source``
    (camera, camera:N or a file/folder path). ``hand`` picks which of the visitor's hands a
    static example takes ("any" = both). ``targets`` are a mapping's target values."""

    name: str
    kind: ExampleKind
    source: str
    seconds: float | None = None
    delay_s: float = 0.0
    hand: str = "any"
    targets: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Seen:
    """One recorded frame: the smoothed body, the sides perception actually saw a hand on this
    frame (not held ones), and the frame's features (F,)."""

    body: TrackedBody
    hands: frozenset[Side]
    features: np.ndarray


def record_example(
    request: RecordRequest, config: Config, gestures: GesturesConfig, progress: Callable[[str], None] | None = None
) -> Example:
    """Perceive the source and return the example. Raises GestureError when the request is
    malformed or nothing usable was seen, SourceError when the source cannot be opened."""
    _check(request)
    spec = parse_source_spec(request.source)
    source = open_source(spec, config.source, MonotonicClock())
    seconds = request.seconds
    if seconds is None and spec.kind == "camera":
        seconds = DEFAULT_CAMERA_SECONDS
    delay = request.delay_s if spec.kind == "camera" else 0.0
    width, height = source.frame_size
    aspect = width / height
    try:
        frames = _perceive(source, config, aspect, delay, seconds, progress)
    finally:
        source.close()
    log.info("recorded %d frames of %s from %s", len(frames), request.name, source.description)
    meta = {"source": request.source, "aspect": aspect, "mirrored": bool(config.source.mirror)}
    if request.kind is ExampleKind.STATIC:
        return _static(request, frames, meta, aspect, gestures)
    if request.kind is ExampleKind.DYNAMIC:
        return _dynamic(request, frames, meta)
    return _mapping(request, frames, meta)


def _perceive(
    source: Source, config: Config, aspect: float, delay: float, seconds: float | None,
    progress: Callable[[str], None] | None,
) -> list[_Seen]:
    """Frames from ``delay`` to ``delay + seconds`` of media time (or the end) through MediaPipe,
    the smoother and the feature extractor."""
    perceiver = Perceiver(config.perception)
    smoother = BodySmoother(config.smoothing)
    extractor = FeatureExtractor(aspect)
    frames: list[_Seen] = []
    first = None
    try:
        while (frame := source.read()) is not None:
            first = frame.timestamp_s if first is None else first
            elapsed = frame.timestamp_s - first
            observation = perceiver.process(frame)
            body = smoother.update(observation)  # also during the delay: the filters settle
            features = extractor.update(body).as_vector()
            if elapsed < delay:
                if progress is not None:
                    progress(f"starting in {delay - elapsed:.0f} s")
                continue
            if seconds is not None and elapsed - delay > seconds:
                break
            frames.append(_Seen(body, frozenset(hand.side for hand in observation.hands), features))
    finally:
        perceiver.close()
    return frames


def _check(request: RecordRequest) -> None:
    check_name(request.name)
    if request.hand not in HANDS:
        raise GestureError(f"hand must be one of {', '.join(HANDS)}, got {request.hand!r}")
    if request.kind is ExampleKind.MAPPING and not request.targets:
        raise GestureError("a mapping example needs target values: --target NAME=VALUE (one or more)")
    if request.kind is not ExampleKind.MAPPING and request.targets:
        raise GestureError("--target is only for mapping examples (--kind mapping)")
    for target in request.targets:
        check_name(target)


def _static(
    request: RecordRequest, frames: list[_Seen], meta: dict, aspect: float, gestures: GesturesConfig
) -> Example:
    sides = list(Side) if request.hand == "any" else [Side(request.hand)]
    hands = [
        isotropic(seen.body.hand(side), aspect) for seen in frames for side in sides
        if side in seen.hands and seen.body.hand_presence(side) >= gestures.min_hand_presence
    ]
    if not hands:
        which = "" if request.hand == "any" else f"{request.hand} "
        raise GestureError(f"no {which}hand was seen in {request.source}")
    return Example(request.kind, request.name, {"hands": np.array(hands)}, meta)


def _dynamic(request: RecordRequest, frames: list[_Seen], meta: dict) -> Example:
    bodies = [seen.body for seen in frames]
    if not any(body.pose.shape[0] for body in bodies):
        raise GestureError(f"no body was seen in {request.source}: a movement is learned from the pose")
    return Example(request.kind, request.name, _body_arrays(bodies), meta)


def _mapping(request: RecordRequest, frames: list[_Seen], meta: dict) -> Example:
    present = [seen for seen in frames
               if max(seen.body.pose_presence, seen.body.left_presence, seen.body.right_presence) > 0]
    if not present:
        raise GestureError(f"nobody was seen in {request.source}")
    targets = np.tile(np.array(list(request.targets.values()), np.float64), (len(present), 1))
    meta = {**meta, "input_names": [spec.name for spec in FEATURE_SPECS], "target_names": list(request.targets)}
    arrays = {"inputs": np.array([seen.features for seen in present], np.float64), "targets": targets}
    return Example(request.kind, request.name, arrays, meta)


def _body_arrays(bodies: list[TrackedBody]) -> dict[str, np.ndarray]:
    """The per-frame arrays of a dynamic example (NaN for parts not there)."""
    def part(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        return np.asarray(array, np.float64) if array.shape == shape else np.full(shape, np.nan)

    return {
        "times": np.array([body.timestamp_s for body in bodies]),
        "pose": np.array([part(body.pose, (POSE_LANDMARK_COUNT, 4)) for body in bodies]),
        "left": np.array([part(body.left_hand, (HAND_LANDMARK_COUNT, 3)) for body in bodies]),
        "right": np.array([part(body.right_hand, (HAND_LANDMARK_COUNT, 3)) for body in bodies]),
        "presence": np.array([(body.pose_presence, body.left_presence, body.right_presence) for body in bodies]),
    }


def dynamic_example(name: str, bodies: list[TrackedBody], aspect: float, mirrored: bool, source: str = "") -> Example:
    """A dynamic example from bodies perceived elsewhere (a replay's FrameReports, a test)."""
    return Example(ExampleKind.DYNAMIC, check_name(name), _body_arrays(bodies),
                   {"source": source, "aspect": aspect, "mirrored": mirrored})
