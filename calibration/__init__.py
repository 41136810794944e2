"""Per-venue camera calibration: lens, camera-to-screen mapping, crop and zones.

Each venue's results are saved as ``calibration/<venue>.toml`` and loaded at start-up. Today the
runtime applies one camera transform, set in ``config.toml``: ``source.mirror`` (a selfie view,
with pose sides swapped so ``LEFT_*`` stays the visitor's own left; see
``installation/perceiver.py``).
"""
