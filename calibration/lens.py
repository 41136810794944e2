"""Lens calibration: camera intrinsics and distortion from photos of a chessboard, and undoing it.

    lens = calibrate_lens(sorted(Path("shots").glob("*.jpg")), board=(9, 6))
    undistort = Undistorter(lens, frame_size=(1280, 720))   # maps computed once
    straight = undistort(frame, out=buffer)                  # per frame: one remap, no allocation
    points = undistort_points(landmarks, lens)               # (N, k) normalised, x and y corrected

Pixel convention: OpenCV's, the centre of pixel i is at i. Landmarks are normalised (0..1 of the
image width and height, 0 = the left/top edge), so pixel = normalised * size - 0.5.

The undistorted image keeps the original camera matrix (no rescaling to show the whole warped
field), so it is the same size as the input, and a landmark's normalised position in it means
what it meant before, less the bending.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from calibration.errors import CalibrationError

log = logging.getLogger(__name__)

DEFAULT_BOARD = (9, 6)  # inner corners (columns, rows) of OpenCV's sample chessboard
DEFAULT_SQUARE_MM = 25.0  # the square size recorded when none is given
MIN_IMAGES = 5  # fewer views than this leave the five distortion terms badly constrained
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
_FIND_FLAGS = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK
_SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 1e-3)
_POINTS_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 50, 1e-9)

Matrix3 = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]


@dataclass(frozen=True)
class LensCalibration:
    """A camera's intrinsics for images of ``image_size`` (width, height) pixels.

    ``camera_matrix`` is the 3x3 K (fx, fy, cx, cy in pixels); ``distortion`` OpenCV's
    coefficients (k1, k2, p1, p2, k3); ``rms_px`` the RMS reprojection error of the fit;
    ``board`` the chessboard's inner corners (columns, rows) and ``square_mm`` its square size
    (it scales only the board poses, not K or the distortion). Tuples, so two calibrations
    compare equal exactly when every number is bit-identical.
    """

    image_size: tuple[int, int]
    camera_matrix: Matrix3
    distortion: tuple[float, ...]
    rms_px: float
    board: tuple[int, int] = DEFAULT_BOARD
    square_mm: float = DEFAULT_SQUARE_MM
    images_used: int = 0
    images_skipped: int = 0

    @cached_property
    def k(self) -> np.ndarray:
        """The camera matrix as a (3, 3) float64 array (computed once)."""
        return np.array(self.camera_matrix, dtype=np.float64)

    @cached_property
    def dist(self) -> np.ndarray:
        """The distortion coefficients as a float64 array (computed once)."""
        return np.array(self.distortion, dtype=np.float64)

    def for_size(self, size: tuple[int, int]) -> LensCalibration:
        """The calibration for frames of ``size`` (width, height): K scaled, distortion kept.

        Raises CalibrationError when the aspect ratio differs (another sensor crop: recalibrate).
        """
        width, height = self.image_size
        if tuple(size) == (width, height):
            return self
        sx, sy = size[0] / width, size[1] / height
        if abs(sx / sy - 1.0) > 0.01:
            raise CalibrationError(
                f"the lens was calibrated at {width}x{height} but frames are {size[0]}x{size[1]}: "
                "a different aspect ratio is a different sensor crop; calibrate at this size")
        k = self.k.copy()
        k[0, :] *= sx  # fx, skew, cx
        k[1, :] *= sy
        k[0, 2] += 0.5 * sx - 0.5  # pixel centres: (c + 0.5) * s - 0.5
        k[1, 2] += 0.5 * sy - 0.5
        return replace(self, image_size=(int(size[0]), int(size[1])), camera_matrix=_matrix3(k))

    def mirrored(self) -> LensCalibration:
        """The calibration of the left-right flipped image (a mirrored source's frames).

        Raises CalibrationError for thin-prism or tilted models (more than 8 coefficients).
        """
        if len(self.distortion) > 8:
            raise CalibrationError("cannot mirror a lens model with thin-prism or tilt terms")
        k = self.k.copy()
        k[0, 2] = self.image_size[0] - 1 - k[0, 2]
        k[0, 1] = -k[0, 1]
        dist = list(self.distortion)
        dist[3] = -dist[3]  # p2 multiplies x: x -> -x flips its sign; radial terms are symmetric
        return replace(self, camera_matrix=_matrix3(k), distortion=tuple(dist))


@dataclass(frozen=True)
class BoardDetections:
    """Chessboard corners found in a set of images: what ``solve_lens`` needs.

    ``corners`` holds one (cols*rows, 1, 2) float32 array of sub-pixel corners per used image,
    in row order; ``used`` and ``skipped`` are the image paths with and without a board.
    """

    board: tuple[int, int]
    image_size: tuple[int, int]
    corners: tuple[np.ndarray, ...]
    used: tuple[Path, ...]
    skipped: tuple[Path, ...]


def find_images(folder: Path) -> list[Path]:
    """The image files in ``folder``, sorted by name. Raises CalibrationError when there are none."""
    if not folder.is_dir():
        raise CalibrationError(f"image folder not found: {folder}")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise CalibrationError(f"no images in {folder} (expected {', '.join(sorted(IMAGE_SUFFIXES))} files)")
    return images


def find_board(gray: np.ndarray, board: tuple[int, int]) -> np.ndarray | None:
    """The board's inner corners in a grey image, refined to sub-pixel; None when not found."""
    found, corners = cv2.findChessboardCorners(gray, board, flags=_FIND_FLAGS)
    if not found:
        return None
    # the refinement window must stay inside one square, or it snaps to a neighbouring corner
    spacing = float(np.min(np.linalg.norm(np.diff(corners.reshape(board[1], board[0], 2), axis=1), axis=2)))
    half = int(np.clip(spacing / 3.0, 2, 11))
    return cv2.cornerSubPix(gray, corners, (half, half), (-1, -1), _SUBPIX_CRITERIA)


def detect_boards(images: list[Path], board: tuple[int, int] = DEFAULT_BOARD) -> BoardDetections:
    """Find the board in each image; images without it (or unreadable) are skipped and logged.

    Raises CalibrationError when images with the board differ in size.
    """
    _check_board(board)
    corners, used, skipped, size = [], [], [], None
    for path in images:
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            log.warning("skipped %s: not a readable image", path.name)
            skipped.append(path)
            continue
        found = find_board(gray, board)
        if found is None:
            log.info("skipped %s: no %dx%d board found", path.name, *board)
            skipped.append(path)
            continue
        image_size = (gray.shape[1], gray.shape[0])
        if size is not None and image_size != size:
            raise CalibrationError(
                f"{path}: {image_size[0]}x{image_size[1]} but the first image with the board is "
                f"{size[0]}x{size[1]}; calibrate with images of one size")
        size = image_size
        corners.append(found)
        used.append(path)
    return BoardDetections(board, size or (0, 0), tuple(corners), tuple(used), tuple(skipped))


def solve_lens(found: BoardDetections, square_mm: float = DEFAULT_SQUARE_MM) -> LensCalibration:
    """Solve K and the distortion from the detected corners (cv2.calibrateCamera).

    Raises CalibrationError when fewer than MIN_IMAGES images have the board.
    """
    total = len(found.used) + len(found.skipped)
    if len(found.used) < MIN_IMAGES:
        raise CalibrationError(
            f"the {found.board[0]}x{found.board[1]} board was found in {len(found.used)} of {total} images; "
            f"at least {MIN_IMAGES} are needed (check --board counts inner corners, columns x rows, "
            "and photograph the whole board from several angles)")
    if not square_mm > 0:
        raise CalibrationError(f"square size must be a positive number of millimetres, got {square_mm!r}")
    cols, rows = found.board
    board_points = np.zeros((cols * rows, 3), np.float32)
    board_points[:, :2] = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2) * square_mm
    rms, k, dist, _, _ = cv2.calibrateCamera(
        [board_points] * len(found.corners), list(found.corners), found.image_size, None, None)
    if not np.all(np.isfinite(k)) or not np.all(np.isfinite(dist)):
        raise CalibrationError("the lens calibration did not converge (non-finite result); use more varied views")
    log.info("lens: RMS %.3f px from %d images (%d skipped)", rms, len(found.used), len(found.skipped))
    return LensCalibration(
        image_size=found.image_size, camera_matrix=_matrix3(k),
        distortion=tuple(float(v) for v in dist.ravel()), rms_px=float(rms), board=found.board,
        square_mm=float(square_mm), images_used=len(found.used), images_skipped=len(found.skipped))


def calibrate_lens(images: list[Path], board: tuple[int, int] = DEFAULT_BOARD,
                   square_mm: float = DEFAULT_SQUARE_MM) -> LensCalibration:
    """Calibrate from photos of a chessboard with ``board`` inner corners (columns, rows).

    Returns the LensCalibration; raises CalibrationError when too few images show the board.
    """
    return solve_lens(detect_boards(images, board), square_mm)


class Undistorter:
    """Undoes a lens's distortion on frames of one size; the remap tables are built once.

    ``undistort(frame, out=buffer)`` remaps into ``buffer`` (same shape and dtype as the frame)
    and returns it, allocating nothing; without ``out`` it returns a new array.
    """

    def __init__(self, lens: LensCalibration, frame_size: tuple[int, int] | None = None) -> None:
        self.lens = lens.for_size(frame_size) if frame_size is not None else lens
        self.frame_size = self.lens.image_size
        # fixed-point maps: about twice as fast to remap with as float maps
        self._map1, self._map2 = cv2.initUndistortRectifyMap(
            self.lens.k, self.lens.dist, None, self.lens.k, self.frame_size, cv2.CV_16SC2)

    def __call__(self, frame: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The undistorted frame (``out`` when given). Raises CalibrationError for another size."""
        if (frame.shape[1], frame.shape[0]) != self.frame_size:
            raise CalibrationError(
                f"frame is {frame.shape[1]}x{frame.shape[0]}, the undistorter was built for "
                f"{self.frame_size[0]}x{self.frame_size[1]}")
        return cv2.remap(frame, self._map1, self._map2, cv2.INTER_LINEAR, dst=out,
                         borderMode=cv2.BORDER_CONSTANT)


def undistort_points(points: np.ndarray, lens: LensCalibration, mirrored: bool = False) -> np.ndarray:
    """Landmarks (N, k) with x, y normalised to the image, as they lie in the undistorted image.

    Columns 0 and 1 are corrected, any others (z, visibility) are copied. ``mirrored``: the points
    come from a left-right flipped frame. Returns a new float64 array; NaN stays NaN.
    """
    lens = lens.mirrored() if mirrored else lens
    points = np.asarray(points, dtype=np.float64)
    out = points.copy()
    if len(points) == 0:
        return out
    size = np.array(lens.image_size, dtype=np.float64)
    pixels = (points[:, :2] * size - 0.5).reshape(-1, 1, 2)
    # the iterative solver: the plain one stops after 5 steps, short of sub-pixel at the corners
    fixed = cv2.undistortPointsIter(pixels, lens.k, lens.dist, None, lens.k, _POINTS_CRITERIA)
    out[:, :2] = (fixed.reshape(-1, 2) + 0.5) / size
    return out


def row_straightness_px(corners: np.ndarray, board: tuple[int, int]) -> float:
    """The largest distance (pixels) of a corner from the straight line fitted to its board row."""
    rows = np.asarray(corners, dtype=np.float64).reshape(board[1], board[0], 2)
    worst = 0.0
    for row in rows:
        centred = row - row.mean(axis=0)
        normal = np.linalg.svd(centred)[2][1]  # total least squares: the smaller principal axis
        worst = max(worst, float(np.abs(centred @ normal).max()))
    return worst


def _check_board(board: tuple[int, int]) -> None:
    if len(board) != 2 or min(board) < 3:
        raise CalibrationError(f"board must be inner corners COLSxROWS, each at least 3, got {board!r}")
    if board[0] == board[1]:
        # a square board has no orientation: its corners can come back in rotated order
        raise CalibrationError(f"board {board[0]}x{board[1]} is square; use a board with unequal sides")


def _matrix3(k: np.ndarray) -> Matrix3:
    return tuple(tuple(float(v) for v in row) for row in np.asarray(k, dtype=np.float64).reshape(3, 3))
