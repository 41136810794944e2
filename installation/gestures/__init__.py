"""Gestures: built-in hand shapes, body poses and movements, gestures and continuous mappings
taught by demonstration, and the event layer that turns them into start / hold / end events.

    recognizer = GestureRecognizer.from_config(config.gestures, image_aspect, mirrored)
    events = recognizer.update(body, t)          # once per frame, media time t
    values = recognizer.mapping("bloom").predict_named(features.as_dict())

Modules: normalise (invariant descriptors), hand_shapes / body_poses / motion (built-ins),
knn / dtw / continuous (learning), events (the event layer), model / store / training /
recording (examples, models, files), evaluate and cli (the command line). docs/gestures.md has
the thresholds and file formats.

The names below are imported on first use, so ``installation.config`` can import
``installation.gestures.config`` without pulling in the rest (which imports it back).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ContinuousMapping": "installation.gestures.continuous",
    "GestureError": "installation.gestures.errors",
    "GestureEvent": "installation.gestures.events",
    "GestureFileError": "installation.gestures.errors",
    "GestureRecognizer": "installation.gestures.recognizer",
    "GesturesConfig": "installation.gestures.config",
    "Phase": "installation.gestures.events",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'installation.gestures' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
