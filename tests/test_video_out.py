"""Video out: the virtual camera (its file test back-end, or a real v4l2loopback device where
the kernel has one) read back with OpenCV, NDI loopback, and a slow receiver that drops frames
without holding up the loop."""

from __future__ import annotations

import glob
import threading

import cv2
import numpy as np
import pytest

from installation.config import SourceConfig
from installation.errors import SourceError
from installation.outputs.video_out import FILE_BACKEND, VideoOutError, VideoSender, VideoTarget, VirtualCamera, parse_target
from installation.sources import SourceSpec, is_live, open_source, parse_source_spec, spec_from_config

SIZE = (96, 64)  # (width, height)


def _frames(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, (SIZE[1], SIZE[0], 3), np.uint8) for _ in range(count)]


def _read_all(capture: cv2.VideoCapture) -> list[np.ndarray]:
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


def test_parse_targets():
    assert parse_target("virtualcam") == VideoTarget("virtualcam", "")
    assert parse_target("virtualcam:/dev/video10") == VideoTarget("virtualcam", "/dev/video10")
    assert parse_target("ndi:wall") == VideoTarget("ndi", "wall")
    with pytest.raises(VideoOutError, match="expected virtualcam"):
        parse_target("rtmp://x")


def test_virtual_camera_test_backend_reads_back_every_frame_exactly(tmp_path):
    path = tmp_path / "virtualcam.mkv"
    sender = VideoSender("file", VirtualCamera(SIZE, 30.0, str(path), backend=FILE_BACKEND))
    rendered = _frames(12)
    for frame in rendered:
        sender.offer(frame)
        assert sender.drain()  # one at a time: here every frame must arrive, none dropped
    sender.close()
    assert sender.stats() == {"sent": 12, "dropped": 0, "errors": 0}
    got = _read_all(cv2.VideoCapture(str(path)))
    assert len(got) == len(rendered)
    for sent, received in zip(rendered, got):
        np.testing.assert_array_equal(received, sent)


def _loopback_device() -> str | None:
    for device in sorted(glob.glob("/dev/video*")):
        try:
            with open(f"/sys/class/video4linux/{device.rsplit('/', 1)[1]}/name") as name:
                label = name.read().lower()
            if "loopback" in label or "installation" in label:
                return device
        except OSError:
            continue
    return None


@pytest.mark.skipif(_loopback_device() is None,
                    reason="no v4l2loopback device (needs the kernel module: sudo modprobe v4l2loopback "
                           "exclusive_caps=1 card_label=installation; containers have no /lib/modules)")
def test_v4l2loopback_device_reads_back():
    device = _loopback_device()
    camera = VirtualCamera(SIZE, 30.0, device, backend="v4l2loopback")
    capture = cv2.VideoCapture(device, cv2.CAP_V4L2)
    rendered = _frames(5)
    got = []
    for frame in rendered:  # v4l2loopback keeps only the newest buffer: read each before the next
        camera.send(frame, None)
        ok, image = capture.read()
        assert ok
        got.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    camera.close()
    capture.release()
    assert len(got) == len(rendered)
    for sent, received in zip(rendered, got):  # v4l2loopback carries YUYV/I420: chroma is subsampled
        assert np.abs(received.astype(int) - sent).mean() < 40


class _SlowReceiver:
    """A back-end that holds each send until the test lets it go: a receiver slower than the loop."""

    def __init__(self) -> None:
        self.entered, self.release, self.received = threading.Event(), threading.Event(), []

    def send(self, rgb, alpha) -> None:
        self.entered.set()
        self.release.wait()
        self.release.clear()
        self.received.append(int(rgb[0, 0, 0]))

    def close(self) -> None:
        pass


def test_slow_receiver_drops_frames_and_never_blocks_the_loop():
    receiver = _SlowReceiver()
    sender = VideoSender("slow", receiver)
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(10)]
    sender.offer(frames[0])
    assert receiver.entered.wait(5.0)  # the receiver is now busy with frame 0
    for frame in frames[1:]:
        sender.offer(frame)  # returns at once although nothing is taken: 8 are overwritten
    assert sender.dropped == 8
    receiver.release.set()
    while len(receiver.received) < 2:
        receiver.release.set()
        sender.drain(0.1)
    sender.close()
    assert receiver.received == [0, 9]  # the newest frame wins
    assert sender.stats() == {"sent": 2, "dropped": 8, "errors": 0}


class _Broken:
    def send(self, rgb, alpha) -> None:
        raise OSError("device unplugged")

    def close(self) -> None:
        pass


def test_failing_target_is_counted_then_given_up():
    from installation.outputs.video_out import MAX_CONSECUTIVE_ERRORS

    sender = VideoSender("broken", _Broken())
    for _ in range(MAX_CONSECUTIVE_ERRORS):
        sender.offer(np.zeros((2, 2, 3), np.uint8))
        sender.drain()
    assert sender.errors == MAX_CONSECUTIVE_ERRORS and not sender.alive
    sender.offer(np.zeros((2, 2, 3), np.uint8))  # still returns at once
    sender.close()


def _ndi_runtime() -> str | None:
    """Why NDI cannot be tested here, or None when it can."""
    try:
        import NDIlib
    except ImportError as error:
        return f"ndi-python is not installed ({error})"
    return None if NDIlib.initialize() else "the NDI runtime does not start on this CPU"


@pytest.mark.skipif(_ndi_runtime() is not None, reason=str(_ndi_runtime()))
def test_ndi_loopback_send_and_receive_through_source_ndi():
    from installation.outputs.ndi import NdiSender

    sender = VideoSender("ndi", NdiSender("installation-test", SIZE, 30.0))
    picture = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    picture[:, :, 0] = np.linspace(0, 255, SIZE[0], dtype=np.uint8)[None, :]
    picture[: SIZE[1] // 2, :, 1] = 200
    sender.offer(picture)
    sender.drain()
    # mDNS does not cross this test's loopback: the finder asks 127.0.0.1 directly
    holder = {}
    spec, config = parse_source_spec("ndi:installation-test"), SourceConfig(ndi_extra_ips="127.0.0.1", mirror=False)
    opener = threading.Thread(target=lambda: holder.setdefault("source", open_source(spec, config, clock=None)))
    opener.start()
    while opener.is_alive():  # the receiver connects only while frames flow: keep sending
        sender.offer(picture)
        sender.drain()
        opener.join(0.05)
    source = holder["source"]
    frame = source.read()
    source.close()
    sender.close()
    assert source.frame_size == SIZE
    received = cv2.cvtColor(frame.image_bgr, cv2.COLOR_BGR2RGB)
    # NDI's SpeedHQ codec is lossy: a few code values off, never a different picture
    assert np.abs(received.astype(int) - picture).mean() < 2.0
    assert np.abs(received.astype(int) - picture).max() <= 16


def test_an_ndi_source_is_live_and_named_after_ndi_colon():
    assert parse_source_spec("ndi:Wall (Resolume)") == SourceSpec("ndi", "Wall (Resolume)")
    assert is_live("ndi") and is_live("camera") and not is_live("video")
    with pytest.raises(SourceError, match="needs source.path"):
        spec_from_config(SourceConfig(kind="ndi"))
