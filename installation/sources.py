"""Where frames come from: a camera, a video file, a folder of images, or an NDI stream.

This module owns what every source offers (``Source``) and what to open (``SourceSpec``, parsed
from ``--source`` or the configuration) and opens it (``open_source``). The sources themselves:
``installation.file_sources`` (video file, image folder), ``installation.live_sources`` (camera,
real-time playback of a recording), ``installation.outputs.ndi`` (NDI).

Two ways to read:
- ``read()`` returns the next frame in order and blocks until it exists (None = end of media).
  Replay uses it: every frame is processed, stamped with the media's own time.
- ``latest()`` returns the newest frame not yet returned, or None, and never blocks. The live
  loop uses it, so it always works on the freshest picture. A camera is read by a grabber thread
  that keeps only the newest frame: OpenCV's own queue would otherwise hand out frames hundreds
  of milliseconds old.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from installation.clock import Clock
from installation.config import PROJECT_ROOT, SourceConfig
from installation.contracts import Frame
from installation.errors import SourceError
from installation.file_sources import ImageFolderSource, VideoFileSource
from installation.live_sources import CameraSource
from installation.live_sources import RealtimePlayback as RealtimePlayback  # re-exported for installation/app.py

DEMO_CLIP = PROJECT_ROOT / "installation" / "assets" / "demo_asl.mp4"


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
    target: int | str


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


def _open_ndi(name: str, config: SourceConfig) -> Source:
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


def open_source(spec: SourceSpec, config: SourceConfig, clock: Clock) -> Source:
    """Open a camera, video file or image folder. Raises SourceError with a one-line reason."""
    if spec.kind == "camera":
        return CameraSource(spec.target, config, clock)
    if spec.kind == "images":
        return ImageFolderSource(Path(str(spec.target)), config, clock)
    if spec.kind == "ndi":
        return _open_ndi(str(spec.target), config)
    return VideoFileSource(Path(str(spec.target)), loop=config.loop, mirror=config.mirror, clock=clock)
