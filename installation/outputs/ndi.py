"""NDI video out and in, through ndi-python (whose wheel carries NewTek's libndi runtime).

Out: ``NdiSender`` is a video_out back-end; it sends RGBX, or RGBA when a person matte comes as
alpha, at the picture's size and rate. In: ``NdiSource`` is a Source (``--source ndi:NAME``) that
receives on its own thread into a newest-wins slot, like the camera.

Discovery is mDNS. Where multicast does not reach (a VLAN, a container, loopback in a test), list
the sender's machine in ``extra_ips`` ("127.0.0.1", "192.168.1.20"): the finder asks it directly.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from installation.contracts import Frame
from installation.errors import InstallationError
from installation.live_sources import NewestFrameSource
from installation.outputs.video_out import VideoOutError
from installation.slots import NewestSlot

log = logging.getLogger(__name__)

_init_lock = threading.Lock()
_initialised = False


class NdiSourceError(InstallationError):
    """The NDI source named cannot be found or sends nothing."""


def _ndi():
    """The NDIlib module, initialised once. Raises VideoOutError when the runtime is missing."""
    global _initialised
    try:
        import NDIlib
    except ImportError as error:
        raise VideoOutError(f"NDI needs ndi-python ({error}); pip install -r requirements.lock") from None
    with _init_lock:
        if not _initialised:
            if not NDIlib.initialize():
                raise VideoOutError("the NDI runtime does not start on this CPU (it needs SSE4.2)")
            _initialised = True
    return NDIlib


class NdiSender:
    """An NDI source called ``name`` sending frames of ``size`` (width, height) at ``fps``."""

    def __init__(self, name: str, size: tuple[int, int], fps: float) -> None:
        ndi = self._ndi = _ndi()
        settings = ndi.SendCreate()
        settings.ndi_name = name
        settings.clock_video = False  # the loop sets the pace; the runtime must not sleep to its own clock
        self._sender = ndi.send_create(settings)
        if self._sender is None:
            raise VideoOutError(f"NDI source {name!r} cannot be created (name taken on this machine?)")
        self._frame = ndi.VideoFrameV2()
        self._frame.frame_rate_N, self._frame.frame_rate_D = round(fps * 1000), 1000
        width, height = size
        self._rgba = np.empty((height, width, 4), np.uint8)  # allocated once, filled each frame
        self.name = name
        log.info("NDI source %s: %dx%d at %g fps", name, width, height, fps)

    def send(self, rgb: np.ndarray, alpha: np.ndarray | None) -> None:
        ndi = self._ndi
        self._rgba[:, :, :3] = rgb
        self._rgba[:, :, 3] = 255 if alpha is None else alpha
        self._frame.data = self._rgba
        self._frame.FourCC = ndi.FOURCC_VIDEO_TYPE_RGBX if alpha is None else ndi.FOURCC_VIDEO_TYPE_RGBA
        ndi.send_send_video_v2(self._sender, self._frame)  # synchronous: the runtime has copied the pixels on return

    def close(self) -> None:
        self._ndi.send_destroy(self._sender)


class NdiSource(NewestFrameSource):
    """Frames of the NDI source ``name`` (as listed by NDI tools: "MACHINE (name)", or just the
    part in brackets). Opening waits up to ``timeout_s`` for the source and its first frame."""

    def __init__(self, name: str, extra_ips: str = "", timeout_s: float = 10.0, mirror: bool = False) -> None:
        ndi = self._ndi = _ndi()
        self.mirror = mirror
        source = self._find(name, extra_ips, timeout_s)
        settings = ndi.RecvCreateV3()
        settings.color_format = ndi.RECV_COLOR_FORMAT_BGRX_BGRA  # OpenCV's order, no conversion here
        self._receiver = ndi.recv_create_v3(settings)
        ndi.recv_connect(self._receiver, source)
        self.description = f"NDI {source.ndi_name}"
        self._slot: NewestSlot[Frame] = NewestSlot()
        self._stop = threading.Event()
        self._index = 0
        self.fps = 30.0
        first = self._receive(timeout_s)
        if first is None:
            ndi.recv_destroy(self._receiver)
            raise NdiSourceError(f"NDI source {source.ndi_name} sent no video within {timeout_s:g} s")
        self.frame_size = (first.image_bgr.shape[1], first.image_bgr.shape[0])
        self._slot.put(first)
        self._thread = threading.Thread(target=self._receive_forever, name="ndi-receiver", daemon=True)
        self._thread.start()

    def _find(self, name: str, extra_ips: str, timeout_s: float):
        ndi = self._ndi
        settings = ndi.FindCreate()
        settings.show_local_sources = True
        if extra_ips:
            settings.extra_ips = extra_ips
        finder = ndi.find_create_v2(settings)
        try:
            waited_ms = 0
            while waited_ms < timeout_s * 1000:
                ndi.find_wait_for_sources(finder, 500)  # returns early when the list changes
                waited_ms += 500
                for source in ndi.find_get_current_sources(finder):
                    if source.ndi_name == name or source.ndi_name.endswith(f"({name})"):
                        return source
            seen = ", ".join(s.ndi_name for s in ndi.find_get_current_sources(finder)) or "none"
        finally:
            ndi.find_destroy(finder)
        raise NdiSourceError(f"NDI source {name!r} not found in {timeout_s:g} s (seen: {seen}); if it is on another "
                             "subnet or multicast is blocked, name its machine in source.ndi_extra_ips")

    def _receive(self, timeout_s: float) -> Frame | None:
        """The next video frame, or None when none came within ``timeout_s``."""
        ndi = self._ndi
        while True:  # connection and status news come first, as frames of their own: skip them
            kind, video, audio, metadata = ndi.recv_capture_v2(self._receiver, round(timeout_s * 1000))
            if kind == ndi.FRAME_TYPE_VIDEO:
                break
            if kind == ndi.FRAME_TYPE_AUDIO:
                ndi.recv_free_audio_v2(self._receiver, audio)
            elif kind == ndi.FRAME_TYPE_METADATA:
                ndi.recv_free_metadata(self._receiver, metadata)
            elif kind in (ndi.FRAME_TYPE_NONE, ndi.FRAME_TYPE_ERROR):  # nothing within the timeout, or gone
                return None
        try:
            image = np.ascontiguousarray(video.data[:, :, :3])  # (H, W, 3) BGR, our copy: the runtime's is freed
            # the sender's timestamp is in 100 ns units of its own clock; the loop wants seconds
            stamp_s = video.timestamp / 1e7
            if video.frame_rate_D:
                self.fps = video.frame_rate_N / video.frame_rate_D
        finally:
            ndi.recv_free_video_v2(self._receiver, video)
        if self.mirror:
            image = image[:, ::-1].copy()
        frame = Frame(self._index, stamp_s, stamp_s, image, mirrored=self.mirror)
        self._index += 1
        return frame

    def _receive_forever(self) -> None:
        while not self._stop.is_set():
            frame = self._receive(0.5)
            if frame is not None:
                self._slot.put(frame)

    def close(self) -> None:
        self._stop.set()
        self._slot.close()
        self._thread.join(timeout=2.0)
        self._ndi.recv_destroy(self._receiver)
