"""``python main.py gestures ...``: teach, train and evaluate gestures from the command line.

    gestures record NAME --source camera|PATH [--kind static|dynamic|mapping] [--target T=V ...]
    gestures train
    gestures evaluate CSV [--json]
    gestures list

``add_parser(subparsers)`` adds the ``gestures`` command to main.py's parser; ``run(args)``
carries it out and returns the exit status (0 done, 2 an error reported in one line).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from installation.config import Config, load_config
from installation.errors import InstallationError
from installation.gestures.config import GesturesConfig
from installation.gestures.errors import GestureError
from installation.gestures.model import ExampleKind
from installation.gestures.store import GestureStore, load_model, save_model


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``gestures`` and its subcommands to a subparsers object; returns the new parser."""
    parser = subparsers.add_parser("gestures", help="teach, train and evaluate gestures and mappings")
    parser.add_argument("--config", type=Path, help="configuration file (default: config.toml)")
    parser.add_argument("--folder", type=Path, help="gesture folder (default: [gestures] folder)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="gestures_command", required=True)

    record = commands.add_parser("record", help="record an example of a gesture or a mapping pose")
    record.add_argument("name", help="gesture or mapping name: lower-case letters, digits, _")
    record.add_argument("--source", required=True, help="camera, camera:N, or a video file or image folder")
    record.add_argument("--kind", choices=[kind.value for kind in ExampleKind],
                        help="default: static, or mapping with --target")
    record.add_argument("--target", action="append", default=[], metavar="NAME=VALUE",
                        help="a target value of a mapping example (repeat for several)")
    record.add_argument("--seconds", type=float, help="how long to record (camera default 3 s; a file: all of it)")
    record.add_argument("--delay", type=float, default=3.0,
                        help="camera only: seconds to get ready first (default 3)")
    record.add_argument("--hand", choices=("any", "left", "right"), default="any", help="static: which hand to take")

    commands.add_parser("train", help="fit the recogniser to all recorded examples and save the model")
    commands.add_parser("list", help="show the recorded examples and the trained model")

    evaluate = commands.add_parser("evaluate", help="cross-validate on a keypoint.csv or point_history.csv file")
    evaluate.add_argument("csv", type=Path, help="class id, then (x, y) pairs per row")
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluate.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the fold assignment")
    evaluate.add_argument("--k", type=int, default=5, help="neighbours for keypoint files (default 5)")
    evaluate.add_argument("--labels", type=Path, help="class names file (default: <stem>_classifier_label.csv)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Carry out a parsed ``gestures`` command; returns the exit status."""
    handlers = {"record": _record, "train": _train, "list": _list, "evaluate": _evaluate}
    try:
        return handlers[args.gestures_command](args)
    except InstallationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _settings(args: argparse.Namespace) -> tuple[Config, GesturesConfig, GestureStore]:
    config = load_config(args.config)
    gestures = getattr(config, "gestures", GesturesConfig())
    return config, gestures, GestureStore(args.folder if args.folder is not None else gestures.folder)


def _record(args: argparse.Namespace) -> int:
    from installation.gestures.recording import RecordRequest, record_example  # MediaPipe: only when recording

    targets = dict(_target(text) for text in args.target)
    kind = ExampleKind(args.kind) if args.kind else (ExampleKind.MAPPING if targets else ExampleKind.STATIC)
    config, gestures, store = _settings(args)
    request = RecordRequest(args.name, kind, args.source, args.seconds, args.delay, args.hand, targets)
    example = record_example(request, config, gestures, progress=lambda text: print(text, end="\r", flush=True))
    path = store.add(example)
    print(f"recorded {example.frames} frames of {kind.value} example {args.name!r} -> {path}")
    print("run `python main.py gestures train` to use it")
    return 0


def _target(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise GestureError(f"--target {text!r}: expected NAME=NUMBER, such as hue=0.25") from None


def _train(args: argparse.Namespace) -> int:
    from installation.gestures.training import train

    _, gestures, store = _settings(args)
    examples = store.examples()
    trained = train(examples, gestures)
    save_model(store.model_path, trained)
    print(f"trained on {len(examples)} examples -> {store.model_path}")
    print(trained.describe())
    return 0


def _list(args: argparse.Namespace) -> int:
    _, _, store = _settings(args)
    paths = store.example_paths()
    print(f"{len(paths)} examples in {store.examples_dir}")
    for path in paths:
        print(f"  {path.relative_to(store.examples_dir)}")
    if store.model_path.is_file():
        print(f"model {store.model_path}:\n{load_model(store.model_path).describe()}")
    else:
        print(f"no model yet at {store.model_path}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from installation.gestures.evaluate import cross_validate, load_dataset

    result = cross_validate(load_dataset(args.csv, args.labels), folds=args.folds, seed=args.seed, k=args.k)
    print(json.dumps(result.as_dict(), indent=2) if args.json else result.as_text())
    return 0
