"""Telemetry's frame rates, from injected wall times (no clock is read)."""

from __future__ import annotations

import numpy as np
import pytest

from installation.telemetry import RECENT_S, Telemetry

LATENT, IMAGE = np.zeros(4, np.float32), np.zeros((2, 2, 3), np.uint8)


def render_at(telemetry: Telemetry, walls) -> None:
    for wall in walls:
        telemetry.rendered(float(wall), LATENT, IMAGE, None)


def test_the_live_frame_rate_shows_a_slowdown_that_the_runs_average_hides():
    telemetry = Telemetry()
    render_at(telemetry, np.arange(0, 600, 1 / 30))  # ten minutes at 30 fps
    assert telemetry.recent_fps == pytest.approx(30, rel=1e-3)
    render_at(telemetry, 600 + np.arange(1, 31) * 0.5)  # then 15 s at 2 fps
    assert telemetry.recent_fps == pytest.approx(2, rel=1e-3)
    assert telemetry.render_fps > 28  # the average since start barely moved (the --stats file's render_fps)


def test_the_live_window_forgets_frames_older_than_its_span():
    telemetry = Telemetry()
    render_at(telemetry, [0.0, 1.0])
    assert telemetry.recent_fps == pytest.approx(1.0)
    render_at(telemetry, [1.0 + RECENT_S + 5, 1.0 + RECENT_S + 5.25])
    assert telemetry.recent_fps == pytest.approx(4.0)  # the two old frames fell out of the window
    assert Telemetry().recent_fps == 0.0
