"""Bad input is refused before any work: the output paths, an explicit model, an unbounded export.

Each check raises an ``InstallationError`` with one line naming what is wrong, which the command
line prints and exits 2 on, before a model, a camera or MediaPipe is loaded. The statistics
file is written by ``write_stats`` whichever way the run ends.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from installation.config import Config
from installation.errors import InstallationError, ModelError
from installation.perception_cache import PerceptionStore
from installation.sources import is_live, parse_source_spec, spec_from_config
from models import MODEL_FILE_SUFFIXES, known_models, resolve_model_file

if TYPE_CHECKING:
    from installation.app import RunOptions
    from installation.run_stats import RunStats

log = logging.getLogger(__name__)


def check_run(options: RunOptions, config: Config, record_folder: Path) -> None:
    """Everything ``run`` is asked to write or load by name, checked now. Raises InstallationError."""
    if options.model is not None:
        check_model_exists(options.model)
    for path, what in ((options.stats, "--stats"), (options.trace, "--trace")):
        if path is not None:
            check_output_file(path, what)
    if options.out is not None:
        check_out(options.out)
        spec = parse_source_spec(options.source) if options.source else spec_from_config(config.source)
        if options.frames is None and (is_live(spec.kind) or config.source.loop):
            raise InstallationError(f"--out {options.out} with an endless source ({_endless(spec.kind)}) needs "
                                    "--frames N to say when to stop")
    if config.record.enabled:
        check_output_folder(record_folder, "record.folder")
    if config.perception.cache:
        PerceptionStore(Path(config.perception.cache)).close()  # a folder that can't be made, a damaged file


def _endless(kind: str) -> str:
    return {"camera": "a camera", "ndi": "an NDI stream"}.get(kind, "--loop, or source.loop")


def check_out(out: str, what: str = "--out") -> None:
    """``out`` is FILE.mp4 (its folder must exist) or a folder of PNGs (made if missing)."""
    path = Path(out)
    if path.suffix.lower() == ".mp4":
        check_output_file(path, what)
    else:
        check_output_folder(path, what)


def check_output_file(path: Path, what: str) -> None:
    """A file that can be written (an existing one is not changed by the check)."""
    if path.is_dir():
        raise InstallationError(f"cannot write {what} {path}: it is a folder")
    if path.exists():
        try:
            path.open("ab").close()  # opening to append changes nothing, and says whether we may
        except OSError as error:
            raise InstallationError(f"cannot write {what} {path}: {error.strerror or error}") from None
        return
    if not path.parent.is_dir():
        raise InstallationError(f"cannot write {what} {path}: the folder {path.parent} does not exist")
    _probe(path.parent, what, path)


def check_output_folder(path: Path, what: str) -> None:
    """A folder that exists and can be written into, or can be made."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InstallationError(f"cannot write {what} {path}: {existing} is a file, not a folder")
    _probe(existing, what, path)


def _probe(folder: Path, what: str, shown: Path) -> None:
    """Make and remove a file in ``folder``: the one test of writing that permissions, read-only
    mounts and a full disk all answer truthfully (``os.access`` says yes to root)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise InstallationError(f"cannot write {what} {shown}: {error.strerror or error}") from None


def check_model_exists(name: str) -> None:
    """An explicitly named model (``--model``) must exist: a typo is an error, not a silent CPPN.
    (A configured model that fails to load still falls back to the CPPN, logged.) Raises ModelError."""
    if name in known_models():
        return
    path = resolve_model_file(name)
    if path is None:
        raise ModelError(f"--model {name}: no such model (known: {', '.join(known_models())}; or a path to a "
                         f"{', '.join(MODEL_FILE_SUFFIXES)} file)")
    if not path.is_file():
        raise ModelError(f"--model {name}: file not found: {path}")


def write_stats(path: Path | None, stats: RunStats, ended_by: BaseException | None = None) -> None:
    """Write the run's statistics as JSON (``RunStats.to_json``) to ``path`` (None: nowhere). ``ended_by``:
    the error the run ended with, noted in them; then a failure to write is logged, not raised, so the
    run's own error is the one reported. Raises InstallationError when the file cannot be written."""
    if path is None:
        return
    if ended_by is not None:
        stats = dataclasses.replace(stats, ended_by=f"{type(ended_by).__name__}: {ended_by}")
    try:
        path.write_text(json.dumps(stats.to_json(), indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        message = f"cannot write the statistics to {path}: {error.strerror or error}"
        if ended_by is None:
            raise InstallationError(message) from None
        log.error("%s", message)
