"""Digests of the pictures a run draws, for comparing a live run with its replay bit for bit."""

from __future__ import annotations

import hashlib

import pytest

from installation.telemetry import Telemetry


def shown_frames(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Digests of the pictures every run from now on draws, one per frame, in order (a list the
    caller reads and clears between runs)."""
    digests: list[str] = []
    rendered = Telemetry.rendered

    def keep(self, wall_now, latent, image, latency_ms):
        digests.append(hashlib.sha256(image.tobytes()).hexdigest())
        rendered(self, wall_now, latent, image, latency_ms)

    monkeypatch.setattr(Telemetry, "rendered", keep)
    return digests
