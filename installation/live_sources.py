"""Live sources: frames delivered as they happen by a thread of the source's own, through a
newest-wins slot, so ``latest()`` is always the freshest picture and what the loop had no time for
is dropped and counted. ``CameraSource`` grabs from a camera; ``RealtimePlayback`` plays a
recording at its own frame rate as a camera would deliver it; ``NewestFrameSource`` is the slot
reading that the camera and the NDI receiver (``installation.outputs.ndi``) share.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import cv2

from installation.capture import capture_size, prepare_image
from installation.clock import Clock
from installation.config import SourceConfig
from installation.contracts import Frame
from installation.errors import SourceError
from installation.slots import NewestSlot

if TYPE_CHECKING:
    from installation.sources import Source

log = logging.getLogger(__name__)


class NewestFrameSource:
    """A live source whose receiving thread puts each frame into ``_slot`` (newest wins) until
    ``_stop`` is set: the loop reads the newest frame, and what it had no time for is counted."""

    _slot: NewestSlot[Frame]
    _stop: threading.Event

    @property
    def dropped(self) -> int:
        """Frames that arrived and nobody took because a newer one came."""
        return self._slot.overwritten

    def read(self) -> Frame | None:
        while not self._stop.is_set():
            frame = self._slot.take(timeout_s=0.5)
            if frame is not None:
                return frame
        return None

    def latest(self) -> Frame | None:
        return self._slot.take(timeout_s=0.0)


class CameraSource(NewestFrameSource):
    """A camera read by a grabber thread that keeps only the newest frame.

    The thread calls ``grab()`` as fast as the camera delivers, which drains OpenCV's and the
    driver's queue; the loop takes the newest frame from a slot. If the camera stops delivering
    (unplugged), the thread logs it, counts it and re-opens it with backoff.
    """

    def __init__(self, target: int | str, config: SourceConfig, clock: Clock) -> None:
        self.target, self.config, self._clock = target, config, clock
        self.description = f"camera {target}"
        self._capture = self._open()
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1.0 <= fps <= 240.0 else config.fps
        self.frame_size = capture_size(self._capture)
        self.reconnects = 0
        self._slot: NewestSlot[Frame] = NewestSlot()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._grab_forever, name="camera-grabber", daemon=True)
        self._thread.start()

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self.target)
        if not capture.isOpened():
            raise SourceError(
                f"camera {self.target} could not be opened (is it plugged in? "
                "try another index or a /dev/video path)"
            )
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.config.width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.config.height)
        capture.set(cv2.CAP_PROP_FPS, self.config.fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # honoured by some back-ends only; the thread does the rest
        return capture

    def _grab_forever(self) -> None:
        index, backoff_s = 0, 0.5
        while not self._stop.is_set():
            ok, image = self._capture.read()
            if ok:
                backoff_s = 0.5
                picture = prepare_image(image, self.config.mirror)
                frame = Frame(index, self._clock.now(), self._clock.wall(), picture, self.config.mirror)
                self._slot.put(frame)
                index += 1
                continue
            log.warning("camera %s stopped delivering frames; reopening in %.1f s", self.target, backoff_s)
            self._stop.wait(backoff_s)
            backoff_s = min(backoff_s * 2.0, 10.0)
            self._reopen()

    def _reopen(self) -> None:
        self._capture.release()
        try:
            self._capture = self._open()
            self.reconnects += 1
            log.info("camera %s reopened", self.target)
        except SourceError:
            self._capture = cv2.VideoCapture()  # stays closed; read() fails and we back off again

    def close(self) -> None:
        self._stop.set()
        self._slot.close()
        self._thread.join(timeout=2.0)
        self._capture.release()


class RealtimePlayback:
    """Plays a file source at its own frame rate on a thread, as a camera would deliver it.

    Lets a live run (a window, a benchmark) use a recorded clip exactly like a camera: frames are
    stamped with the live clock when they are "captured", and the loop takes the newest. The clip
    starts playing at the loop's first read, after the models are loaded and warmed up: started
    earlier, a short clip would play out unseen while they load.
    """

    def __init__(self, inner: Source, clock: Clock) -> None:
        self.inner, self._clock = inner, clock
        self.description = f"{inner.description} (real time)"
        self.fps = inner.fps
        self.frame_size = inner.frame_size
        self._slot: NewestSlot[Frame] = NewestSlot()
        self._stop = threading.Event()
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._play, name="playback", daemon=True)
        self.playing = False

    def _start(self) -> None:
        if not self.playing:
            self.playing = True
            self._thread.start()

    def _play(self) -> None:
        # Pacing waits real seconds, so it measures real seconds (not the clock's wall reading).
        start_wall, first_media = time.perf_counter(), None
        while not self._stop.is_set():
            frame = self.inner.read()
            if frame is None:
                break
            if first_media is None:
                first_media = frame.timestamp_s
            delay = (frame.timestamp_s - first_media) - (time.perf_counter() - start_wall)
            if delay > 0 and self._stop.wait(delay):
                break
            self._slot.put(Frame(frame.index, self._clock.now(), self._clock.wall(), frame.image_bgr, frame.mirrored))
        self.finished.set()
        self._slot.close()

    @property
    def dropped(self) -> int:
        return self._slot.overwritten

    def read(self) -> Frame | None:
        self._start()
        while True:
            frame = self._slot.take(timeout_s=0.5)
            if frame is not None or self.finished.is_set():
                return frame if frame is not None else self._slot.take(timeout_s=0.0)

    def latest(self) -> Frame | None:
        self._start()
        return self._slot.take(timeout_s=0.0)

    @property
    def exhausted(self) -> bool:
        return self.finished.is_set()

    def close(self) -> None:
        self._stop.set()
        if self.playing:
            self._thread.join(timeout=2.0)
        self.inner.close()
