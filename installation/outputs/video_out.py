"""Video to other programs: a Linux virtual camera (v4l2loopback, through pyvirtualcam) and NDI
(ndi.py), fed from the composed picture without ever holding up the frame loop.

Each target sends on its own thread. The loop hands it the newest frame through a slot of one
(``installation.slots.NewestSlot``): a receiver slower than the loop (a busy OBS, a congested
network) loses frames, counted in ``dropped``, and the loop never waits for it. A send that fails
is logged and counted in ``errors``; after ``MAX_CONSECUTIVE_ERRORS`` the target gives up, logs
why, and the show goes on without it.

Targets (``[video_out] targets`` or ``--video-out``):

    virtualcam              the first free v4l2loopback device
    virtualcam:/dev/video10 that device
    file:PATH.mkv           the virtual camera's test back-end: a lossless FFV1 file OpenCV reads
    ndi[:NAME]              an NDI source called NAME (default: the display title)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from installation.errors import InstallationError
from installation.slots import NewestSlot

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_ERRORS = 30  # a second of failures at 30 fps: the receiver is gone, stop trying
FILE_BACKEND = "installation-file"


class VideoOutError(InstallationError):
    """A video target cannot be opened (no v4l2loopback device, no NDI runtime, a bad target)."""


@dataclass(frozen=True)
class VideoTarget:
    """One parsed target: ``kind`` virtualcam | file | ndi, ``where`` a device, path or NDI name."""

    kind: str
    where: str = ""


def parse_target(text: str) -> VideoTarget:
    """Parse ``virtualcam[:DEVICE]``, ``file:PATH`` or ``ndi[:NAME]``. Raises VideoOutError."""
    kind, _, where = text.partition(":")
    if kind not in ("virtualcam", "file", "ndi"):
        raise VideoOutError(f"video out {text!r}: expected virtualcam[:/dev/videoN], ndi[:NAME] or file:PATH.mkv")
    if kind == "file" and not where:
        raise VideoOutError(f"video out {text!r}: file needs a path, e.g. file:out/virtualcam.mkv")
    return VideoTarget(kind, where)


class FrameBackend(Protocol):
    """Sends one frame somewhere; runs on the sender's thread only."""

    def send(self, rgb: np.ndarray, alpha: np.ndarray | None) -> None: ...

    def close(self) -> None: ...


class VideoSender:
    """One target on its own thread, fed through a newest-wins slot."""

    def __init__(self, name: str, backend: FrameBackend) -> None:
        self.name, self.backend = name, backend
        self.sent = self.errors = self.offered = 0
        self._consecutive_errors = 0
        self._handled = threading.Condition()  # notified after every send, for drain()
        self._slot: NewestSlot[tuple[np.ndarray, np.ndarray | None]] = NewestSlot()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send_forever, name=f"video-out-{name}", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        """Frames replaced by a newer one before the receiver took them."""
        return self._slot.overwritten

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def offer(self, rgb: np.ndarray, alpha: np.ndarray | None = None) -> None:
        """Hand over a frame the caller will not touch again; returns at once."""
        if not self._stop.is_set():
            self.offered += 1
            self._slot.put((rgb, alpha))

    def _send_forever(self) -> None:
        while not self._stop.is_set():
            item = self._slot.take(timeout_s=None)
            if item is None or not self._send(item):  # closed, or the target is given up on
                break

    def _send(self, item: tuple[np.ndarray, np.ndarray | None]) -> bool:
        """Send one frame; returns False when the target has failed too often to go on."""
        try:
            self.backend.send(*item)
            self.sent += 1
            self._consecutive_errors = 0
            return True
        except Exception as error:  # noqa: BLE001 - any backend failure: counted, logged, given up on
            self.errors += 1
            self._consecutive_errors += 1
            if self.errors == 1 or self.errors % 100 == 0:
                log.warning("video out %s: send failed (%d so far): %s", self.name, self.errors, error)
            if self._consecutive_errors < MAX_CONSECUTIVE_ERRORS:
                return True
            log.error("video out %s: %d sends failed in a row; sending no more", self.name, self._consecutive_errors)
            return False
        finally:
            with self._handled:
                self._handled.notify_all()

    def drain(self, timeout_s: float = 5.0) -> bool:
        """Wait until every offered frame is sent, dropped or failed (the frame waiting at close;
        tests). Returns whether that happened within ``timeout_s``."""
        with self._handled:
            return self._handled.wait_for(
                lambda: not self._thread.is_alive() or self.sent + self.errors + self.dropped >= self.offered, timeout_s)

    def close(self) -> None:
        """Send what is waiting, stop the thread, release the target."""
        self.drain()
        self._stop.set()
        self._slot.close()
        self._thread.join(timeout=5.0)
        self.backend.close()

    def stats(self) -> dict:
        return {"sent": self.sent, "dropped": self.dropped, "errors": self.errors}


class VirtualCamera:
    """A pyvirtualcam camera (v4l2loopback on Linux, or the file test back-end) taking RGB frames."""

    def __init__(self, size: tuple[int, int], fps: float, device: str | None = None, backend: str | None = None) -> None:
        try:
            import pyvirtualcam
        except ImportError as error:
            raise VideoOutError(f"pyvirtualcam is not installed ({error}); pip install -r requirements.lock") from None
        register_file_backend()
        try:
            self._camera = pyvirtualcam.Camera(size[0], size[1], fps, fmt=pyvirtualcam.PixelFormat.RGB,
                                               device=device or None, backend=backend)
        except RuntimeError as error:
            raise VideoOutError(f"virtual camera {device or '(any)'}: {error} (load v4l2loopback: sudo modprobe "
                                "v4l2loopback exclusive_caps=1 card_label=installation; see docs/venue-outputs.md)") from None
        self.device = self._camera.device
        log.info("virtual camera %s: %dx%d at %g fps", self.device, size[0], size[1], fps)

    def send(self, rgb: np.ndarray, alpha: np.ndarray | None) -> None:
        self._camera.send(rgb)  # a v4l2 camera has no alpha: the matte is for NDI

    def close(self) -> None:
        self._camera.close()


class _FileCameraBackend:
    """pyvirtualcam's back-end interface writing a lossless FFV1 video: the virtual camera with no
    kernel module, for tests and for checking what a receiver would get. ``device`` is the path."""

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw) -> None:
        if not device:
            raise RuntimeError("the file back-end needs device=PATH.mkv")
        self._path = device
        self._writer = cv2.VideoWriter(device, cv2.VideoWriter_fourcc(*"FFV1"), fps, (width, height))
        if not self._writer.isOpened():
            raise RuntimeError(f"cannot write {device}")
        self._shape = (height, width, 3)

    def send(self, frame: np.ndarray) -> None:
        self._writer.write(cv2.cvtColor(frame.reshape(self._shape), cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        self._writer.release()

    def device(self) -> str:
        return self._path

    def native_fourcc(self) -> int | None:
        return None


def register_file_backend() -> None:
    """Make the file back-end known to pyvirtualcam (once)."""
    import pyvirtualcam

    if FILE_BACKEND not in pyvirtualcam.camera.BACKENDS:
        pyvirtualcam.register_backend(FILE_BACKEND, _FileCameraBackend)


def open_sender(target: VideoTarget, size: tuple[int, int], fps: float, ndi_name: str) -> VideoSender:
    """Open ``target`` for frames of ``size`` at ``fps``. Raises VideoOutError naming what is missing."""
    if target.kind == "ndi":
        from installation.outputs.ndi import NdiSender  # the NDI runtime loads only when asked for

        return VideoSender(f"ndi:{target.where or ndi_name}", NdiSender(target.where or ndi_name, size, fps))
    if target.kind == "file":
        return VideoSender(f"file:{target.where}", VirtualCamera(size, fps, target.where, backend=FILE_BACKEND))
    return VideoSender(f"virtualcam:{target.where or 'auto'}", VirtualCamera(size, fps, target.where or None,
                                                                             backend="v4l2loopback"))


class VideoOutDisplay:
    """Wraps a Display: shows as it does, then offers the composed picture to every sender.

    ``matte`` (optional) returns the person matte (H, W) uint8 for the frame, sent as alpha where a
    target carries alpha (NDI)."""

    def __init__(self, display, senders: list[VideoSender], matte: Callable[[], np.ndarray | None] | None = None) -> None:
        self.display, self.senders, self.matte = display, senders, matte
        self.compositor = display.compositor  # app.py reads the screen's size from it

    def show(self, image_rgb: np.ndarray, hud, recording: bool = False):
        commands = self.display.show(image_rgb, hud, recording)
        picture = getattr(self.display, "picture", None)
        if picture is None:  # a single window: read its composed surface back (one copy, the senders' own)
            from installation.outputs.multi_display import surface_pixels

            picture = surface_pixels(self.display.compositor.surface)
        alpha = self.matte() if self.matte is not None else None
        for sender in self.senders:
            sender.offer(picture, alpha)
        return commands

    def pace(self, idle: Callable[[float], None], wall: Callable[[], float]) -> None:
        self.display.pace(idle, wall)

    def close(self) -> None:
        for sender in self.senders:
            sender.close()
        self.display.close()

    def stats(self) -> dict:
        """Per target: frames sent, dropped (a slow receiver) and failed sends."""
        return {sender.name: sender.stats() for sender in self.senders}
