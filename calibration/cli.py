"""``python main.py calibrate ...``: lens, camera-to-screen mapping, and venue files.

    calibrate lens --images DIR [--board 9x6] [--square-mm 25] [--venue NAME | --out FILE] [--json]
    calibrate screen --pairs FILE [--screen-size 1920x1080] [--venue NAME | --out FILE] [--json]
    calibrate screen --interactive [--source camera] [--grid 3x3] [--venue NAME | --out FILE]
    calibrate show NAME
    calibrate check NAME

A NAME is a venue (``calibration/NAME.toml``) or a path to a .toml file. Saving updates only the
table computed (``[lens]`` or ``[screen]``) and keeps the rest of the file. ``add_parser`` adds
the command to main.py's parser; ``run(args)`` returns the exit status (0 done, 1 cancelled,
2 an error reported in one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from calibration.errors import CalibrationError
from calibration.lens import detect_boards, find_images, row_straightness_px, solve_lens, undistort_points
from calibration.screen import FULL_FRAME, ScreenFit, ScreenMapping, fit_homography, load_point_pairs, write_pairs_csv
from calibration.venue import Venue, load_venue, update_venue, venue_path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``calibrate`` and its subcommands to a subparsers object; returns the new parser."""
    parser = subparsers.add_parser("calibrate", help="lens calibration, camera-to-screen mapping and venue files")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="calibrate_command", required=True)

    lens = commands.add_parser("lens", help="camera intrinsics and distortion from chessboard photos")
    lens.add_argument("--images", type=Path, required=True, help="a folder of photos of the board")
    lens.add_argument("--board", default="9x6", help="inner corners COLSxROWS (default 9x6)")
    lens.add_argument("--square-mm", default="25", help="the board's square size in mm (default 25)")
    _add_output(lens)

    screen = commands.add_parser("screen", help="the camera-to-screen homography, from point pairs or by clicking")
    how = screen.add_mutually_exclusive_group(required=True)
    how.add_argument("--pairs", type=Path, help="a CSV or TOML file of cam_x, cam_y, screen_x, screen_y pairs")
    how.add_argument("--interactive", action="store_true", help="click markers in the live camera picture")
    screen.add_argument("--units", choices=("normalised", "pixels"), help="units of the pairs (default: the file's)")
    screen.add_argument("--camera-size", help="WIDTHxHEIGHT of the camera image, for pixel pairs")
    screen.add_argument("--screen-size", help="WIDTHxHEIGHT of the screen (errors are in its pixels; default: "
                                              "the pairs file's, the window's, or 1920x1080)")
    screen.add_argument("--mirror", action=argparse.BooleanOptionalAction, help="mirror the view left-right")
    screen.add_argument("--flip", action=argparse.BooleanOptionalAction, help="turn the view upside-down")
    screen.add_argument("--crop", help="x0,y0,x1,y1: the part of the camera image used, normalised")
    screen.add_argument("--ransac", type=float, metavar="PX", help="reject pairs off by more than PX screen pixels")
    screen.add_argument("--source", default="camera", help="interactive: camera, camera:N or a video file")
    screen.add_argument("--grid", default="3x3", help="interactive: markers COLSxROWS (default 3x3)")
    screen.add_argument("--window", help="interactive: WIDTHxHEIGHT window instead of full screen")
    screen.add_argument("--save-pairs", type=Path, help="interactive: also write the clicked pairs as CSV")
    _add_output(screen)

    for name, summary in (("show", "print a venue's calibration"), ("check", "validate a venue file")):
        command = commands.add_parser(name, help=summary)
        command.add_argument("venue", help="a venue name (calibration/NAME.toml) or a .toml path")
    outputs = commands.add_parser("outputs", help="align several projectors' corners by eye on a test pattern")
    outputs.add_argument("venue", help="a venue name (calibration/NAME.toml) or a .toml path with [[outputs]]")
    outputs.add_argument("--keys", help="headless: apply these keys (tab,1..4,left,shift+up,...,s) instead of a window")
    return parser


def _add_output(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--venue", help="save into calibration/VENUE.toml (created or updated)")
    where.add_argument("--out", type=Path, help="save into this venue file (created or updated)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


def run(args: argparse.Namespace) -> int:
    """Carry out a parsed ``calibrate`` command; returns the exit status. Raises InstallationError
    (CalibrationError) for bad input, which main.py reports in one line."""
    handlers = {"lens": _lens, "screen": _screen, "show": _show, "check": _check, "outputs": _outputs}
    return handlers[args.calibrate_command](args)  # main.py turns an InstallationError into one line


def _outputs(args: argparse.Namespace) -> int:
    from installation.outputs.calibrate import run_calibration  # pygame only for this command

    run_calibration(venue_path(args.venue), args.keys.split(",") if args.keys else None)
    return 0


def _lens(args: argparse.Namespace) -> int:
    board = _pair_of_ints(args.board, "--board", "COLSxROWS inner corners such as 9x6")
    square_mm = _positive_float(args.square_mm, "--square-mm")
    found = detect_boards(find_images(args.images), board)
    lens = solve_lens(found, square_mm)
    before = max(row_straightness_px(c, board) for c in found.corners)
    after = max(row_straightness_px(_undistort_pixels(c, lens), board) for c in found.corners)
    saved = _save(args, lens=lens)
    if args.json:
        print(json.dumps({
            "rms": lens.rms_px, "images_used": len(found.used), "images_skipped": [p.name for p in found.skipped],
            "image_size": list(lens.image_size), "board": list(board), "camera_matrix": [list(r) for r in lens.camera_matrix],
            "distortion": list(lens.distortion), "row_straightness_px": {"before": before, "after": after},
            "saved": str(saved) if saved else None}))
        return 0
    skipped = f": {', '.join(p.name for p in found.skipped)}" if found.skipped else ""
    print(f"RMS reprojection error {lens.rms_px:.3f} px from {len(found.used)} images "
          f"({len(found.skipped)} skipped{skipped})")
    k = lens.k
    print(f"{lens.image_size[0]}x{lens.image_size[1]}: fx {k[0, 0]:.1f}  fy {k[1, 1]:.1f}  cx {k[0, 2]:.1f}  "
          f"cy {k[1, 2]:.1f}  distortion {', '.join(f'{v:.4f}' for v in lens.distortion)}")
    print(f"board rows straight within {after:.2f} px once undistorted ({before:.2f} px as photographed)")
    print(f"saved [lens] in {saved}" if saved else "not saved (give --venue NAME or --out FILE)")
    return 0


def _undistort_pixels(corners: np.ndarray, lens: object) -> np.ndarray:
    size = np.asarray(lens.image_size, dtype=np.float64)
    normalised = (corners.reshape(-1, 2) + 0.5) / size
    return undistort_points(normalised, lens) * size - 0.5


def _screen(args: argparse.Namespace) -> int:
    base = _base_mapping(args)
    if args.interactive:
        fit = _pick(args, base)
        if fit is None:
            print("cancelled; nothing saved", file=sys.stderr)
            return 1
    else:
        camera_size = _pair_of_ints(args.camera_size, "--camera-size", "WIDTHxHEIGHT") if args.camera_size else None
        screen_size = _pair_of_ints(args.screen_size, "--screen-size", "WIDTHxHEIGHT") if args.screen_size else None
        pairs = load_point_pairs(args.pairs, args.units, camera_size, screen_size)
        fit = fit_homography(pairs.camera, pairs.screen, screen_size or pairs.screen_size or (1920, 1080),
                             mirror=base.mirror, flip=base.flip, crop=base.crop, ransac_px=args.ransac)
    saved = _save(args, screen=fit.mapping)
    _print_fit(fit, saved, args.json)
    return 0


def _base_mapping(args: argparse.Namespace) -> ScreenMapping:
    """Mirror, flip and crop: from the command line, else the venue's current [screen], else off."""
    current = ScreenMapping()
    path = _output_path(args)
    if path is not None and path.exists():
        current = load_venue(path).screen or current
    crop = _crop(args.crop) if args.crop else current.crop
    return ScreenMapping(mirror=current.mirror if args.mirror is None else args.mirror,
                         flip=current.flip if args.flip is None else args.flip, crop=crop)


def _pick(args: argparse.Namespace, base: ScreenMapping) -> ScreenFit | None:
    from calibration.picker import PairCollector, marker_positions, pick_pairs
    from installation.clock import MonotonicClock
    from installation.config import load_config, override
    from installation.sources import open_source, parse_source_spec

    config = override(load_config(), "source", loop=True)
    window = _pair_of_ints(args.window, "--window", "WIDTHxHEIGHT") if args.window else None
    collector = PairCollector(marker_positions(_pair_of_ints(args.grid, "--grid", "COLSxROWS such as 3x3")))
    source = open_source(parse_source_spec(args.source), config.source, MonotonicClock())
    try:
        screen_size = window or _display_size()
        if not pick_pairs(source, collector, window):
            return None
    finally:
        source.close()
    if args.save_pairs:
        write_pairs_csv(args.save_pairs, *collector.pairs())
    return collector.fit(screen_size, mirror=base.mirror, flip=base.flip, crop=base.crop)


def _display_size() -> tuple[int, int]:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    pygame.display.init()
    try:
        info = pygame.display.Info()
        return (info.current_w, info.current_h) if info.current_w > 0 else (1920, 1080)
    finally:
        pygame.display.quit()


def _print_fit(fit: ScreenFit, saved: Path | None, as_json: bool) -> None:
    if as_json:
        print(json.dumps({
            "max_error_px": fit.max_error_px, "rms_error_px": fit.rms_error_px, "pairs": len(fit.errors_px),
            "inliers": sum(fit.inliers), "screen_size": list(fit.screen_size),
            "homography": [list(row) for row in fit.mapping.homography], "saved": str(saved) if saved else None}))
        return
    width, height = fit.screen_size
    print(f"homography from {len(fit.errors_px)} pairs ({sum(fit.inliers)} used): max reprojection error "
          f"{fit.max_error_px:.3f} px, RMS {fit.rms_error_px:.3f} px on a {width}x{height} screen")
    print(f"saved [screen] in {saved}" if saved else "not saved (give --venue NAME or --out FILE)")


def _show(args: argparse.Namespace) -> int:
    path = venue_path(args.venue)
    venue = load_venue(path)
    print(f"venue {path}")
    for line in describe_venue(venue):
        print(f"  {line}")
    return 0


def _check(args: argparse.Namespace) -> int:
    path = venue_path(args.venue)
    venue = load_venue(path)
    parts = [name for name in ("lens", "screen") if getattr(venue, name) is not None]
    parts.append(f"{len(venue.zones)} zone{'s' if len(venue.zones) != 1 else ''}")
    print(f"{path}: ok ({', '.join(parts)})")
    return 0


def describe_venue(venue: Venue) -> list[str]:
    """Human-readable lines: what ``calibrate show`` prints."""
    lines = []
    if venue.lens is None:
        lines.append("lens: none (frames are used as the camera gives them)")
    else:
        lens, k = venue.lens, venue.lens.k
        lines.append(f"lens: {lens.image_size[0]}x{lens.image_size[1]}, fx {k[0, 0]:.1f} fy {k[1, 1]:.1f} "
                     f"cx {k[0, 2]:.1f} cy {k[1, 2]:.1f}, distortion {', '.join(f'{v:.4f}' for v in lens.distortion)}, "
                     f"RMS {lens.rms_px:.3f} px ({lens.images_used} images of a {lens.board[0]}x{lens.board[1]} board)")
    if venue.screen is None:
        lines.append("screen: none (camera coordinates are screen coordinates)")
    else:
        screen = venue.screen
        crop = "" if screen.crop == FULL_FRAME else f", crop {', '.join(f'{v:g}' for v in screen.crop)}"
        lines.append(f"screen: mirror {'on' if screen.mirror else 'off'}, flip {'on' if screen.flip else 'off'}{crop}")
        lines.extend(f"    [{', '.join(f'{v: .6g}' for v in row)}]" for row in screen.homography)
    for zone in venue.zones:
        lines.append(f"zone {zone.name}: {zone.role}, {zone.space} space, {len(zone.points)} points")
    people = venue.people
    lines.append(f"people: {'on' if people.enabled else 'off'}, at most {people.max_people}, primary: {people.primary}")
    return lines


def _output_path(args: argparse.Namespace) -> Path | None:
    if args.out is not None:
        return args.out
    return venue_path(args.venue) if args.venue else None


def _save(args: argparse.Namespace, **tables: object) -> Path | None:
    path = _output_path(args)
    if path is not None:
        update_venue(path, **tables)
    return path


def _pair_of_ints(text: str, option: str, expected: str) -> tuple[int, int]:
    try:
        first, second = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise CalibrationError(f"{option} {text!r}: expected {expected}") from None
    if first < 1 or second < 1:
        raise CalibrationError(f"{option} {text!r}: expected {expected}, both positive")
    return first, second


def _positive_float(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise CalibrationError(f"{option} {text!r}: expected a positive number")
    return value


def _crop(text: str) -> tuple[float, float, float, float]:
    try:
        x0, y0, x1, y1 = (float(part) for part in text.split(","))
    except ValueError:
        raise CalibrationError(f"--crop {text!r}: expected x0,y0,x1,y1 such as 0.1,0,0.9,1") from None
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        raise CalibrationError(f"--crop {text!r}: expected 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
    return x0, y0, x1, y1
