"""Camera-to-screen homographies, point-pairs files, zones, the venue file, the interactive picker
(under SDL's dummy driver) and ``main.py calibrate screen|show|check``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.errors import CalibrationError
from calibration.lens import LensCalibration
from calibration.picker import PairCollector, camera_to_window, marker_positions, pick_pairs, window_to_camera
from calibration.screen import ScreenMapping, fit_homography, homography_error_px, load_point_pairs, write_pairs_csv
from calibration.venue import PeopleSettings, Venue, load_venue, save_venue, update_venue, venue_path
from calibration.zones import Zone

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SCREEN = (1920, 1080)
# where a camera above and to the left of the screen sees its corners (normalised camera image)
SCREEN_IN_CAMERA = np.array([[0.21, 0.14], [0.83, 0.09], [0.92, 0.86], [0.11, 0.88]])
UNIT_SQUARE = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])


@pytest.fixture(scope="module")
def true_h() -> np.ndarray:
    """Camera -> screen, both normalised: a real-looking perspective (a trapezoid, tilted)."""
    return cv2.getPerspectiveTransform(SCREEN_IN_CAMERA.astype(np.float32), UNIT_SQUARE.astype(np.float32))


def project(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(np.asarray(points, np.float64).reshape(-1, 1, 2), h).reshape(-1, 2)


def noisy_pairs(true_h: np.ndarray, noise_px: float = 0.1, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    screen = np.array(marker_positions((4, 3), margin=0.05))
    camera = project(np.linalg.inv(true_h), screen)
    noise = np.random.default_rng(seed).normal(0.0, noise_px, camera.shape) / np.array([1280, 720])
    return camera + noise, screen


def main_py(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SDL_VIDEODRIVER="dummy")
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "main.py"), *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


# --- homography ---------------------------------------------------------------------------------


def test_fitted_homography_maps_noisy_pairs_back_within_half_a_pixel(true_h):
    camera, screen = noisy_pairs(true_h)
    fit = fit_homography(camera, screen, SCREEN)
    assert fit.max_error_px < 0.5 and all(fit.inliers)
    assert np.allclose(homography_error_px(fit.mapping.matrix, camera, screen, SCREEN), fit.errors_px, atol=1e-6)
    # and it is the true mapping: the screen's corners land within 1.5 px of where they belong
    corners = project(fit.mapping.matrix, SCREEN_IN_CAMERA)
    assert np.abs((corners - UNIT_SQUARE) * SCREEN).max() < 1.5
    print(f"homography round trip: max {fit.max_error_px:.3f} px, RMS {fit.rms_error_px:.3f} px on {SCREEN}")


def test_four_exact_pairs_are_reproduced_exactly(true_h):
    fit = fit_homography(SCREEN_IN_CAMERA, UNIT_SQUARE, SCREEN)
    assert fit.max_error_px < 1e-3
    assert np.allclose(fit.mapping.matrix / fit.mapping.matrix[2, 2], true_h / true_h[2, 2], atol=1e-6)


def test_mirror_and_crop_come_before_the_homography(true_h):
    camera, screen = noisy_pairs(true_h, noise_px=0.0)
    crop = (0.05, 0.02, 0.95, 0.97)
    fit = fit_homography(camera, screen, SCREEN, mirror=True, crop=crop)
    mapping = fit.mapping
    assert mapping.mirror and mapping.crop == crop
    assert np.abs(mapping.apply(camera) - screen).max() < 1e-6
    view = mapping.view_matrix @ np.array([0.05, 0.02, 1.0])  # the crop's top-left corner, mirrored
    assert view[:2] == pytest.approx([1.0, 0.0])
    assert np.allclose(mapping.to_camera(screen), camera, atol=1e-9)


def test_apply_maps_x_y_and_keeps_other_columns(true_h):
    mapping = fit_homography(SCREEN_IN_CAMERA, UNIT_SQUARE).mapping
    landmarks = np.array([[0.21, 0.14, -0.3, 0.9], [0.5, 0.5, 0.1, 0.2]])  # x, y, z, visibility
    mapped = mapping.apply(landmarks)
    assert mapped[0, :2] == pytest.approx([0.0, 0.0], abs=1e-6)
    assert np.array_equal(mapped[:, 2:], landmarks[:, 2:])
    out = np.empty_like(landmarks)
    assert mapping.apply(landmarks, out=out) is out and np.array_equal(out, mapped)
    assert np.array_equal(ScreenMapping().apply(landmarks), landmarks)  # the identity mapping


def test_ransac_rejects_a_mistyped_pair(true_h):
    camera, screen = noisy_pairs(true_h)
    camera[4] += 0.05
    fit = fit_homography(camera, screen, SCREEN, ransac_px=3.0)
    assert not fit.inliers[4] and sum(fit.inliers) == len(camera) - 1
    assert fit.max_error_px < 0.5


@pytest.mark.parametrize(
    ("camera", "screen", "message"),
    [
        (SCREEN_IN_CAMERA[:3], UNIT_SQUARE[:3], "at least 4 point pairs, got 3"),
        ([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3], [0.4, 0.4], [0.5, 0.5]], np.r_[UNIT_SQUARE, [[0.5, 0.5]]],
         "camera points are all on one line"),
        ([[0.1, 0.1], [0.5, 0.1], [0.9, 0.1], [0.5, 0.8]], UNIT_SQUARE, "three of the four camera points"),
        (SCREEN_IN_CAMERA, [[0, 0], [1, 0], [1, 0], [0, 1]], "three of the four screen points"),
        ([[0.21, float("nan")], *SCREEN_IN_CAMERA[1:]], UNIT_SQUARE, "camera points must be finite"),
        (SCREEN_IN_CAMERA, UNIT_SQUARE[:, :1], "screen points must be an (N, 2) array"),
        (SCREEN_IN_CAMERA, UNIT_SQUARE[[0, 1, 3, 2]], "folds the picture over"),
    ],
)
def test_bad_point_pairs_are_clear_errors(camera, screen, message):
    with pytest.raises(CalibrationError) as error:
        fit_homography(np.array(camera, dtype=float), np.array(screen, dtype=float))
    assert message in str(error.value)


# --- point-pairs files --------------------------------------------------------------------------


def test_csv_and_pixel_toml_pairs_files_give_the_same_fit(true_h, tmp_path):
    camera, screen = noisy_pairs(true_h)
    write_pairs_csv(tmp_path / "pairs.csv", camera, screen)
    rows = ",\n".join(f"  [{cx * 1280!r}, {cy * 720!r}, {sx * 1920!r}, {sy * 1080!r}]"
                      for (cx, cy), (sx, sy) in zip(camera, screen))
    (tmp_path / "pairs.toml").write_text(
        f'units = "pixels"\ncamera_size = [1280, 720]\nscreen_size = [1920, 1080]\npairs = [\n{rows}\n]\n')
    from_csv = load_point_pairs(tmp_path / "pairs.csv")
    from_toml = load_point_pairs(tmp_path / "pairs.toml")
    assert np.array_equal(from_csv.camera, camera) and np.array_equal(from_csv.screen, screen)
    assert np.allclose(from_toml.camera, camera, atol=1e-12) and from_toml.screen_size == SCREEN
    assert fit_homography(from_toml.camera, from_toml.screen).max_error_px < 0.5


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("p.csv", "cam_x,cam_y,screen_x,screen_y\n0.1,0.2,0.3\n", "line 2 = '0.1,0.2,0.3': expected four numbers"),
        ("p.csv", "0.1,0.2,0.3,x\n", "expected four numbers"),
        ("p.csv", "412,300,0.1,0.1\n", "not normalised"),
        ("p.toml", 'units = "pixels"\npairs = [[1, 2, 3, 4]]\n', "pixel pairs need camera_size and screen_size"),
        ("p.toml", 'units = "inches"\npairs = [[0.1, 0.2, 0.3, 0.4]]\n', "units = 'inches'"),
        ("p.toml", "pairs = [[0.1, 0.2, 0.3]]\n", "pairs = [[0.1, 0.2, 0.3]]: expected an array of"),
        ("p.toml", "pair = []\n", "unknown key 'pair'"),
        ("p.toml", "pairs = [[0.1, 0.2, nan, 0.4]]\n", "pair 1 = [0.1, 0.2, nan, 0.4]: expected finite numbers"),
    ],
)
def test_malformed_pairs_files_are_clear_errors(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(CalibrationError) as error:
        load_point_pairs(path)
    assert message in str(error.value) and str(path) in str(error.value)


# --- zones --------------------------------------------------------------------------------------


def test_zone_contains_points_of_a_concave_polygon():
    notch = Zone("u", ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.6, 1.0), (0.6, 0.4), (0.4, 0.4), (0.4, 1.0), (0.0, 1.0)))
    assert notch.contains(0.2, 0.8) and notch.contains(0.8, 0.8) and notch.contains(0.5, 0.2)
    assert not notch.contains(0.5, 0.8) and not notch.contains(1.5, 0.5) and not notch.contains(-0.1, 0.5)
    inside = notch.contains_points(np.array([[0.2, 0.8, 0.9], [0.5, 0.8, 0.9], [np.nan, 0.5, 0.0]]))
    assert inside.tolist() == [True, False, False]


def test_venue_names_the_zones_holding_a_point():
    venue = load_venue(PROJECT_ROOT / "calibration" / "example.toml")
    assert venue.zones_at(0.5, 0.8) == ("floor",) and venue.zones_at(0.5, 0.2) == ()
    assert venue.zones_at(0.1, 0.5, space="screen") == ("left-panel",)


# --- the venue file -----------------------------------------------------------------------------


@pytest.fixture
def venue(true_h) -> Venue:
    camera, screen = noisy_pairs(true_h)
    rng = np.random.default_rng(3)
    lens = LensCalibration(
        image_size=(1280, 720),
        camera_matrix=((1071.1234567890123, 0.0, 641.3333333333334), (0.0, 1069.9999999999998, 359.1), (0.0, 0.0, 1.0)),
        distortion=tuple(float(v) for v in rng.normal(0, 0.1, 5)), rms_px=0.1 + 1e-17 * 3, board=(9, 6),
        square_mm=24.5, images_used=17, images_skipped=2)
    return Venue(
        lens=lens,
        screen=fit_homography(camera, screen, SCREEN, mirror=True, crop=(0.1, 0.0, 0.9, 1.0)).mapping,
        zones=(Zone("floor", tuple((float(x), float(y)) for x, y in rng.random((5, 2)))),
               Zone("door", ((0.0, 0.0), (0.2, 0.0), (0.1, 1 / 3)), space="screen", role="event")),
        people=PeopleSettings(enabled=True, max_people=3, primary="longest"),
    )


def test_a_venue_round_trips_bit_identically(venue, tmp_path):
    path = tmp_path / "gallery.toml"
    save_venue(venue, path)
    loaded = load_venue(path)
    assert loaded == venue
    assert loaded.screen.matrix.view(np.uint64).tolist() == venue.screen.matrix.view(np.uint64).tolist()
    assert np.array_equal(loaded.lens.dist.view(np.uint64), venue.lens.dist.view(np.uint64))
    save_venue(loaded, tmp_path / "again.toml")
    assert (tmp_path / "again.toml").read_bytes() == path.read_bytes()


def test_an_empty_venue_and_the_example_load(tmp_path):
    (tmp_path / "empty.toml").write_text("")
    assert load_venue(tmp_path / "empty.toml") == Venue()
    example = load_venue(PROJECT_ROOT / "calibration" / "example.toml")
    assert example.lens.rms_px < 0.5 and len(example.zones) == 2 and not example.people.enabled


def test_update_keeps_the_other_tables(venue, tmp_path):
    path = tmp_path / "hall.toml"
    save_venue(venue, path)
    update_venue(path, screen=ScreenMapping(flip=True))
    loaded = load_venue(path)
    assert loaded.screen == ScreenMapping(flip=True)
    assert loaded.lens == venue.lens and loaded.zones == venue.zones and loaded.people == venue.people


def test_venue_names_resolve_into_the_calibration_folder():
    assert venue_path("gallery") == PROJECT_ROOT / "calibration" / "gallery.toml"
    assert venue_path("sites/gallery.toml") == Path("sites/gallery.toml")
    assert venue_path("other.toml") == Path("other.toml")
    with pytest.raises(CalibrationError, match="venue name 'my venue'"):
        venue_path("my venue")


LENS = ('[lens]\nimage_size = [640, 480]\ncamera_matrix = [[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], '
        '[0.0, 0.0, 1.0]]\ndistortion = [0.1, 0.0, 0.0, 0.0, 0.0]\nrms_px = 0.2\n')
ZONE = '[[zones]]\nname = "floor"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[lense]\n", "unknown key 'lense' (expected one of: lens, screen, zones, people, outputs)"),
        (LENS + "focal = 3\n", "unknown key 'lens.focal'"),
        (LENS.replace("rms_px = 0.2", "rms_px = '0.2'"), "lens.rms_px = '0.2': expected a finite number"),
        (LENS.replace("rms_px = 0.2", "rms_px = nan"), "lens.rms_px = nan: expected a finite number"),
        (LENS.replace("[0.0, 0.0, 1.0]]", "]"), "lens.camera_matrix = [[500.0, 0.0, 320.0], [0.0, 500.0, 240.0]]: "
                                                "expected a 3x3 array"),
        (LENS.replace("500.0, 0.0, 320.0", "500.0, 0.0, nan"), "lens.camera_matrix = [[500.0, 0.0, nan]"),
        (LENS.replace("500.0, 0.0, 320.0", "-500.0, 0.0, 320.0"), "with fx, fy > 0"),
        (LENS.replace("0.1, 0.0, 0.0, 0.0, 0.0", "0.1, 0.0"), "lens.distortion = [0.1, 0.0]: expected 4 or 5 or 8"),
        (LENS.replace("rms_px = 0.2\n", ""), "[lens] is missing 'rms_px'"),
        (LENS.replace("[640, 480]", "[640.5, 480]"), "lens.image_size = [640.5, 480]: expected 2 integers"),
        ("[screen]\nhomography = [[1, 2, 3], [2, 4, 6], [0, 0, 1]]\n", "screen.homography = [[1, 2, 3], [2, 4, 6], "
                                                                         "[0, 0, 1]]: expected an invertible 3x3"),
        ("[screen]\nhomography = [[1, 0], [0, 1]]\n", "screen.homography = [[1, 0], [0, 1]]: expected a 3x3 array"),
        ("[screen]\nmirror = 'yes'\n", "screen.mirror = 'yes': expected true or false"),
        ("[screen]\ncrop = [0.5, 0.0, 0.2, 1.0]\n", "screen.crop = [0.5, 0.0, 0.2, 1.0]: expected [x0, y0, x1, y1]"),
        (ZONE + "points = [[0.0, 0.0], [1.0, 0.0]]\n", "zones[1].points = [[0.0, 0.0], [1.0, 0.0]]: expected at "
                                                       "least 3 points"),
        (ZONE + "points = [[0, 0], [640, 0], [640, 480]]\n", "not pixels"),
        (ZONE + "points = [[0, 0], [1, 0], [1, nan]]\n", "zones[1].points[3] = [1, nan]: expected an array of 2"),
        (ZONE + 'space = "floor"\npoints = [[0, 0], [1, 0], [1, 1]]\n', "zones[1].space = 'floor': expected one of "
                                                                         "'camera', 'screen'"),
        (ZONE + "points = [[0, 0], [1, 0], [1, 1]]\n" + ZONE + "points = [[0, 0], [1, 0], [1, 1]]\n",
         "zones.name = 'floor': expected a name used by one zone only"),
        ("[people]\nprimary = 'tallest'\n", "people.primary = 'tallest': expected one of 'closest', 'central', "
                                            "'longest'"),
        ("[people]\nmax_people = 0\n", "people.max_people = 0: expected an integer in 1..32"),
        ("[lens\n", "not valid TOML"),
    ],
)
def test_malformed_venue_files_are_clear_errors(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(CalibrationError) as error:
        load_venue(path)
    assert message in str(error.value)
    assert str(error.value).startswith(str(path))


def test_a_missing_venue_says_how_to_make_one(tmp_path):
    with pytest.raises(CalibrationError, match="venue file not found: .*calibrate lens"):
        load_venue(tmp_path / "nowhere.toml")


# --- the interactive picker ---------------------------------------------------------------------


def test_markers_and_window_coordinates():
    markers = marker_positions((3, 3), margin=0.1)
    assert len(markers) == 9 and markers[0] == (0.1, 0.1) and markers[-1] == pytest.approx((0.9, 0.9))
    with pytest.raises(CalibrationError, match="at least 2x2"):
        marker_positions((1, 4))
    # a 4:3 camera picture in a 16:9 window: black bars left and right
    pixel = camera_to_window((0.25, 0.75), (640, 480), (1600, 900))
    assert window_to_camera(pixel, (640, 480), (1600, 900)) == pytest.approx((0.25, 0.75), abs=1.0 / 900)
    assert window_to_camera((10, 450), (640, 480), (1600, 900)) is None


def test_collector_takes_one_click_per_marker_with_undo(true_h):
    collector = PairCollector(marker_positions((2, 2)))
    collector.click((0.9, 0.9))
    collector.undo()
    for marker in collector.markers:
        collector.click(tuple(project(np.linalg.inv(true_h), [marker])[0]))
    collector.click((0.5, 0.5))  # ignored: every marker has its click
    assert collector.done and len(collector.clicks) == 4
    assert collector.fit(SCREEN).max_error_px < 1e-3


def test_picker_window_collects_scripted_clicks_and_fits(true_h):
    import pygame

    from installation.file_sources import VideoFileSource

    window = (960, 540)
    collector = PairCollector(marker_positions((3, 3)))
    source = VideoFileSource(PROJECT_ROOT / "installation" / "assets" / "demo_asl.mp4", loop=True)
    frame_size = source.frame_size

    def script(frame: int) -> list:
        """One click a frame, where the camera would see the current marker (the demo clip stands in)."""
        if frame == 0 or collector.current is None:
            return []
        seen = project(np.linalg.inv(true_h), [collector.current])[0]
        pos = camera_to_window(tuple(seen), frame_size, window)
        return [pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1)]

    try:
        assert pick_pairs(source, collector, window, script=script, max_frames=60)
    finally:
        source.close()
    assert collector.done
    fit = collector.fit(window)
    corners = project(fit.mapping.matrix, SCREEN_IN_CAMERA)
    # clicks land on whole window pixels: about a pixel of the camera picture
    assert np.abs((corners - UNIT_SQUARE) * window).max() < 6.0
    assert fit.max_error_px < 3.0


def test_picker_escape_cancels():
    import pygame

    from installation.file_sources import VideoFileSource

    source = VideoFileSource(PROJECT_ROOT / "installation" / "assets" / "demo_asl.mp4")
    escape = [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE, mod=0, unicode="\x1b", scancode=41)]
    try:
        assert not pick_pairs(source, PairCollector(marker_positions()), (320, 240),
                              script=lambda frame: escape if frame == 2 else [], max_frames=30)
    finally:
        source.close()


# --- the command line ---------------------------------------------------------------------------


def test_cli_screen_fits_saves_shows_and_checks(true_h, tmp_path):
    camera, screen = noisy_pairs(true_h)
    write_pairs_csv(tmp_path / "pairs.csv", camera, screen)
    venue_file = tmp_path / "hall.toml"
    result = main_py("calibrate", "screen", "--pairs", str(tmp_path / "pairs.csv"), "--out", str(venue_file),
                     "--mirror", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["max_error_px"] < 0.5 and report["pairs"] == 12 and report["saved"] == str(venue_file)
    saved = load_venue(venue_file).screen
    assert saved.mirror and homography_error_px(saved.matrix, camera, screen, SCREEN).max() < 0.5

    shown = main_py("calibrate", "show", str(venue_file))
    assert shown.returncode == 0 and "screen: mirror on" in shown.stdout and "lens: none" in shown.stdout
    checked = main_py("calibrate", "check", str(venue_file))
    assert checked.returncode == 0 and "ok (screen, 0 zones)" in checked.stdout


def test_cli_check_of_a_bad_venue_is_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[people]\nprimary = 'tallest'\n")
    result = main_py("calibrate", "check", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {path}: people.primary = 'tallest': expected one of 'closest', 'central', 'longest'"]
