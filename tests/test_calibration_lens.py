"""Lens calibration on OpenCV's sample chessboard photos (9x6 inner corners), undistortion, and
``main.py calibrate lens`` as a person runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.errors import CalibrationError
from calibration.lens import (
    LensCalibration,
    Undistorter,
    calibrate_lens,
    detect_boards,
    find_board,
    row_straightness_px,
    solve_lens,
    undistort_points,
)
from calibration.venue import Venue, load_venue, save_venue
from calibration.zones import Zone

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BOARD = (9, 6)


@pytest.fixture(scope="module")
def chessboard(media) -> list[Path]:
    images = sorted((media / "calibration" / "chessboard").glob("*.jpg"))
    if len(images) < 10:
        pytest.skip("chessboard photos not found")
    return images


@pytest.fixture(scope="module")
def detections(chessboard):
    return detect_boards(chessboard, BOARD)


@pytest.fixture(scope="module")
def lens(detections) -> LensCalibration:
    return solve_lens(detections)


def main_py(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SDL_VIDEODRIVER="dummy")
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "main.py"), *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_calibration_on_the_sample_chessboard_is_sub_half_pixel(lens, chessboard):
    assert lens.rms_px < 0.5
    assert lens.images_used == len(chessboard) and lens.images_skipped == 0
    assert lens.image_size == (640, 480) and lens.board == BOARD
    k = lens.k
    assert 500 < k[0, 0] < 570 and abs(k[0, 0] - k[1, 1]) < 5  # square pixels
    assert abs(k[0, 2] - 320) < 40 and abs(k[1, 2] - 240) < 40
    assert lens.distortion[0] < -0.1  # the sample camera has strong barrel distortion


def test_undistorted_board_rows_are_straight_within_a_pixel(lens, chessboard):
    undistort = Undistorter(lens)
    before, after = [], []
    for path in chessboard:
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        before.append(row_straightness_px(find_board(gray, BOARD), BOARD))
        corners = find_board(undistort(gray), BOARD)
        assert corners is not None, f"board lost after undistorting {path.name}"
        after.append(row_straightness_px(corners, BOARD))
    assert max(after) < 1.0, after
    assert max(before) > 2.0  # the distortion was real: rows bowed by more than 2 px
    print(f"row straightness, max over {len(after)} images: {max(before):.2f} px photographed, "
          f"{max(after):.2f} px undistorted (mean {np.mean(before):.2f} -> {np.mean(after):.2f})")


def test_undistort_points_matches_the_undistorted_image(lens, chessboard):
    gray = cv2.imread(str(chessboard[2]), cv2.IMREAD_GRAYSCALE)
    corners = find_board(gray, BOARD).reshape(-1, 2)
    in_image = find_board(Undistorter(lens)(gray), BOARD).reshape(-1, 2)
    size = np.array(lens.image_size, dtype=np.float64)
    landmarks = np.column_stack([(corners + 0.5) / size, np.full(len(corners), 0.7)])  # x, y, visibility
    moved = undistort_points(landmarks, lens)
    assert moved.shape == landmarks.shape and np.all(moved[:, 2] == 0.7)
    assert np.abs(moved[:, :2] * size - 0.5 - in_image).max() < 0.5


def test_mirrored_points_undistort_like_the_mirrored_image(lens):
    points = np.array([[0.1, 0.1], [0.8, 0.3], [0.5, 0.5], [0.95, 0.9]])
    straight = undistort_points(points, lens)
    flipped = points.copy()
    flipped[:, 0] = 1.0 - flipped[:, 0]
    mirrored = undistort_points(flipped, lens, mirrored=True)
    assert np.allclose(1.0 - mirrored[:, 0], straight[:, 0], atol=1e-9)
    assert np.allclose(mirrored[:, 1], straight[:, 1], atol=1e-9)


def test_undistorter_writes_into_the_given_buffer_and_checks_the_size(lens, chessboard):
    undistort = Undistorter(lens)
    image = cv2.imread(str(chessboard[0]))
    buffer = np.empty_like(image)
    assert undistort(image, out=buffer) is buffer
    assert np.array_equal(buffer, undistort(image))
    with pytest.raises(CalibrationError, match="640x480"):
        undistort(image[:240])


def test_a_lens_scales_to_frames_of_the_same_aspect_only(lens):
    double = lens.for_size((1280, 960))
    assert double.image_size == (1280, 960)
    assert double.k[0, 0] == pytest.approx(2 * lens.k[0, 0])
    assert double.k[0, 2] == pytest.approx(2 * lens.k[0, 2] + 0.5)
    assert double.distortion == lens.distortion
    with pytest.raises(CalibrationError, match="aspect ratio"):
        lens.for_size((1280, 720))


def test_too_few_boards_is_a_clear_error(chessboard, media):
    no_boards = sorted((media / "images" / "pose").glob("*.jpg"))
    with pytest.raises(CalibrationError, match=r"found in 3 of \d+ images; at least 5 are needed"):
        calibrate_lens(chessboard[:3] + no_boards, BOARD)
    with pytest.raises(CalibrationError, match="square"):
        calibrate_lens(chessboard, (6, 6))


def test_cli_lens_json_reports_rms_under_half_a_pixel(chessboard):
    result = main_py("calibrate", "lens", "--images", str(chessboard[0].parent), "--board", "9x6", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rms"] < 0.5
    assert report["images_used"] == len(chessboard) and report["images_skipped"] == []
    assert report["row_straightness_px"]["after"] < 1.0 < report["row_straightness_px"]["before"]
    assert report["saved"] is None


def test_cli_lens_saves_into_a_venue_keeping_its_other_tables(chessboard, tmp_path):
    venue_file = tmp_path / "hall.toml"
    save_venue(Venue(zones=(Zone("floor", ((0.0, 0.5), (1.0, 0.5), (0.5, 1.0))),)), venue_file)
    result = main_py("calibrate", "lens", "--images", str(chessboard[0].parent), "--out", str(venue_file))
    assert result.returncode == 0, result.stderr
    assert "RMS reprojection error" in result.stdout and f"saved [lens] in {venue_file}" in result.stdout
    venue = load_venue(venue_file)
    assert venue.lens is not None and venue.lens.rms_px < 0.5
    assert [zone.name for zone in venue.zones] == ["floor"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--images", "/no/such/folder"], "image folder not found: /no/such/folder"),
        (["--images", "{chessboard}", "--board", "9by6"], "--board '9by6': expected COLSxROWS"),
        (["--images", "{chessboard}", "--board", "0x6"], "--board '0x6': expected COLSxROWS"),
        (["--images", "{chessboard}", "--square-mm", "-3"], "--square-mm '-3': expected a positive number"),
        (["--images", "{empty}"], "no images in"),
        (["--images", "{no_boards}"], "board was found in 0 of 3 images"),
    ],
)
def test_cli_lens_bad_arguments_give_one_line(arguments, message, chessboard, media, tmp_path):
    (tmp_path / "empty").mkdir()
    no_boards = tmp_path / "no_boards"
    no_boards.mkdir()
    for photo in sorted((media / "images" / "pose").glob("*.jpg"))[:3]:
        shutil.copy(photo, no_boards)
    folders = {"chessboard": chessboard[0].parent, "empty": tmp_path / "empty", "no_boards": no_boards}
    arguments = [a.format(**folders) for a in arguments]
    error = one_line_error(main_py("calibrate", "lens", *arguments))
    assert message in error
