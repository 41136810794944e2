"""The command line. ``python main.py`` runs the installation from config.toml.

    python main.py                      # the camera (or the demo clip when there is none), windowed
    python main.py run --fullscreen     # a kiosk
    python main.py run --source clip.mp4 --headless --frames 300 --out out/ --stats stats.json
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

COMMANDS = ("run",)


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"size too small: {text}")
    return width, height


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description="Interactive art installation runtime.")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run the installation (the default command)")
    run.add_argument("--config", type=Path, help="configuration file (default: config.toml)")
    run.add_argument("--source", help="camera, camera:N, camera:/dev/videoN, demo, a video file or an image folder")
    run.add_argument("--loop", action="store_true", default=None, help="play a video or image folder again and again")
    run.add_argument("--headless", action="store_true", help="no window: replay every frame in order, deterministically")
    run.add_argument("--realtime", action="store_true", help="with --headless: pace like a live run instead of replaying")
    run.add_argument("--frames", type=_positive, help="stop after this many rendered frames")
    run.add_argument("--out", help="with --headless: a folder for numbered PNGs, or FILE.mp4")
    run.add_argument("--stats", type=Path, help="write the run's statistics as JSON")
    run.add_argument("--trace", type=Path, help="write landmarks, features and latent of every frame as JSON lines")
    run.add_argument("--fullscreen", action="store_true", default=None, help="full screen, cursor hidden")
    run.add_argument("--overlay", action="store_true", default=None, help="start with the overlay on (key H)")
    run.add_argument("--schedule", choices=("inline", "threaded"), help="where perception runs")
    run.add_argument("--scene", help="the scene to run (see scenes/)")
    run.add_argument("--size", type=_size, help="output size WIDTHxHEIGHT (window, or headless frames)")
    run.add_argument("--osc-in", metavar="[HOST:]PORT", help="listen for OSC control here (overrides osc.listen)")
    run.add_argument("--osc-out", metavar="HOST:PORT", action="append", default=[],
                     help="send the per-frame OSC bundle here (repeatable; overrides osc.targets)")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS and argv[0] not in ("-h", "--help"):
        argv.insert(0, "run")
    args = build_parser().parse_args(argv)
    if not args.verbose:
        from installation.native_logs import silence_native_stderr

        silence_native_stderr()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="installation: %(message)s")

    # SIGTERM (systemd, a supervisor) ends the run like Ctrl+C: the loop stops at a frame and
    # closes its outputs. In a window SDL turns it into a quit event first.
    signal.signal(signal.SIGTERM, _interrupt)

    from installation.app import RunOptions, run  # heavy imports after the arguments are checked
    from installation.errors import InstallationError

    options = RunOptions(
        config_path=args.config, source=args.source, loop=args.loop, headless=args.headless,
        realtime=args.realtime, frames=args.frames, out=args.out, stats=args.stats, trace=args.trace,
        fullscreen=args.fullscreen, overlay=args.overlay, schedule=args.schedule, scene=args.scene,
        size=args.size, osc_in=args.osc_in, osc_out=tuple(args.osc_out),
    )
    try:
        stats = run(options)
    except InstallationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    logging.getLogger("installation").info(
        "%d frames rendered at %.1f fps; pose in %d of %d perceived frames",
        stats["rendered_frames"], stats["render_fps"], stats["frames_with_pose"], stats["frames"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
