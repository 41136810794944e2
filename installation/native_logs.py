"""Keep MediaPipe's and OpenCV's native log lines off the user's terminal."""

from __future__ import annotations

import os
import sys


def quiet_mediapipe() -> None:
    """Turn MediaPipe's and TensorFlow Lite's C++ start-up chatter down to errors. They read these
    when mediapipe is first imported: call this just before (a value the user set is kept)."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def silence_native_stderr() -> None:
    """C++ code writes log lines straight to file descriptor 2. Point that descriptor at
    /dev/null and keep Python's own ``sys.stderr`` (our logging and errors) on the terminal,
    so a person sees our one-line messages, not the native chatter. Command-line front ends
    call this once at start-up (``-v`` skips it)."""
    try:
        terminal = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")
