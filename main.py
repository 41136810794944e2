"""The command line. ``python main.py`` runs the installation from config.toml.

    python main.py                      # the camera (or the demo clip when there is none), windowed
    python main.py run --fullscreen     # a kiosk
    python main.py run --source clip.mp4 --headless --frames 300 --out out/ --stats stats.json
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from pathlib import Path

# Commands whose parser and handler live beside the code they drive; imported only when used.
PLUGIN_COMMANDS = {
    "train": ("models.train_cli", "train a VAE or GAN on a folder of images or .npz sets"),
    "gestures": ("installation.gestures.cli", "record, train and evaluate gestures"),
    "calibrate": ("calibration.cli", "lens calibration, camera-to-screen mapping and venue files"),
}
COMMANDS = ("run", "kiosk", "replay", "scenes", "models", "staff-password", *PLUGIN_COMMANDS)


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


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    """The options of ``run``, shared by ``kiosk`` (which passes them on to the runtime)."""
    run.add_argument("--config", type=Path, help="configuration file (default: config.toml)")
    run.add_argument("--source", help="camera, camera:N, camera:/dev/videoN, ndi:NAME, demo, a video file or an image folder")
    run.add_argument("--loop", action="store_true", default=None, help="play a video or image folder again and again")
    run.add_argument("--headless", action="store_true", help="no window: replay every frame in order, deterministically")
    run.add_argument("--realtime", action="store_true", help="with --headless: pace like a live run instead of replaying")
    run.add_argument("--frames", type=_positive, help="stop after this many rendered frames")
    run.add_argument("--perception-cache", metavar="DIR",
                     help="with --headless: keep the replay's observations in DIR and read them back when the same "
                          "frames are replayed again (default: $INSTALLATION_PERCEPTION_CACHE; \"\" = off)")
    run.add_argument("--out", help="with --headless: a folder for numbered PNGs, or FILE.mp4")
    run.add_argument("--stats", type=Path, help="write the run's statistics as JSON")
    run.add_argument("--trace", type=Path, help="write landmarks, features and latent of every frame as JSON lines")
    run.add_argument("--fullscreen", action="store_true", default=None, help="full screen, cursor hidden")
    run.add_argument("--overlay", action="store_true", default=None, help="start with the overlay on (key H)")
    run.add_argument("--schedule", choices=("inline", "threaded"), help="where perception runs")
    run.add_argument("--scene", help="the scene to run (see scenes/)")
    run.add_argument("--style", help="paint in this style: a painting in styles/ (starry_night, wave, ...), an image "
                     "file, or builtin:0..25 (overrides paint.style)")
    run.add_argument("--no-paint", action="store_true", help="painting off (overrides paint.enabled)")
    run.add_argument("--model", help="the generator: cppn, a shipped name (python main.py models) or a file "
                                     "(.safetensors checkpoint, TorchScript .pt/.ts, .onnx)")
    run.add_argument("--size", type=_size, help="output size WIDTHxHEIGHT (window, or headless frames)")
    run.add_argument("--video-out", metavar="TARGET", action="append", default=[],
                     help="also send the picture to virtualcam[:/dev/videoN] or ndi[:NAME] (repeatable; adds to video_out.targets)")
    run.add_argument("--osc-in", metavar="[HOST:]PORT", help="listen for OSC control here (overrides osc.listen)")
    run.add_argument("--osc-out", metavar="HOST:PORT", action="append", default=[],
                     help="send the per-frame OSC bundle here (repeatable; overrides osc.targets)")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    run.add_argument("--health", type=Path, help="rewrite this JSON health file every few seconds")
    run.add_argument("--dev", action="store_true", help="development mode: a saved scene file reloads without a restart")
    run.add_argument("--heartbeat", type=Path, help=argparse.SUPPRESS)  # rewritten by the loop; the kiosk watches it
    run.add_argument("--standby", type=int, metavar="SUPERVISOR_PID", help=argparse.SUPPRESS)  # a kiosk child


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; a plugin command's own arguments are added only when it is the one used."""
    parser = argparse.ArgumentParser(prog="main.py", description="Interactive art installation runtime.")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("scenes", help="list the scenes and their parameters")
    commands.add_parser("staff-password", help="ask for a staff-page password twice; print its salted hash for config.toml")
    models = commands.add_parser("models", help="list the shipped and imported generators with their metadata")
    models.add_argument("files", nargs="*", type=Path, help="also describe these generator files")
    for name, (module, summary) in PLUGIN_COMMANDS.items():
        if name == command:
            importlib.import_module(module).add_parser(commands)
        else:
            commands.add_parser(name, help=summary, add_help=False)
    add_run_arguments(commands.add_parser("run", help="run the installation (the default command)"))
    replay = commands.add_parser("replay", help="replay a recorded session headless (and export it)")
    replay.add_argument("session", type=Path, help="a session folder (sessions/<start time>)")
    replay.add_argument("--with-perception", action="store_true", help="re-run MediaPipe on the recorded frames")
    replay.add_argument("--out", help="FILE.mp4, or a folder for numbered PNGs")
    replay.add_argument("--size", type=_size, help="output size WIDTHxHEIGHT")
    replay.add_argument("--stats", type=Path, help="write the replay's statistics as JSON")
    replay.add_argument("--osc-out", metavar="HOST:PORT", action="append", default=[], help="send the bundles here")
    kiosk = commands.add_parser("kiosk", help="run under a supervisor that restarts it on a crash or hang")
    add_run_arguments(kiosk)
    kiosk.add_argument("--hang-timeout", type=float, default=4.0,
                       help="seconds without a heartbeat from the frame loop before the runtime is replaced")
    kiosk.add_argument("--log-dir", type=Path, help="rotating logs go here (default: the user's state folder, "
                                                     "~/.local/state/installation/logs on Linux)")
    kiosk.add_argument("--no-standby", action="store_true",
                       help="no warm standby runtime (half the memory; a restart takes seconds instead of one)")
    kiosk.add_argument("--give-up-after", type=_positive, default=5,
                       help="failures in a row, the same way before any frame, before the kiosk stops trying")
    return parser


def _list_scenes() -> int:
    from installation.config import load_config
    from installation.errors import InstallationError
    from installation.show_plan import scene_library

    try:
        library = scene_library(load_config())
    except InstallationError as error:  # a bad config or scene.folders entry: one line, as run says it
        print(f"error: {error}", file=sys.stderr)
        return 2
    for name in library.names():
        scene = library.load(name)
        summary = scene.description.splitlines()[0] if scene.description else ""
        model = f"  [draws with {scene.MODEL}]" if scene.MODEL else ""
        print(f"{name}: {summary}{model}")
        for spec in scene.PARAMETERS:
            print(f"    {spec.name} = {spec.default:g}  ({spec.low:g}..{spec.high:g})  {spec.description}")
    return 0


def _staff_password() -> int:
    """Asks for a staff-page password (or token) twice; prints its salted hash for ``[staff]``."""
    import getpass

    from installation.staff.auth import hash_secret

    first = getpass.getpass("password (or token) for the staff page: ")
    if len(first) < 8:
        print("error: use at least 8 characters", file=sys.stderr)
        return 2
    if getpass.getpass("again: ") != first:
        print("error: the two differ", file=sys.stderr)
        return 2
    print(hash_secret(first))
    return 0


def _list_models(files: list[Path]) -> int:
    """The CPPN, the shipped checkpoints, the user's generators in models/imported/, and ``files``."""
    from installation.errors import InstallationError
    from models import DEFAULTS_DIR, IMPORTED_DIR, shipped_models

    print("cppn: a compositional pattern-producing network, seeded, no training (generator.resolution, latent_dim)")
    paths = [DEFAULTS_DIR / f"{name}.safetensors" for name in shipped_models()]
    paths += sorted(p for p in IMPORTED_DIR.glob("*") if p.suffix in (".safetensors", ".pt", ".ts", ".onnx"))
    failed = 0
    for path in paths + list(files):
        try:
            print(_describe_model(path))
        except InstallationError as error:
            print(f"{path}: cannot be used: {error}")
            failed += 1
    return 2 if failed and files else 0


def _describe_model(path: Path) -> str:
    from models import DEFAULTS_DIR
    from models.checkpoint import read_checkpoint_meta
    from models.importers import load_imported

    name = path.stem if path.parent == DEFAULTS_DIR else str(path)
    if path.suffix == ".safetensors":
        meta = read_checkpoint_meta(path)
        themes = f", themes: {', '.join(meta.themes)}" if meta.themes else ""
        return (f"{name}: {meta.kind.upper()} {meta.resolution}px, latent {meta.latent_dim}, {meta.steps} steps"
                f"{themes}\n    data: {meta.description} ({meta.licence})")
    from installation.config import load_config

    # a file that doesn't say its latent size is probed with the configured one, as a run would
    meta = load_imported(path, latent_dim=load_config().generator.latent_dim).meta
    about = f"\n    {meta.description} ({meta.licence})" if meta.description or meta.licence else ""
    return f"{name}: imported {meta.format}, {meta.width}x{meta.height}px, latent {meta.latent_dim}{about}"


def _run_plugin(args: argparse.Namespace) -> int:
    from installation.errors import InstallationError

    module = importlib.import_module(PLUGIN_COMMANDS[args.command][0])
    try:
        return int(module.run(args))
    except InstallationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _replay(args: argparse.Namespace) -> int:
    from installation.errors import InstallationError
    from installation.replay import ReplayOptions, replay_session

    options = ReplayOptions(args.session, args.with_perception, args.out, args.size, args.stats,
                            osc_out=tuple(args.osc_out))
    try:
        stats = replay_session(options)
    except InstallationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    logging.getLogger("installation").info("replayed %d frames", stats.rendered_frames)
    return 0


def _kiosk(args: argparse.Namespace, argv: list[str]) -> int:
    from installation.restart_policy import RestartSettings
    from installation.supervisor import Supervisor, SupervisorSettings, default_log_dir

    run_args = _without_kiosk_options(argv)
    log_dir = args.log_dir or default_log_dir()
    health = args.health
    if health is None:  # a kiosk always keeps one: the staff page and a give-up reason read it
        health = log_dir / "health.json"
        run_args += ["--health", str(health)]
    settings = SupervisorSettings(hang_timeout_s=args.hang_timeout, standby=not args.no_standby,
                                  restart=RestartSettings(give_up_after=args.give_up_after), health=health,
                                  log_dir=log_dir)
    supervisor = Supervisor(run_args, settings)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    from installation.errors import InstallationError
    from installation.staff import kiosk_page  # served by the supervisor: up while the runtime restarts

    try:
        page = kiosk_page(args.config, supervisor)
    except InstallationError as error:  # a bad config.toml, or the staff page open to the LAN without a password
        print(f"error: {error}", file=sys.stderr)
        return 2
    with page:
        return supervisor.run()


def _without_kiosk_options(argv: list[str]) -> list[str]:
    """The command line minus the supervisor's own options: what the runtime child is given."""
    kept, skip = [], False
    for item in argv:
        if skip:
            skip = False
            continue
        name = item.split("=", 1)[0]
        if name == "--no-standby":
            continue
        if name in ("--hang-timeout", "--log-dir", "--give-up-after"):
            skip = "=" not in item
            continue
        kept.append(item)
    return kept


OUR_PACKAGES = ("installation", "models", "scenes", "calibration", "__main__")


class _NamedBySource(logging.Formatter):
    """'installation: ...' for our own lines; a library's lines carry the library's name, so
    matplotlib's first-run font-cache note does not read as ours."""

    def format(self, record: logging.LogRecord) -> str:
        package = record.name.split(".", 1)[0]
        source = "installation" if package in OUR_PACKAGES or record.name == "root" else package
        return f"{source}: {super().format(record)}"


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_NamedBySource("%(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    if not verbose:  # libraries' notes (font caches, HTTP access lines) only when asked for
        for name in ("matplotlib", "PIL", "urllib3", "aiohttp.access"):
            logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS and argv[0] not in ("-h", "--help"):
        argv.insert(0, "run")
    args = build_parser(argv[0]).parse_args(argv)
    if args.command == "staff-password":  # no native library loads: its errors go to stderr as they are
        return _staff_password()
    verbose = getattr(args, "verbose", False)
    if not verbose:
        from installation.native_logs import silence_native_stderr

        silence_native_stderr()
    _configure_logging(verbose)

    if args.command == "scenes":
        return _list_scenes()
    if args.command == "models":
        return _list_models(args.files)
    if args.command in PLUGIN_COMMANDS:
        return _run_plugin(args)
    if args.command == "kiosk":
        return _kiosk(args, argv[1:])
    if args.command == "replay":
        return _replay(args)

    lifeline = None
    if args.standby is not None:  # started by the kiosk: die with it, and wait for its go once ready
        from installation.lifeline import Lifeline

        lifeline = Lifeline.on_stdin(args.standby, ready_file=args.heartbeat)
        lifeline.die_with_supervisor()

    # SIGTERM (systemd, a supervisor) ends the run like Ctrl+C: the loop stops at a frame and
    # closes its outputs. In a window SDL turns it into a quit event first.
    signal.signal(signal.SIGTERM, _interrupt)

    from installation.app import RunOptions, run  # heavy imports after the arguments are checked
    from installation.errors import InstallationError

    options = RunOptions(
        config_path=args.config, source=args.source, loop=args.loop, headless=args.headless,
        realtime=args.realtime, frames=args.frames, out=args.out, stats=args.stats, trace=args.trace,
        fullscreen=args.fullscreen, overlay=args.overlay, schedule=args.schedule, scene=args.scene,
        style=args.style, paint=False if args.no_paint else None,
        size=args.size, model=args.model, osc_in=args.osc_in, osc_out=tuple(args.osc_out), health=args.health,
        video_out=tuple(getattr(args, "video_out", ())),
        heartbeat=args.heartbeat, dev=args.dev, perception_cache=args.perception_cache,
        wait_for_turn=lifeline.wait_for_turn if lifeline else None,
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
        stats.rendered_frames, stats.render_fps, stats.frames_with_pose, stats.frames,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
