"""Two projectors with a 10 % overlap: blend ramps that sum to one in light, warps that put the
corners where the venue file says, the same code the window runs (headless back-end)."""

from __future__ import annotations

import tomllib

import cv2
import numpy as np
import pytest

from calibration.errors import CalibrationError
from calibration.venue import dumps_venue, venue_from_dict
from installation.outputs.blend import decode, encode, s_curve
from installation.outputs.layout import Layout
from installation.outputs.multi_display import LayoutDisplay, LayoutSinks
from installation.test_pattern import alignment_grid

VENUE = """
[[outputs]]
name = "left"
crop = [0.0, 0.0, 0.55, 1.0]
size = [352, 360]
corners = [[0.02, 0.03], [0.97, 0.0], [1.0, 0.96], [0.0, 1.0]]

[[outputs]]
name = "right"
crop = [0.45, 0.0, 1.0, 1.0]
size = [352, 360]
at = [352, 0]
corners = [[0.0, 0.0], [1.0, 0.04], [0.95, 1.0], [0.03, 0.97]]
"""


@pytest.fixture
def venue():
    return venue_from_dict(tomllib.loads(VENUE), "test.toml")


def test_s_curve_halves_add_to_one():
    t = np.linspace(0.0, 1.0, 101)
    for curve in (1.0, 2.0, 3.5):
        np.testing.assert_allclose(s_curve(t, curve) + s_curve(1.0 - t, curve), 1.0, atol=1e-12)


def _unwarped(venue):
    """The same outputs without keystone, so the two frames' pixels line up with the picture's."""
    from dataclasses import replace

    from installation.outputs.warp import IDENTITY_CORNERS

    return Layout(tuple(replace(spec, corners=IDENTITY_CORNERS) for spec in venue.outputs))


def test_blend_ramps_sum_to_one_in_linear_light(venue):
    layout = _unwarped(venue)
    assert layout.picture_size == (640, 360)
    left, right = layout.renderers
    overlap_px = round(0.10 * 640)  # picture columns 288..351 shown by both
    share_left = left.weights[:, -overlap_px:]
    share_right = right.weights[:, :overlap_px]
    np.testing.assert_allclose(share_left + share_right, 1.0, atol=1e-9)
    assert share_left[0, 0] > 0.99 and share_left[0, -1] < 0.01  # a real ramp across the whole strip


@pytest.mark.parametrize("grey", [255, 180, 96])
def test_rendered_overlap_emits_the_picture_light(venue, grey):
    """8-bit frames of a flat picture: the light of both projectors, added in linear light and
    encoded again, is the picture's value within 1/255 everywhere in the overlap."""
    layout = _unwarped(venue)
    picture = np.full((360, 640, 3), grey, np.uint8)
    left_frame, right_frame = (frame.copy() for frame in layout.render(picture))
    overlap_px = round(0.10 * 640)
    light = decode(left_frame[:, -overlap_px:]) + decode(right_frame[:, :overlap_px])
    error = np.abs(encode(light) - grey) / 255.0
    assert error.max() <= 1.0 / 255.0, f"worst {error.max() * 255:.2f}/255"
    assert (left_frame[:, :288] == grey).all() and (right_frame[:, overlap_px:] == grey).all()  # untouched outside


def test_warp_corners_land_where_the_venue_file_says(venue):
    layout = Layout(venue.outputs)
    white = np.full((360, 640, 3), 255, np.uint8)
    for spec, frame in zip(venue.outputs, layout.render(white)):
        lit = (frame[:, :, 0] > 0).astype(np.uint8)  # the blend darkens one edge, but never to 0
        contours, _ = cv2.findContours(lit, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        outline = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64) + 0.5  # pixel centres -> edges
        expected = np.array(spec.corners) * spec.size
        for corner in expected:
            nearest = outline[np.argmin(np.linalg.norm(outline - corner, axis=1))]
            assert np.linalg.norm(nearest - corner) <= 1.0, (spec.name, corner, nearest)


def test_headless_display_writes_each_output(tmp_path, venue):
    layout = Layout(venue.outputs)
    display = LayoutDisplay(layout, "stretch", LayoutSinks(layout, str(tmp_path), 30.0))
    pattern = np.ascontiguousarray(alignment_grid(360)[:, :, :])
    for _ in range(3):
        display.show(pattern, None)
    display.close()
    for spec in venue.outputs:
        files = sorted((tmp_path / spec.name).glob("*.png"))
        assert len(files) == 3
        assert cv2.imread(str(files[0])).shape == (spec.size[1], spec.size[0], 3)


def test_venue_outputs_round_trip_and_errors(venue):
    assert venue_from_dict(tomllib.loads(dumps_venue(venue))) == venue
    bad = tomllib.loads(VENUE)
    bad["outputs"][0]["crop"] = [0.6, 0.0, 0.5, 1.0]
    with pytest.raises(CalibrationError, match=r"outputs\[1\]\.crop"):
        venue_from_dict(bad, "test.toml")
    bad = tomllib.loads(VENUE)
    bad["outputs"][1]["keystone"] = 1
    with pytest.raises(CalibrationError, match="unknown key 'keystone'"):
        venue_from_dict(bad, "test.toml")


def test_calibrate_outputs_moves_a_corner_and_saves(tmp_path):
    from installation.outputs.calibrate import run_calibration

    path = tmp_path / "venue.toml"
    path.write_text(VENUE)
    before = venue_from_dict(tomllib.loads(VENUE)).outputs[1]
    after = run_calibration(path, ["tab", "2", "right", "right", "shift+down", "s"]).outputs[1]
    moved_px = (np.array(after.corners[1]) - np.array(before.corners[1])) * after.size
    np.testing.assert_allclose(moved_px, [2.0, 10.0], atol=1e-9)
    assert after.corners[0] == before.corners[0]
