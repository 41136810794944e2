"""A venue's calibration file, ``calibration/<venue>.toml``: lens, screen mapping, zones, people.

    venue = load_venue(venue_path("gallery"))       # raises CalibrationError naming file, key, value
    save_venue(dataclasses.replace(venue, lens=lens), venue_path("gallery"))

Every table is optional. Floats are written with ``repr``, so a saved file reads back
bit-identical: ``load_venue(p) == venue`` after ``save_venue(venue, p)``. The format is
documented in calibration/README.md, with a commented example in calibration/example.toml.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from calibration.errors import CalibrationError
from calibration.lens import DEFAULT_BOARD, DEFAULT_SQUARE_MM, LensCalibration
from calibration.screen import FULL_FRAME, IDENTITY, MAX_CONDITION, ScreenMapping
from calibration.zones import ROLES, SPACES, Zone
from installation.outputs.layout import OutputSpec, output_table, outputs_from_tables

log = logging.getLogger(__name__)

CALIBRATION_DIR = Path(__file__).resolve().parent
PRIMARY_POLICIES = ("closest", "central", "longest")
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_DISTORTION_LENGTHS = (4, 5, 8, 12, 14)  # the models OpenCV knows


@dataclass(frozen=True)
class PeopleSettings:
    """Several visitors: tracking on/off, how many at most, and who is the primary participant."""

    enabled: bool = False
    max_people: int = 4
    primary: str = "closest"  # closest | central | longest (present)


@dataclass(frozen=True)
class Venue:
    """Everything calibrated for one venue; a missing table is None (lens, screen) or empty."""

    lens: LensCalibration | None = None
    screen: ScreenMapping | None = None
    zones: tuple[Zone, ...] = ()
    people: PeopleSettings = PeopleSettings()
    outputs: tuple[OutputSpec, ...] = ()  # projectors or screens, blended and warped (installation/outputs)

    def zones_at(self, x: float, y: float, space: str = "camera") -> tuple[str, ...]:
        """Names of the zones of ``space`` that contain (x, y), in file order."""
        return tuple(zone.name for zone in self.zones if zone.space == space and zone.contains(x, y))


def venue_path(name: str) -> Path:
    """``calibration/<name>.toml`` for a venue name; a text with a slash or a .toml suffix is a path.

    Raises CalibrationError for a name with characters other than letters, digits, _ and -.
    """
    if "/" in name or os.sep in name or name.endswith(".toml"):
        return Path(name)
    if not _NAME.fullmatch(name):
        raise CalibrationError(f"venue name {name!r}: expected letters, digits, _ and - (or a path to a .toml file)")
    return CALIBRATION_DIR / f"{name}.toml"


def load_venue(path: Path) -> Venue:
    """Read and validate a venue file. Returns the Venue; raises CalibrationError."""
    if not path.is_file():
        raise CalibrationError(f"venue file not found: {path} (make one with `python main.py calibrate lens|screen "
                               "--venue NAME`, or copy calibration/example.toml)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CalibrationError(f"{path}: not valid TOML: {error}") from None
    return venue_from_dict(data, str(path))


def save_venue(venue: Venue, path: Path) -> None:
    """Write ``venue`` to ``path`` (atomically: a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(dumps_venue(venue), encoding="utf-8")
    os.replace(temporary, path)
    log.info("saved %s", path)


def update_venue(path: Path, **tables: Any) -> Venue:
    """Replace some tables (lens=..., screen=...) of the venue at ``path``, keeping the others;
    a missing file starts empty. Returns the saved Venue; raises CalibrationError for a bad file."""
    venue = load_venue(path) if path.exists() else Venue()
    venue = replace(venue, **tables)
    save_venue(venue, path)
    return venue


def venue_from_dict(data: dict[str, Any], source: str = "venue") -> Venue:
    """Build a Venue from parsed TOML; ``source`` names the file in errors. Raises CalibrationError."""
    check = _Checker(source)
    check.keys(data, "", ("lens", "screen", "zones", "people", "outputs"))
    zones = data.get("zones", [])
    if not isinstance(zones, list):
        raise check.fail("zones", zones, "an array of tables ([[zones]])")
    venue = Venue(
        lens=_lens(check, check.table(data, "lens")) if "lens" in data else None,
        screen=_screen(check, check.table(data, "screen")) if "screen" in data else None,
        zones=tuple(_zone(check, zone, number) for number, zone in enumerate(zones, start=1)),
        people=_people(check, check.table(data, "people")) if "people" in data else PeopleSettings(),
        outputs=outputs_from_tables(data["outputs"], source) if "outputs" in data else (),
    )
    names = [zone.name for zone in venue.zones]
    for name in names:
        if names.count(name) > 1:
            raise check.fail("zones.name", name, "a name used by one zone only")
    return venue


def _lens(check: _Checker, table: dict) -> LensCalibration:
    check.keys(table, "lens.", tuple(f.name for f in fields(LensCalibration)))
    check.required(table, "lens.", ("image_size", "camera_matrix", "distortion", "rms_px"))
    matrix = check.matrix3(table["camera_matrix"], "lens.camera_matrix")
    k = np.array(matrix)
    if not (k[0, 0] > 0 and k[1, 1] > 0 and k[1, 0] == 0 and k[2, 0] == 0 and k[2, 1] == 0 and k[2, 2] == 1):
        raise check.fail("lens.camera_matrix", table["camera_matrix"],
                         "[[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0")
    distortion = check.numbers(table["distortion"], "lens.distortion")
    if len(distortion) not in _DISTORTION_LENGTHS:
        raise check.fail("lens.distortion", table["distortion"],
                         f"{' or '.join(map(str, _DISTORTION_LENGTHS))} coefficients (k1, k2, p1, p2, k3, ...)")
    get = table.get
    return LensCalibration(
        image_size=check.integers(table["image_size"], "lens.image_size", 2, low=1),
        camera_matrix=matrix, distortion=distortion,
        rms_px=check.number(table["rms_px"], "lens.rms_px", low=0.0),
        board=check.integers(get("board", [*DEFAULT_BOARD]), "lens.board", 2, low=3),
        square_mm=check.number(get("square_mm", DEFAULT_SQUARE_MM), "lens.square_mm", low=0.0, above=True),
        images_used=check.integer(get("images_used", 0), "lens.images_used", 0, 1_000_000),
        images_skipped=check.integer(get("images_skipped", 0), "lens.images_skipped", 0, 1_000_000),
    )


def _screen(check: _Checker, table: dict) -> ScreenMapping:
    check.keys(table, "screen.", tuple(f.name for f in fields(ScreenMapping)))
    crop = check.numbers(table.get("crop", [*FULL_FRAME]), "screen.crop", length=4)
    x0, y0, x1, y1 = crop
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        raise check.fail("screen.crop", table["crop"], "[x0, y0, x1, y1] with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
    homography = check.matrix3(table["homography"], "screen.homography") if "homography" in table else IDENTITY
    if np.linalg.cond(np.array(homography)) > MAX_CONDITION:
        raise check.fail("screen.homography", table["homography"], "an invertible 3x3 matrix")
    return ScreenMapping(mirror=check.boolean(table.get("mirror", False), "screen.mirror"),
                         flip=check.boolean(table.get("flip", False), "screen.flip"),
                         crop=crop, homography=homography)


def _zone(check: _Checker, zone: Any, number: int) -> Zone:
    where = f"zones[{number}]"  # counted from 1, as a person counts the [[zones]] tables
    if not isinstance(zone, dict):
        raise check.fail(where, zone, "a table with name, space, role and points")
    check.keys(zone, f"{where}.", ("name", "space", "role", "points"))
    check.required(zone, f"{where}.", ("name", "points"))
    name = check.string(zone["name"], f"{where}.name")
    if not _NAME.fullmatch(name):
        raise check.fail(f"{where}.name", name, "letters, digits, _ and -")
    points = zone["points"]
    if not isinstance(points, list) or len(points) < 3:
        raise check.fail(f"{where}.points", points, "at least 3 points [[x, y], ...]")
    vertices = tuple(check.numbers(p, f"{where}.points[{i}]", length=2) for i, p in enumerate(points, start=1))
    if any(not -1.0 <= v <= 2.0 for point in vertices for v in point):
        raise check.fail(f"{where}.points", points, "normalised coordinates (0..1 of the picture), not pixels")
    return Zone(name, vertices, space=check.string(zone.get("space", "camera"), f"{where}.space", SPACES),
                role=check.string(zone.get("role", "interaction"), f"{where}.role", ROLES))


def _people(check: _Checker, table: dict) -> PeopleSettings:
    check.keys(table, "people.", tuple(f.name for f in fields(PeopleSettings)))
    default = PeopleSettings()
    return PeopleSettings(
        enabled=check.boolean(table.get("enabled", default.enabled), "people.enabled"),
        max_people=check.integer(table.get("max_people", default.max_people), "people.max_people", 1, 32),
        primary=check.string(table.get("primary", default.primary), "people.primary", PRIMARY_POLICIES))


class _Checker:
    """Type and range checks on one value whose errors read ``FILE: key = value: expected WHAT``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, value: Any, expected: str) -> CalibrationError:
        return CalibrationError(f"{self.source}: {key} = {value!r}: expected {expected}")

    def keys(self, table: dict, prefix: str, known: tuple[str, ...]) -> None:
        for key in table:
            if key not in known:
                raise CalibrationError(f"{self.source}: unknown key '{prefix}{key}' (expected one of: {', '.join(known)})")

    def required(self, table: dict, prefix: str, needed: tuple[str, ...]) -> None:
        for key in needed:
            if key not in table:
                raise CalibrationError(f"{self.source}: [{prefix.rstrip('.')}] is missing '{key}'")

    def table(self, data: dict, key: str) -> dict:
        if not isinstance(data[key], dict):
            raise self.fail(key, data[key], f"a table ([{key}])")
        return data[key]

    def number(self, value: Any, key: str, low: float | None = None, above: bool = False) -> float:
        if not _is_number(value) or not np.isfinite(value):
            raise self.fail(key, value, "a finite number")
        if low is not None and (value < low or (above and value == low)):
            raise self.fail(key, value, f"a number {'>' if above else '>='} {low:g}")
        return float(value)

    def numbers(self, value: Any, key: str, length: int | None = None) -> tuple[float, ...]:
        ok = isinstance(value, list) and all(_is_number(v) and np.isfinite(v) for v in value)
        if not ok or (length is not None and len(value) != length):
            raise self.fail(key, value, f"an array of {length or 'some'} finite numbers")
        return tuple(float(v) for v in value)

    def matrix3(self, value: Any, key: str) -> tuple:
        rows = value if isinstance(value, list) and len(value) == 3 else None
        if rows is None or not all(isinstance(r, list) and len(r) == 3 for r in rows):
            raise self.fail(key, value, "a 3x3 array of numbers [[a, b, c], [d, e, f], [g, h, i]]")
        if not all(_is_number(v) and np.isfinite(v) for row in rows for v in row):
            raise self.fail(key, value, "a 3x3 array of finite numbers (no nan or inf)")
        return tuple(tuple(float(v) for v in row) for row in rows)

    def integer(self, value: Any, key: str, low: int, high: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.fail(key, value, f"an integer in {low}..{high}")
        return value

    def integers(self, value: Any, key: str, length: int, low: int) -> tuple[int, ...]:
        ok = isinstance(value, list) and len(value) == length and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= low for v in value)
        if not ok:
            raise self.fail(key, value, f"{length} integers, each at least {low}")
        return tuple(value)

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, value, "true or false")
        return value

    def string(self, value: Any, key: str, choices: tuple[str, ...] | None = None) -> str:
        if not isinstance(value, str) or (choices is not None and value not in choices):
            raise self.fail(key, value, "one of " + ", ".join(map(repr, choices)) if choices else "a string")
        return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def dumps_venue(venue: Venue) -> str:
    """The venue as TOML text (what ``save_venue`` writes)."""
    parts = ["# Venue calibration, written by `python main.py calibrate`; format: calibration/README.md\n"]
    if venue.lens is not None:
        parts.append(_table("lens", {f.name: getattr(venue.lens, f.name) for f in fields(LensCalibration)}))
    if venue.screen is not None:
        parts.append(_table("screen", {f.name: getattr(venue.screen, f.name) for f in fields(ScreenMapping)}))
    parts.append(_table("people", {f.name: getattr(venue.people, f.name) for f in fields(PeopleSettings)}))
    for zone in venue.zones:
        parts.append(_table("[zones]", {"name": zone.name, "space": zone.space, "role": zone.role,
                                        "points": zone.points}))
    for output in venue.outputs:
        parts.append(_table("[outputs]", output_table(output)))
    return "\n".join(parts)


def _table(header: str, values: dict[str, Any]) -> str:
    lines = [f"[{header}]"]
    for key, value in values.items():
        nested = isinstance(value, tuple) and value and isinstance(value[0], tuple)
        if nested:  # one row a line: matrices and polygons stay readable
            rows = ",\n".join(f"    {_toml(row)}" for row in value)
            lines.append(f"{key} = [\n{rows},\n]")
        else:
            lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not np.isfinite(value):
            raise CalibrationError(f"cannot save a non-finite number ({value!r}) in a venue file")
        return repr(value)  # shortest text that reads back as the same double
    if isinstance(value, str):
        # JSON's escapes are TOML's, except DEL, which TOML wants escaped too
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    raise CalibrationError(f"cannot save {value!r} in a venue file")
