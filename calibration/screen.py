"""Camera to screen: crop, mirror/flip, then a homography, so "the hand is over this part of the
screen" is true.

Coordinate spaces, all normalised (x to the right, y down, 0..1 across):
- camera: the source frame, where landmarks live (after the source's own ``source.mirror``).
- view: the camera image cropped to ``crop`` (x0, y0, x1, y1 of the camera image), then
  mirrored left-right (``mirror``) and/or upside-down (``flip``) inside that rectangle.
- screen: the output picture. ``homography`` maps view to screen.

``ScreenMapping.apply`` goes camera -> screen in one 3x3 product (``matrix``). Fitting takes
camera points, so a pairs file never depends on the crop or mirror chosen.

A point-pairs file (for ``calibrate screen --pairs FILE``) is CSV or TOML:

    # CSV: a header, then one pair a line; normalised unless --units pixels
    cam_x,cam_y,screen_x,screen_y
    0.212,0.187,0.1,0.1

    # TOML
    units = "pixels"            # or "normalised" (the default)
    camera_size = [1280, 720]   # needed for pixels
    screen_size = [1920, 1080]
    pairs = [[271.4, 134.6, 192, 108], ...]
"""

from __future__ import annotations

import csv
import logging
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from calibration.errors import CalibrationError
from calibration.lens import Matrix3

log = logging.getLogger(__name__)

IDENTITY: Matrix3 = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
FULL_FRAME = (0.0, 0.0, 1.0, 1.0)
MIN_PAIRS = 4
PAIR_COLUMNS = ("cam_x", "cam_y", "screen_x", "screen_y")
MAX_CONDITION = 1e10  # beyond this a homography is numerically singular (it flattens the plane)


@dataclass(frozen=True)
class ScreenMapping:
    """Camera (normalised) to screen (normalised): crop, then mirror/flip, then ``homography``.

    ``homography`` is row-major 3x3 from view to screen. Tuples, so equality is exact.
    """

    mirror: bool = False
    flip: bool = False
    crop: tuple[float, float, float, float] = FULL_FRAME
    homography: Matrix3 = IDENTITY

    @cached_property
    def view_matrix(self) -> np.ndarray:
        """(3, 3) affine camera -> view: the crop rectangle stretched to 0..1, then mirror/flip."""
        x0, y0, x1, y1 = self.crop
        sx, sy = 1.0 / (x1 - x0), 1.0 / (y1 - y0)
        crop = np.array([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy], [0.0, 0.0, 1.0]])
        turn = np.diag([-1.0 if self.mirror else 1.0, -1.0 if self.flip else 1.0, 1.0])
        turn[0, 2], turn[1, 2] = float(self.mirror), float(self.flip)  # u -> 1 - u
        return turn @ crop

    @cached_property
    def matrix(self) -> np.ndarray:
        """(3, 3) camera -> screen: the homography after the crop and mirror (computed once)."""
        return np.array(self.homography, dtype=np.float64) @ self.view_matrix

    def apply(self, points: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Map (N, 2) or (N, k) camera points to the screen: columns 0, 1 change, others are kept.

        Returns ``out`` (an array shaped like ``points``) when given, else a new float64 array.
        """
        return _project(self.matrix, points, out)

    @cached_property
    def inverse(self) -> np.ndarray:
        """(3, 3) screen -> camera (computed once)."""
        return np.linalg.inv(self.matrix)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """The inverse: (N, k) screen points to camera points (for drawing screen zones on the camera)."""
        return _project(self.inverse, points, None)


@dataclass(frozen=True)
class ScreenFit:
    """A fitted mapping and how well it reproduces the pairs, in pixels of ``screen_size``.

    ``errors_px`` holds each pair's distance between its screen point and its mapped camera point;
    ``inliers`` marks the pairs the fit used (all of them unless RANSAC rejected some).
    """

    mapping: ScreenMapping
    max_error_px: float
    rms_error_px: float
    errors_px: tuple[float, ...]
    inliers: tuple[bool, ...]
    screen_size: tuple[int, int]


@dataclass(frozen=True)
class PointPairs:
    """Corresponding points, (N, 2) each, normalised: camera image and screen."""

    camera: np.ndarray
    screen: np.ndarray
    screen_size: tuple[int, int] | None = None


def fit_homography(camera_points: np.ndarray, screen_points: np.ndarray,
                   screen_size: tuple[int, int] = (1920, 1080), *, mirror: bool = False, flip: bool = False,
                   crop: tuple[float, float, float, float] = FULL_FRAME, ransac_px: float | None = None) -> ScreenFit:
    """Fit the view -> screen homography to >= 4 normalised point pairs (least squares, or RANSAC
    with ``ransac_px`` as the inlier threshold in screen pixels).

    Returns the ScreenFit (the max error is over the inliers). Raises CalibrationError for fewer
    than 4 pairs, non-finite values, points on one line, or a singular or folding result.
    """
    camera = _pairs_array(camera_points, "camera")
    screen = _pairs_array(screen_points, "screen")
    if len(camera) != len(screen):
        raise CalibrationError(f"{len(camera)} camera points but {len(screen)} screen points")
    if len(camera) < MIN_PAIRS:
        raise CalibrationError(f"a homography needs at least {MIN_PAIRS} point pairs, got {len(camera)}")
    base = ScreenMapping(mirror, flip, crop)
    view = _project(base.view_matrix, camera, None)
    scale = np.array([[1.0 / screen_size[0], 0, 0], [0, 1.0 / screen_size[1], 0], [0, 0, 1.0]])
    screen_px = screen * np.asarray(screen_size, dtype=np.float64)
    _check_spread(view, "camera")
    _check_spread(screen_px, "screen")
    # fit in screen pixels: least squares then weighs x and y as the error is measured
    method, threshold = (cv2.RANSAC, ransac_px) if ransac_px else (0, 3.0)
    h_px, mask = cv2.findHomography(view, screen_px, method, threshold)
    if h_px is None or not np.all(np.isfinite(h_px)):
        raise CalibrationError("no homography fits these point pairs (are the points in general position?)")
    homography = scale @ h_px
    homography /= homography[2, 2] if abs(homography[2, 2]) > 1e-12 else 1.0
    _check_homography(homography, view)
    errors = np.linalg.norm(_project(h_px, view, None) - screen_px, axis=1)
    inliers = mask.ravel().astype(bool) if mask is not None else np.ones(len(view), bool)
    mapping = ScreenMapping(mirror, flip, tuple(float(v) for v in crop),
                            tuple(tuple(float(v) for v in row) for row in homography))
    if inliers.sum() < MIN_PAIRS:
        raise CalibrationError(f"only {int(inliers.sum())} pairs agree within {threshold:g} px; "
                               "check the pairs or raise --ransac")
    kept = errors[inliers]
    log.info("homography from %d pairs (%d inliers): max error %.3f px", len(view), int(inliers.sum()), kept.max())
    return ScreenFit(mapping, float(kept.max()), float(np.sqrt(np.mean(kept ** 2))),
                     tuple(float(e) for e in errors), tuple(bool(i) for i in inliers),
                     (int(screen_size[0]), int(screen_size[1])))


def load_point_pairs(path: Path, units: str | None = None, camera_size: tuple[int, int] | None = None,
                     screen_size: tuple[int, int] | None = None) -> PointPairs:
    """Read a CSV or TOML point-pairs file (see the module docstring); returns normalised pairs.

    ``units`` ("normalised" | "pixels") and the sizes override the file's. Raises CalibrationError.
    """
    if not path.is_file():
        raise CalibrationError(f"point-pairs file not found: {path}")
    if path.suffix.lower() == ".toml":
        rows, settings = _read_pairs_toml(path)
    else:
        rows, settings = _read_pairs_csv(path), {}
    units = units or settings.get("units", "normalised")
    camera_size = camera_size or settings.get("camera_size")
    screen_size = screen_size or settings.get("screen_size")
    if units not in ("normalised", "pixels"):
        raise CalibrationError(f"{path}: units = {units!r}: expected 'normalised' or 'pixels'")
    values = np.array(rows, dtype=np.float64).reshape(-1, 4)
    if not np.all(np.isfinite(values)):
        row = int(np.argwhere(~np.isfinite(values))[0][0])
        raise CalibrationError(f"{path}: pair {row + 1} = {rows[row]!r}: expected finite numbers")
    if units == "pixels":
        if camera_size is None or screen_size is None:
            raise CalibrationError(f"{path}: pixel pairs need camera_size and screen_size "
                                   "(in the TOML file, or --camera-size and --screen-size)")
        values = values / np.array([*camera_size, *screen_size], dtype=np.float64)
    elif np.abs(values).max() > 2.0:
        raise CalibrationError(f"{path}: a value of {np.abs(values).max():g} is not normalised (0..1); "
                               "for pixels give units = 'pixels' with the sizes (or --units pixels)")
    return PointPairs(values[:, :2], values[:, 2:], tuple(screen_size) if screen_size else None)


def write_pairs_csv(path: Path, camera: np.ndarray, screen: np.ndarray) -> None:
    """Write normalised pairs as a CSV pairs file (readable by ``load_point_pairs``)."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(PAIR_COLUMNS)
        for (cx, cy), (sx, sy) in zip(np.asarray(camera), np.asarray(screen)):
            writer.writerow([repr(float(v)) for v in (cx, cy, sx, sy)])


def _read_pairs_csv(path: Path) -> list[list[float]]:
    rows = []
    with path.open(newline="", encoding="utf-8") as file:
        for number, row in enumerate(csv.reader(file), start=1):
            cells = [cell.strip() for cell in row]
            if not cells or not any(cells) or cells[0].startswith("#"):
                continue
            if [c.lower() for c in cells] == list(PAIR_COLUMNS):
                continue
            try:
                if len(cells) != 4:
                    raise ValueError
                rows.append([float(cell) for cell in cells])
            except ValueError:
                raise CalibrationError(f"{path}: line {number} = {','.join(row)!r}: expected four numbers "
                                       f"({', '.join(PAIR_COLUMNS)})") from None
    return rows


def _read_pairs_toml(path: Path) -> tuple[list[list[float]], dict]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CalibrationError(f"{path}: not valid TOML: {error}") from None
    known = ("units", "camera_size", "screen_size", "pairs")
    for key in data:
        if key not in known:
            raise CalibrationError(f"{path}: unknown key '{key}' (expected one of: {', '.join(known)})")
    pairs = data.get("pairs", [])
    good = isinstance(pairs, list) and all(
        isinstance(p, list) and len(p) == 4 and all(_is_number(v) for v in p) for p in pairs)
    if not good:
        raise CalibrationError(f"{path}: pairs = {pairs!r}: expected an array of [cam_x, cam_y, screen_x, screen_y]")
    settings = {}
    for key in ("camera_size", "screen_size"):
        if key in data:
            size = data[key]
            if not (isinstance(size, list) and len(size) == 2 and all(_is_number(v) and v > 0 for v in size)):
                raise CalibrationError(f"{path}: {key} = {size!r}: expected [width, height] in pixels")
            settings[key] = (size[0], size[1])
    if "units" in data:
        settings["units"] = data["units"]
    return pairs, settings


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _pairs_array(points: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise CalibrationError(f"{what} points must be an (N, 2) array, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise CalibrationError(f"{what} points must be finite, got {array[~np.isfinite(array).all(axis=1)][0]!r}")
    return array


def _check_spread(points: np.ndarray, what: str) -> None:
    """Raise CalibrationError when the points are (nearly) on one line, or three of four are."""
    centred = points - points.mean(axis=0)
    spread = np.linalg.svd(centred, compute_uv=False)
    if spread[0] == 0 or spread[1] < 1e-3 * spread[0]:
        raise CalibrationError(f"the {what} points are all on one line (or the same point); "
                               "spread them over the picture")
    if len(points) == MIN_PAIRS:  # exactly determined: any collinear triple makes it singular
        extent = float(np.ptp(points, axis=0).max())
        for skip in range(MIN_PAIRS):
            a, b, c = np.delete(points, skip, axis=0)
            area = abs(float(np.cross(b - a, c - a))) / 2.0
            if area < 1e-3 * extent * extent:
                raise CalibrationError(f"three of the four {what} points are on one line; "
                                       "place the four near the corners of a quadrilateral")


def _check_homography(homography: np.ndarray, view: np.ndarray) -> None:
    if not np.all(np.isfinite(homography)) or np.linalg.cond(homography) > MAX_CONDITION:
        raise CalibrationError("the fitted homography is singular: the point pairs do not span a plane")
    w = homography[2, 0] * view[:, 0] + homography[2, 1] * view[:, 1] + homography[2, 2]
    if not (np.all(w > 0) or np.all(w < 0)):
        raise CalibrationError("the fitted homography folds the picture over (points on both sides of its "
                               "horizon): a pair is probably swapped or mistyped")


def _project(matrix: np.ndarray, points: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    points = np.asarray(points)
    if out is None:
        out = np.array(points, dtype=np.float64, copy=True)
    elif out is not points:
        out[...] = points
    x, y = points[:, 0].copy(), points[:, 1].copy()  # out may be points: keep the inputs
    w = matrix[2, 0] * x + matrix[2, 1] * y + matrix[2, 2]
    out[:, 0] = (matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2]) / w
    out[:, 1] = (matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2]) / w
    return out


def homography_error_px(matrix: np.ndarray, camera: np.ndarray, screen: np.ndarray,
                        screen_size: tuple[int, int]) -> np.ndarray:
    """Per-pair distance in screen pixels between ``matrix`` applied to camera points and the screen points."""
    mapped = _project(matrix, np.asarray(camera, dtype=np.float64), None)
    return np.linalg.norm((mapped - screen) * np.asarray(screen_size, dtype=np.float64), axis=1)

