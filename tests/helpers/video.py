"""Real clips for tests: read a clip's frames, and join stretches of clips into a new one."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_frames(path: Path, limit: int | None = None) -> list[np.ndarray]:
    """The clip's BGR frames in order (at most ``limit``)."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while limit is None or len(frames) < limit:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames


def join_clips(out: Path, stretches: list[tuple[Path, int]], size: tuple[int, int] = (640, 480),
               fps: float = 30.0) -> Path:
    """Write the first ``count`` frames of each clip in turn, resized to ``size``, as one MP4."""
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for path, count in stretches:
        for image in read_frames(path, count):
            writer.write(cv2.resize(image, size))
    writer.release()
    return out
