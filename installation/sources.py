"""Where frames come from: a camera, a video file, or a folder of images.

Two ways to read:
- ``read()`` returns the next frame in order and blocks until it exists (None = end of media).
  Replay uses it: every frame is processed, stamped with the media's own time.
- ``latest()`` returns the newest frame not yet returned, or None, and never blocks. The live
  loop uses it, so it always works on the freshest picture. A camera is read by a grabber thread
  that keeps only the newest frame: OpenCV's own queue would otherwise hand out frames hundreds
  of milliseconds old.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Union

import cv2
import numpy as np

from installation.clock import wall_s
from installation.config import PROJECT_ROOT, SourceConfig
from installation.contracts import Frame
from installation.errors import SourceError
from installation.slots import NewestSlot

log = logging.getLogger(__name__)

DEMO_CLIP = PROJECT_ROOT / "installation" / "assets" / "demo_asl.mp4"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}

# OpenCV prints its own warnings for a camera that isn't there; we report it in one line instead.
cv2.setLogLevel(0)  # 0 = silent


class Clock(Protocol):
    def now(self) -> float: ...


class Source(Protocol):
    description: str
    fps: float  # nominal frame rate (camera's reported rate, or the file's)
    frame_size: tuple[int, int]  # (width, height) of the frames it delivers

    def read(self) -> Frame | None: ...

    def latest(self) -> Frame | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SourceSpec:
    """What to open: ``kind`` is camera | video | images; ``target`` the index, device or path."""

    kind: str
    target: Union[int, str]


def parse_source_spec(text: str) -> SourceSpec:
    """Parse a ``--source`` value: camera, camera:N, camera:/dev/videoN, N, ndi:NAME, demo, a file or folder."""
    if text.startswith("ndi:") and len(text) > 4:  # another tool's NDI output (installation/outputs/ndi.py)
        return SourceSpec("ndi", text[4:])
    if text == "demo":
        return SourceSpec("video", str(DEMO_CLIP))
    if text == "camera":
        return SourceSpec("camera", 0)
    if text.startswith("camera:"):
        target = text.split(":", 1)[1]
        return SourceSpec("camera", int(target) if target.isdigit() else target)
    if text.isdigit():
        return SourceSpec("camera", int(text))
    if text.startswith("/dev/video"):
        return SourceSpec("camera", text)
    return SourceSpec("images" if Path(text).is_dir() else "video", text)


def is_live(kind: str) -> bool:
    """A source that shows what is happening now (a camera, an NDI stream), not a recording:
    it cannot be replayed in lockstep and never ends by itself."""
    return kind in ("camera", "ndi")


def _open_ndi(name: str, config: SourceConfig) -> "Source":
    from installation.outputs.ndi import NdiSource, NdiSourceError  # ndi-python loads only when asked for
    from installation.outputs.video_out import VideoOutError

    try:
        return NdiSource(name, config.ndi_extra_ips, mirror=config.mirror)
    except (NdiSourceError, VideoOutError) as error:
        raise SourceError(str(error)) from None


def spec_from_config(config: SourceConfig) -> SourceSpec:
    if config.kind == "camera":
        return SourceSpec("camera", config.camera)
    if config.kind == "demo":
        return SourceSpec("video", str(DEMO_CLIP))
    if not config.path:
        if config.kind == "ndi":
            raise SourceError("source.kind = 'ndi' needs source.path (the NDI source's name)")
        raise SourceError(f"source.kind = '{config.kind}' needs source.path (a file or folder)")
    return SourceSpec(config.kind, config.path)


def open_source(spec: SourceSpec, config: SourceConfig, clock: Clock) -> "Source":
    """Open a camera, video file or image folder. Raises SourceError with a one-line reason."""
    if spec.kind == "camera":
        return CameraSource(spec.target, config, clock)
    if spec.kind == "images":
        return ImageFolderSource(Path(str(spec.target)), config)
    if spec.kind == "ndi":
        return _open_ndi(str(spec.target), config)
    return VideoFileSource(Path(str(spec.target)), loop=config.loop, mirror=config.mirror)


class VideoFileSource:
    """Frames of a video file in order, stamped with the video's own timestamps.

    With ``loop`` the clip plays again and again; indices and timestamps keep counting up, so
    filters downstream never see time run backwards.
    """

    def __init__(self, path: Path, loop: bool = False, mirror: bool = False) -> None:
        if not path.exists():
            raise SourceError(f"video file not found: {path}")
        if not path.is_file():
            raise SourceError(f"not a video file: {path}")
        self.path, self.loop, self.mirror = path, loop, mirror
        self._capture = self._open()
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1.0 <= fps <= 240.0 else 30.0
        self.frame_size = _capture_size(self._capture)
        self.description = f"video {path.name}"
        self._index = 0
        self._offset_s = 0.0  # media time of the current pass's start (looping)
        self._last_s = -1.0

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path))
        ok = capture.isOpened() and capture.grab()
        if not ok:
            capture.release()
            raise SourceError(f"cannot read video: {self.path} (OpenCV could not decode it)")
        capture.release()  # re-open so the first frame isn't lost to the check
        return cv2.VideoCapture(str(self.path))

    def read(self) -> Frame | None:
        ok, image = self._capture.read()
        if not ok and self.loop and self._index > 0:
            self._capture.release()
            self._capture = self._open()
            self._offset_s = self._last_s + 1.0 / self.fps
            ok, image = self._capture.read()
        if not ok:
            return None
        timestamp = self._offset_s + self._media_time()
        if timestamp <= self._last_s:  # some containers report 0 or repeat a time
            timestamp = self._last_s + 1.0 / self.fps
        self._last_s = timestamp
        frame = Frame(self._index, timestamp, wall_s(), _prepare(image, self.mirror), self.mirror)
        self._index += 1
        return frame

    def _media_time(self) -> float:
        position_ms = self._capture.get(cv2.CAP_PROP_POS_MSEC)
        if position_ms > 0 or self._index == 0:
            return position_ms / 1000.0
        return -1.0  # unknown: the caller falls back to one frame period after the last

    def latest(self) -> Frame | None:
        return self.read()

    def close(self) -> None:
        self._capture.release()


class ImageFolderSource:
    """The images of a folder in name order, at ``images_fps`` of media time each.

    Unreadable images are skipped, logged and counted in ``skipped``.
    """

    def __init__(self, folder: Path, config: SourceConfig) -> None:
        if not folder.is_dir():
            raise SourceError(f"image folder not found: {folder}")
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise SourceError(f"no images in {folder} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        self.fps, self.loop, self.mirror = config.images_fps, config.loop, config.mirror
        self.description = f"images {folder.name}/ ({len(self.paths)})"
        self.frame_size = self._first_size()
        self.skipped = 0
        self._position = 0  # position in the endless sequence of paths (looping)
        self._index = 0

    def _first_size(self) -> tuple[int, int]:
        for path in self.paths:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                return image.shape[1], image.shape[0]
        raise SourceError(f"no readable image in {self.paths[0].parent}")

    def read(self) -> Frame | None:
        while self.loop or self._position < len(self.paths):
            if self.loop and self.skipped >= len(self.paths) and self._position >= len(self.paths):
                return None  # every image is unreadable: looping would spin forever
            path = self.paths[self._position % len(self.paths)]
            self._position += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                self.skipped += 1
                log.warning("skipped unreadable image %s", path)
                continue
            frame = Frame(self._index, self._index / self.fps, wall_s(), _prepare(image, self.mirror), self.mirror)
            self._index += 1
            return frame
        return None

    def latest(self) -> Frame | None:
        return self.read()

    def close(self) -> None:
        pass


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

    def __init__(self, target: Union[int, str], config: SourceConfig, clock: Clock) -> None:
        self.target, self.config, self._clock = target, config, clock
        self.description = f"camera {target}"
        self._capture = self._open()
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1.0 <= fps <= 240.0 else config.fps
        self.frame_size = _capture_size(self._capture)
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
                frame = Frame(index, self._clock.now(), wall_s(), _prepare(image, self.config.mirror), self.config.mirror)
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

    def __init__(self, inner: "Source", clock: Clock) -> None:
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
            self._slot.put(Frame(frame.index, self._clock.now(), wall_s(), frame.image_bgr, frame.mirrored))
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


def clip_frames(path: Path, limit: int | None = None, mirror: bool = False) -> list[np.ndarray]:
    """A video file's BGR frames in order (at most ``limit``), read as ``VideoFileSource`` reads
    them (for tests and benchmarks that need a clip in memory). Raises SourceError."""
    source = VideoFileSource(Path(path), mirror=mirror)
    frames = []
    try:
        while limit is None or len(frames) < limit:
            frame = source.read()
            if frame is None:
                break
            frames.append(frame.image_bgr)
    finally:
        source.close()
    return frames


def _capture_size(capture: cv2.VideoCapture) -> tuple[int, int]:
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    return (width, height) if width > 0 and height > 0 else (640, 480)


def _prepare(image: np.ndarray, mirror: bool) -> np.ndarray:
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return cv2.flip(image, 1) if mirror else image
