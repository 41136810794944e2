"""Real clips for tests: read a clip's frames, and join stretches of clips into a new one."""

from __future__ import annotations

from pathlib import Path

import cv2

from installation.contracts import Frame
from installation.file_sources import clip_frames as read_frames

__all__ = ["join_clips", "mirrored_frames", "read_frames"]


def mirrored_frames(path: Path, limit: int | None = None, fps: float = 30.0) -> list[Frame]:
    """The clip's frames as the runtime's default (mirrored) source hands them over."""
    images = read_frames(path, limit, mirror=True)
    return [Frame(index, index / fps, 0.0, image, True) for index, image in enumerate(images)]


def join_clips(out: Path, stretches: list[tuple[Path, int]], size: tuple[int, int] = (640, 480),
               fps: float = 30.0) -> Path:
    """Write the first ``count`` frames of each clip in turn, resized to ``size``, as one MP4."""
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for path, count in stretches:
        for image in read_frames(path, count):
            writer.write(cv2.resize(image, size))
    writer.release()
    return out
