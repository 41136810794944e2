"""Recorded media as sources: a video file and a folder of images, read in order and stamped with
the media's own time (``read()`` blocks until the next frame; None = end of media), and
``clip_frames`` to hold a short clip in memory. Replay reads them in lockstep; a live run plays
them through ``installation.live_sources.RealtimePlayback``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from installation.capture import capture_size, prepare_image
from installation.clock import Clock, MonotonicClock
from installation.config import SourceConfig
from installation.contracts import Frame
from installation.errors import SourceError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class VideoFileSource:
    """Frames of a video file in order, stamped with the video's own timestamps.

    With ``loop`` the clip plays again and again; indices and timestamps keep counting up, so
    filters downstream never see time run backwards. ``clock``'s ``wall()`` stamps each frame's
    ``wall_s`` (None = a MonotonicClock).
    """

    def __init__(self, path: Path, loop: bool = False, mirror: bool = False, clock: Clock | None = None) -> None:
        if not path.exists():
            raise SourceError(f"video file not found: {path}")
        if not path.is_file():
            raise SourceError(f"not a video file: {path}")
        self.path, self.loop, self.mirror = path, loop, mirror
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._capture = self._open()
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1.0 <= fps <= 240.0 else 30.0
        self.frame_size = capture_size(self._capture)
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
        frame = Frame(self._index, timestamp, self._clock.wall(), prepare_image(image, self.mirror), self.mirror)
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

    Unreadable images are skipped, logged and counted in ``skipped``. ``clock``'s ``wall()``
    stamps each frame's ``wall_s`` (None = a MonotonicClock).
    """

    def __init__(self, folder: Path, config: SourceConfig, clock: Clock | None = None) -> None:
        if not folder.is_dir():
            raise SourceError(f"image folder not found: {folder}")
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise SourceError(f"no images in {folder} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        self.fps, self.loop, self.mirror = config.images_fps, config.loop, config.mirror
        self._clock: Clock = clock if clock is not None else MonotonicClock()
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
            picture = prepare_image(image, self.mirror)
            frame = Frame(self._index, self._index / self.fps, self._clock.wall(), picture, self.mirror)
            self._index += 1
            return frame
        return None

    def latest(self) -> Frame | None:
        return self.read()

    def close(self) -> None:
        pass


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
