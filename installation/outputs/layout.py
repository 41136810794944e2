"""Several outputs from one picture: each shows its crop, soft-edged where it overlaps a
neighbour, then warped to its projector (``[[outputs]]`` tables of the venue file).

    layout = Layout(venue.outputs)             # ramps and warp maps computed here, once
    frames = layout.render(picture_rgb)        # picture (H, W, 3) at layout.picture_size -> one frame each

The venue's tables (calibration/README.md):

    [[outputs]]
    name = "left"
    crop = [0.0, 0.0, 0.55, 1.0]     # x0, y0, x1, y1 of the picture, 0..1
    size = [1920, 1080]              # the projector's pixels
    at = [0, 0]                      # top-left in the spanning window, pixels
    corners = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]   # keystone, see warp.py
    gamma = 2.2                      # the projector's response, for the blend
    blend_curve = 2.0                # the ramp's shape, see blend.py
    # mesh = [[[x, y], ...], ...]    # optional ROWS x COLS grid, see warp.py

Overlaps are not written down: two outputs whose crops share a strip blend across all of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from calibration.errors import CalibrationError
from installation.outputs.blend import DEFAULT_CURVE, DEFAULT_GAMMA, Overlap, apply_blend, encoded_multiplier, linear_weights
from installation.outputs.warp import IDENTITY_CORNERS, Warp

OUTPUT_KEYS = ("name", "crop", "size", "at", "corners", "gamma", "blend_curve", "mesh")


@dataclass(frozen=True)
class OutputSpec:
    """One projector or screen: what part of the picture it shows and how it is warped."""

    name: str
    crop: tuple[float, float, float, float]  # x0, y0, x1, y1 of the picture, normalised
    size: tuple[int, int]  # (width, height) pixels
    at: tuple[int, int] = (0, 0)  # top-left in the spanning window, pixels
    corners: tuple[tuple[float, float], ...] = IDENTITY_CORNERS  # TL, TR, BR, BL, normalised
    gamma: float = DEFAULT_GAMMA
    blend_curve: float = DEFAULT_CURVE
    mesh: tuple | None = None  # (rows, cols) of (x, y), normalised; None = no mesh


def overlaps_of(spec: OutputSpec, others: tuple[OutputSpec, ...]) -> tuple[Overlap, ...]:
    """The strips ``spec`` shares with its neighbours: along x with outputs beside it (their crops
    share rows), along y with those above or below it (sharing columns)."""
    x0, y0, x1, y1 = spec.crop
    strips = []
    for other in others:
        if other.name == spec.name:
            continue
        ox0, oy0, ox1, oy1 = other.crop
        if min(y1, oy1) > max(y0, oy0):  # side by side
            if x0 < ox0 < x1 < ox1:  # the neighbour starts inside us: we fade out
                strips.append(Overlap("x", ox0, x1, rising=False))
            elif ox0 < x0 < ox1 < x1:  # the neighbour ends inside us: we fade in
                strips.append(Overlap("x", x0, ox1, rising=True))
        if min(x1, ox1) > max(x0, ox0):  # one above the other
            if y0 < oy0 < y1 < oy1:
                strips.append(Overlap("y", oy0, y1, rising=False))
            elif oy0 < y0 < oy1 < y1:
                strips.append(Overlap("y", y0, oy1, rising=True))
    return tuple(strips)


class OutputRenderer:
    """One output's frames: crop, scale, blend, warp, into buffers allocated here."""

    def __init__(self, spec: OutputSpec, overlaps: tuple[Overlap, ...]) -> None:
        self.spec, self.overlaps = spec, overlaps
        width, height = spec.size
        self.weights = linear_weights(spec.crop, spec.size, overlaps, spec.blend_curve)  # (H, W) linear light
        self._multiplier = encoded_multiplier(self.weights, spec.gamma) if overlaps else None
        self.warp = Warp(spec.size, spec.corners, spec.mesh)
        self._scaled = np.empty((height, width, 3), np.uint8)
        self._scratch = np.empty((height, width, 3), np.float32)
        self._blended = np.empty((height, width, 3), np.uint8)
        self.frame = np.zeros((height, width, 3), np.uint8)  # the last rendered frame

    def render(self, picture_rgb: np.ndarray) -> np.ndarray:
        """This output's (H, W, 3) RGB frame of ``picture_rgb``; the same buffer every call."""
        height, width = picture_rgb.shape[:2]
        x0, y0, x1, y1 = self.spec.crop
        region = picture_rgb[round(y0 * height):round(y1 * height), round(x0 * width):round(x1 * width)]
        if region.shape[:2] == self._scaled.shape[:2]:
            np.copyto(self._scaled, region)
        else:
            cv2.resize(region, self.spec.size, dst=self._scaled, interpolation=cv2.INTER_AREA)
        blended = self._scaled
        if self._multiplier is not None:
            blended = apply_blend(self._scaled, self._multiplier, self._scratch, self._blended)
        return self.warp.apply(blended, self.frame)


class Layout:
    """All outputs of a venue. ``picture_size`` is the size at which every output shows its crop
    pixel for pixel (the widest demand wins), so the compositor draws the picture at that size."""

    def __init__(self, specs: tuple[OutputSpec, ...]) -> None:
        if not specs:
            raise CalibrationError("a layout needs at least one [[outputs]] table")
        self.specs = specs
        self.renderers = [OutputRenderer(spec, overlaps_of(spec, specs)) for spec in specs]
        self.picture_size = (max(round(s.size[0] / (s.crop[2] - s.crop[0])) for s in specs),
                             max(round(s.size[1] / (s.crop[3] - s.crop[1])) for s in specs))
        self.window_size = (max(s.at[0] + s.size[0] for s in specs), max(s.at[1] + s.size[1] for s in specs))

    def render(self, picture_rgb: np.ndarray) -> list[np.ndarray]:
        """Each output's frame of ``picture_rgb`` (H, W, 3), in the venue file's order."""
        return [renderer.render(picture_rgb) for renderer in self.renderers]

    def compose_window(self, frames: list[np.ndarray], out: np.ndarray) -> np.ndarray:
        """The frames placed at their ``at`` in one (H, W, 3) spanning-window image ``out``."""
        for spec, frame in zip(self.specs, frames):
            x, y = spec.at
            out[y:y + spec.size[1], x:x + spec.size[0]] = frame
        return out


def outputs_from_tables(tables: object, source: str) -> tuple[OutputSpec, ...]:
    """Validate the venue file's ``[[outputs]]`` tables. Returns OutputSpecs; raises
    CalibrationError naming the file, the key, the value and what was expected."""
    if not isinstance(tables, list):
        raise CalibrationError(f"{source}: outputs = {tables!r}: expected an array of tables ([[outputs]])")
    specs = tuple(_output(table, f"{source}: outputs[{number}]") for number, table in enumerate(tables, start=1))
    names = [spec.name for spec in specs]
    for name in names:
        if names.count(name) > 1:
            raise CalibrationError(f"{source}: outputs.name = {name!r}: expected a name used by one output only")
    return specs


def _output(table: object, where: str) -> OutputSpec:
    def fail(key: str, value: object, expected: str) -> CalibrationError:
        return CalibrationError(f"{where}.{key} = {value!r}: expected {expected}")

    if not isinstance(table, dict):
        raise CalibrationError(f"{where} = {table!r}: expected a table with name, crop and size")
    for key in table:
        if key not in OUTPUT_KEYS:
            raise CalibrationError(f"{where}: unknown key '{key}' (expected one of: {', '.join(OUTPUT_KEYS)})")
    for key in ("name", "crop", "size"):
        if key not in table:
            raise CalibrationError(f"{where} is missing '{key}'")
    if not isinstance(table["name"], str) or not table["name"]:
        raise fail("name", table["name"], "a non-empty string")
    crop = _numbers(table["crop"], 4)
    if crop is None or not (0.0 <= crop[0] < crop[2] <= 1.0 and 0.0 <= crop[1] < crop[3] <= 1.0):
        raise fail("crop", table["crop"], "[x0, y0, x1, y1] with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
    size = _integers(table["size"], low=16)
    if size is None:
        raise fail("size", table["size"], "[width, height], integers of at least 16")
    at = _integers(table.get("at", [0, 0]), low=0)
    if at is None:
        raise fail("at", table.get("at"), "[x, y], integers of at least 0")
    corners = table.get("corners", [list(c) for c in IDENTITY_CORNERS])
    points = [_numbers(c, 2) for c in corners] if isinstance(corners, list) and len(corners) == 4 else None
    if points is None or any(p is None or not all(-1.0 <= v <= 2.0 for v in p) for p in points):
        raise fail("corners", corners, "4 points [[x, y], ...] (top-left, top-right, bottom-right, bottom-left), "
                                       "normalised 0..1 of the output")
    gamma = table.get("gamma", DEFAULT_GAMMA)
    curve = table.get("blend_curve", DEFAULT_CURVE)
    for key, value, low, high in (("gamma", gamma, 1.0, 4.0), ("blend_curve", curve, 1.0, 8.0)):
        if _numbers([value], 1) is None or not low <= value <= high:
            raise fail(key, value, f"a number in {low:g}..{high:g}")
    return OutputSpec(name=table["name"], crop=crop, size=size, at=at, corners=tuple(points), gamma=float(gamma),
                      blend_curve=float(curve), mesh=_mesh(table.get("mesh"), fail))


def _mesh(mesh: object, fail) -> tuple | None:
    if mesh is None:
        return None
    rows = mesh if isinstance(mesh, list) and len(mesh) >= 2 else None
    grid = [[_numbers(p, 2) for p in row] if isinstance(row, list) else [None] for row in rows or []]
    width = len(grid[0]) if grid else 0
    if rows is None or width < 2 or any(len(row) != width or None in row for row in grid):
        raise fail("mesh", mesh, "a grid of at least 2 x 2 points [[[x, y], ...], ...], every row as long")
    return tuple(tuple(row) for row in grid)


def _numbers(value: object, length: int) -> tuple[float, ...] | None:
    ok = isinstance(value, list) and len(value) == length and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value)
    return tuple(float(v) for v in value) if ok else None


def _integers(value: object, low: int) -> tuple[int, int] | None:
    ok = isinstance(value, list) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= low for v in value)
    return (value[0], value[1]) if ok else None


def output_table(spec: OutputSpec) -> dict:
    """``spec`` as the values of its ``[[outputs]]`` table (what the venue file saves)."""
    table = {"name": spec.name, "crop": spec.crop, "size": spec.size, "at": spec.at, "corners": spec.corners,
             "gamma": spec.gamma, "blend_curve": spec.blend_curve}
    if spec.mesh is not None:
        table["mesh"] = spec.mesh
    return table
