"""Teaching gestures while the piece runs, over OSC (record / stop / train / run), the way
Wekinator is taught: the performer records examples from the live visitor, trains, and the new
gestures and mappings take effect at once, without a restart.

``LiveTeacher`` is a frame listener: while recording it keeps the frames it is shown; ``stop``
turns them into an example in the installation's gesture folder (as ``gestures record`` does
from a file), ``train`` fits everything recorded so far and hands the result to the running
recogniser.
"""

from __future__ import annotations

import logging
from pathlib import Path

from installation.gestures.config import GesturesConfig
from installation.gestures.errors import GestureError
from installation.gestures.model import ExampleKind
from installation.gestures.recognizer import GestureRecognizer
from installation.gestures.recording import RecordRequest, _dynamic, _mapping, _Seen, _static
from installation.gestures.store import GestureStore, check_name, save_model
from installation.gestures.training import train
from installation.report import FrameReport

log = logging.getLogger(__name__)

MAX_RECORDED_FRAMES = 30 * 60  # a minute at 30 fps: a forgotten "stop" can't grow memory for ever


class LiveTeacher:
    def __init__(self, config: GesturesConfig, recognizer: GestureRecognizer, folder: Path, aspect: float,
                 mirrored: bool) -> None:
        self.config, self.recognizer, self.aspect, self.mirrored = config, recognizer, aspect, mirrored
        self.store = GestureStore(folder)
        self.request: RecordRequest | None = None
        self.frames: list[_Seen] = []
        self.outputs: dict[str, float] = {}  # Wekinator-style target values for mapping examples

    @property
    def recording(self) -> bool:
        return self.request is not None

    def start(self, name: str, kind: str, targets: tuple[float, ...] = ()) -> None:
        """Start recording an example. Raises GestureError for a bad name or kind."""
        try:
            example_kind = ExampleKind(kind)
        except ValueError:
            raise GestureError(f"unknown example kind {kind!r} (static, dynamic or mapping)") from None
        values = {f"out{i}": float(v) for i, v in enumerate(targets)} if targets else dict(self.outputs)
        if example_kind is ExampleKind.MAPPING and not values:
            raise GestureError("a mapping example needs target values (send them, or /wekinator/control/outputs)")
        self.request = RecordRequest(check_name(name), example_kind, "osc",
                                     targets=values if example_kind is ExampleKind.MAPPING else {})
        self.frames = []
        log.info("recording gesture example %s (%s)", name, kind)

    def on_frame(self, report: FrameReport) -> None:
        if self.request is None or len(self.frames) >= MAX_RECORDED_FRAMES:
            return
        seen = frozenset(h.side for h in report.observation.hands) if report.observation is not None else frozenset()
        self.frames.append(_Seen(report.body, seen, report.features.as_vector()))

    def stop(self) -> Path | None:
        """Finish the recording and store it; returns its file. Raises GestureError if nothing
        usable was seen."""
        request, frames = self.request, self.frames
        self.request, self.frames = None, []
        if request is None:
            return None
        meta = {"source": "osc", "aspect": self.aspect, "mirrored": self.mirrored}
        if request.kind is ExampleKind.STATIC:
            example = _static(request, frames, meta, self.aspect, self.config)
        elif request.kind is ExampleKind.DYNAMIC:
            example = _dynamic(request, frames, meta)
        else:
            example = _mapping(request, frames, meta)
        path = self.store.add(example)
        log.info("stored gesture example %s (%d frames) in %s", request.name, len(frames), path)
        return path

    def train(self) -> None:
        """Fit every stored example and put the result to work now. Raises GestureError."""
        examples = self.store.examples()
        if not examples:
            raise GestureError(f"no gesture examples in {self.store.folder} to train on")
        trained = train(examples, self.config)
        save_model(self.store.model_path, trained)
        self.recognizer.use(trained)
        log.info("trained gestures from %d examples:\n%s", len(examples), trained.describe())

    def close(self) -> None:
        self.request, self.frames = None, []

