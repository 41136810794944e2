"""Saving and loading taught examples and trained models, per installation.

Everything is a NumPy ``.npz`` archive (never pickle: it is read with ``allow_pickle=False``,
so a file cannot run code): numeric arrays plus one ``meta`` entry, a JSON text holding the
format name, its version and the names and settings that go with the arrays.

Layout of an installation's gesture folder (``[gestures] folder``):

    gestures/
        examples/<name>/<kind>-<NNN>.npz   one recording each (``gestures record``)
        model.npz                          what ``gestures train`` learned, loaded at start-up

Files are written to a temporary name and renamed, so a full disk or a crash never leaves half a
model where the installation will look for it. Any file that cannot be used raises
``GestureFileError`` naming the file, what is wrong, and how to fix it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from installation.config import PROJECT_ROOT
from installation.gestures.continuous import METHODS, ContinuousMapping
from installation.gestures.errors import GestureError, GestureFileError
from installation.gestures.knn import KnnClassifier
from installation.gestures.model import EXAMPLE_ARRAYS, Example, ExampleKind, Template, TrainedGestures

log = logging.getLogger(__name__)

EXAMPLE_FORMAT = "installation-gesture-example"
MODEL_FORMAT = "installation-gesture-model"
VERSION = 1
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MODEL_FILE = "model.npz"
EXAMPLES_DIR = "examples"


def check_name(name: str) -> str:
    """``name`` if it can name a gesture (it becomes a file name and an OSC address part);
    raises GestureError otherwise."""
    if not NAME_PATTERN.match(name):
        raise GestureError(
            f"gesture name {name!r} is not usable: use 1-40 lower-case letters, digits and _, starting with a letter"
        )
    return name


# --- the archive format -----------------------------------------------------------------------


def write_archive(path: Path, kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` and ``meta`` (JSON-able) as a format ``kind`` archive, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": kind, "version": VERSION, **meta}
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as handle:
        np.savez_compressed(handle, meta=np.array(json.dumps(header)), **arrays)
    os.replace(partial, path)


def read_archive(path: Path, kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The meta and arrays of a format ``kind`` archive. Raises GestureFileError."""
    if not path.is_file():
        raise GestureFileError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as error:
        # ValueError is also what NumPy raises for an object (pickled) array with pickle off.
        raise GestureFileError(f"{path}: not a readable gesture file ({error}); {_fix(kind)}") from None
    meta_text = arrays.pop("meta", None)
    if meta_text is None or meta_text.dtype.kind != "U" or meta_text.shape != ():
        raise GestureFileError(f"{path}: has no 'meta' entry, so it is not a gesture file; {_fix(kind)}")
    try:
        meta = json.loads(str(meta_text))
    except json.JSONDecodeError as error:
        raise GestureFileError(f"{path}: its 'meta' entry is not valid JSON ({error}); {_fix(kind)}") from None
    if not isinstance(meta, dict) or meta.get("format") != kind:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise GestureFileError(f"{path}: is a {found!r} file, expected {kind!r}; {_fix(kind)}")
    if meta.get("version") != VERSION:
        raise GestureFileError(
            f"{path}: format version {meta.get('version')!r}, this program reads version {VERSION}; {_fix(kind)}"
        )
    return meta, arrays


def _fix(kind: str) -> str:
    if kind == MODEL_FORMAT:
        return "run `python main.py gestures train` to make it again"
    return "delete it and record the example again with `python main.py gestures record`"


def _require(
    path: Path, arrays: dict[str, np.ndarray], name: str, ndim: int, trailing: tuple[int, ...]
) -> np.ndarray:
    """Array ``name``, checked to be a finite-or-NaN number array of ``ndim`` dimensions whose
    shape ends with ``trailing``."""
    array = arrays.get(name)
    if array is None:
        raise GestureFileError(f"{path}: the array '{name}' is missing")
    if array.dtype.kind not in "fiu" or array.ndim != ndim or (trailing and array.shape[-len(trailing):] != trailing):
        raise GestureFileError(
            f"{path}: the array '{name}' has shape {array.shape} and type {array.dtype}; "
            f"expected {ndim} dimensions ending in {trailing or 'anything'}, numbers"
        )
    return array


def _stored_name(path: Path, value: Any) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise GestureFileError(f"{path}: {value!r} is not a gesture name; the file is damaged or not ours")
    return value


# --- examples ---------------------------------------------------------------------------------


def save_example(path: Path, example: Example) -> None:
    """Write one example (see model.EXAMPLE_ARRAYS for what each kind holds)."""
    meta = {"kind": example.kind.value, "name": check_name(example.name), **example.meta}
    write_archive(path, EXAMPLE_FORMAT, meta, example.arrays)


def load_example(path: Path) -> Example:
    """Read one example file. Raises GestureFileError."""
    meta, arrays = read_archive(path, EXAMPLE_FORMAT)
    try:
        kind = ExampleKind(meta.get("kind"))
    except ValueError:
        raise GestureFileError(f"{path}: unknown example kind {meta.get('kind')!r}; {_fix(EXAMPLE_FORMAT)}") from None
    name = _stored_name(path, meta.get("name"))
    checked = {
        key: _require(path, arrays, key, ndim, trailing) for key, (ndim, trailing) in EXAMPLE_ARRAYS[kind].items()
    }
    lengths = {len(array) for array in checked.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise GestureFileError(f"{path}: its arrays have different or zero lengths ({sorted(lengths)})")
    extra = {key: value for key, value in meta.items() if key not in ("format", "version", "kind", "name")}
    return Example(kind, name, checked, extra)


class GestureStore:
    """An installation's gesture folder: its examples and its model."""

    def __init__(self, folder: Path | str) -> None:
        folder = Path(folder).expanduser()
        self.folder = folder if folder.is_absolute() else PROJECT_ROOT / folder
        self.examples_dir = self.folder / EXAMPLES_DIR
        self.model_path = self.folder / MODEL_FILE

    def add(self, example: Example) -> Path:
        """Save a new example as the next free ``examples/<name>/<kind>-NNN.npz``; returns it."""
        directory = self.examples_dir / check_name(example.name)
        directory.mkdir(parents=True, exist_ok=True)
        taken = {path.name for path in directory.glob("*.npz")}
        number = 1
        while f"{example.kind.value}-{number:03d}.npz" in taken:
            number += 1
        path = directory / f"{example.kind.value}-{number:03d}.npz"
        save_example(path, example)
        return path

    def example_paths(self) -> list[Path]:
        return sorted(self.examples_dir.glob("*/*.npz")) if self.examples_dir.is_dir() else []

    def examples(self) -> list[Example]:
        """Every example in the folder, in path order. Raises GestureFileError for a bad one."""
        return [load_example(path) for path in self.example_paths()]


# --- the trained model ------------------------------------------------------------------------


def save_model(path: Path, trained: TrainedGestures) -> None:
    """Write what was learned to ``path`` (atomically)."""
    meta: dict[str, Any] = {"shape_weight": trained.shape_weight, "templates": [], "mappings": []}
    arrays: dict[str, np.ndarray] = {}
    if trained.static is not None:
        meta["static"] = {"classes": trained.static.classes, "k": trained.static.k,
                          "reject_distance": trained.static.reject_distance}
        arrays["static_examples"] = trained.static.examples.astype(np.float32)
        arrays["static_labels"] = trained.static.labels.astype(np.int32)
    for index, template in enumerate(trained.templates):
        meta["templates"].append({"name": template.name, "threshold": template.threshold})
        arrays[f"template_{index}"] = template.sequence
    for index, (name, mapping) in enumerate(trained.mappings.items()):
        meta["mappings"].append({"name": name, "method": mapping.method, "inputs": mapping.input_names,
                                 "outputs": mapping.output_names, "width": mapping.width})
        arrays.update({f"mapping_{index}_inputs": mapping.inputs, f"mapping_{index}_outputs": mapping.outputs,
                       f"mapping_{index}_weights": mapping.weights, f"mapping_{index}_bias": mapping.bias})
    write_archive(path, MODEL_FORMAT, meta, arrays)


def load_model(path: Path) -> TrainedGestures:
    """Read a trained model. Raises GestureFileError if it is missing, corrupt or inconsistent."""
    meta, arrays = read_archive(path, MODEL_FORMAT)
    try:
        return TrainedGestures(
            static=_load_static(path, meta, arrays),
            templates=[_load_template(path, index, entry, arrays) for index, entry in enumerate(meta["templates"])],
            mappings=dict(_load_mapping(path, index, entry, arrays) for index, entry in enumerate(meta["mappings"])),
            shape_weight=float(meta["shape_weight"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise GestureFileError(f"{path}: inconsistent model ({error!r}); {_fix(MODEL_FORMAT)}") from None


def _load_static(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> KnnClassifier | None:
    static = meta.get("static")
    if static is None:
        return None
    examples = _require(path, arrays, "static_examples", 2, ())
    labels = _require(path, arrays, "static_labels", 1, ())
    classes = [str(name) for name in static["classes"]]
    if len(labels) != len(examples) or labels.min(initial=0) < 0 or labels.max(initial=0) >= len(classes):
        raise GestureFileError(f"{path}: static examples and labels do not match; {_fix(MODEL_FORMAT)}")
    return KnnClassifier(examples.astype(np.float32), labels.astype(np.int32), classes, int(static["k"]),
                         float(static["reject_distance"]))


def _load_template(path: Path, index: int, entry: dict[str, Any], arrays: dict[str, np.ndarray]) -> Template:
    sequence = _require(path, arrays, f"template_{index}", 2, ())
    return Template(_stored_name(path, entry["name"]), sequence.astype(np.float64), float(entry["threshold"]))


def _load_mapping(
    path: Path, index: int, entry: dict[str, Any], arrays: dict[str, np.ndarray]
) -> tuple[str, ContinuousMapping]:
    prefix = f"mapping_{index}_"
    parts = {key: _require(path, arrays, prefix + key, ndim, ()) for key, ndim in
             (("inputs", 2), ("outputs", 2), ("weights", 2), ("bias", 1))}
    inputs, outputs = [str(n) for n in entry["inputs"]], [str(n) for n in entry["outputs"]]
    consistent = (
        parts["inputs"].shape[1] == len(inputs) and parts["outputs"].shape[1] == len(outputs)
        and parts["weights"].shape == parts["outputs"].shape and parts["bias"].shape == (len(outputs),)
        and len(parts["inputs"]) == len(parts["outputs"]) and entry["method"] in METHODS
    )
    if not consistent:
        raise GestureFileError(
            f"{path}: mapping {entry.get('name')!r} has arrays of mismatched shapes; {_fix(MODEL_FORMAT)}"
        )
    mapping = ContinuousMapping(inputs, outputs, str(entry["method"]), parts["inputs"], parts["outputs"],
                                float(entry["width"]), parts["weights"], parts["bias"])
    return _stored_name(path, entry["name"]), mapping
