"""``gestures evaluate``: k-fold cross-validation on a labelled landmark file.

Two file formats are read (both from the hand-gesture-recognition-mediapipe project, whose data
is in ``media/gestures``), told apart by their number of columns:

- *keypoint* (1 + 42 columns): class id, then 21 hand landmarks as (x, y) relative to the wrist
  (any scale: the descriptor normalises it). Classified like live static gestures: k-NN on
  ``normalise.hand_descriptor``.
- *trajectory* (1 + 2 x L columns, L != 21, e.g. 1 + 32): class id, then L (x, y) points of a
  fingertip path relative to its first point. Classified like live movements: DTW 1-NN.

Class names come from ``<stem>_classifier_label.csv`` beside the file (one name per line, in
class-id order), or ``--labels``; otherwise the ids are used. Folds are stratified: each fold
holds about 1/k of every class. The fold assignment is seeded, so a run is repeatable.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from installation.contracts import HAND_LANDMARK_COUNT
from installation.gestures.dtw import SHORTLIST, DtwClassifier
from installation.gestures.errors import GestureError, GestureFileError
from installation.gestures.knn import KnnClassifier
from installation.gestures.normalise import hand_descriptors

KEYPOINT_COLUMNS = 2 * HAND_LANDMARK_COUNT


@dataclass(frozen=True)
class Dataset:
    """Labelled rows of a landmark file: ``samples`` (N, L, 2), ``labels`` (N,) indices into
    ``classes``; ``kind`` is "keypoint" or "trajectory"."""

    path: Path
    kind: str
    samples: np.ndarray
    labels: np.ndarray
    classes: list[str]


@dataclass(frozen=True)
class Evaluation:
    """Cross-validation result. ``confusion[i, j]``: samples of class i predicted as j."""

    dataset: str
    kind: str
    method: str
    folds: int
    classes: list[str]
    confusion: np.ndarray
    rejected: int  # keypoint only: correct-or-not predictions the live recogniser would reject

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / self.confusion.sum())

    def as_dict(self) -> dict[str, Any]:
        recall = np.diag(self.confusion) / np.maximum(self.confusion.sum(axis=1), 1)
        return {
            "dataset": self.dataset, "kind": self.kind, "method": self.method, "folds": self.folds,
            "samples": int(self.confusion.sum()), "accuracy": round(self.accuracy, 6), "classes": self.classes,
            "recall": {name: round(float(value), 6) for name, value in zip(self.classes, recall)},
            "confusion": self.confusion.tolist(), "rejected": self.rejected,
        }

    def as_text(self) -> str:
        """The accuracy and the confusion matrix (rows: true class, columns: predicted)."""
        width = max(8, *(len(name) for name in self.classes)) + 1
        lines = [
            f"{self.dataset}: {self.kind} file, {int(self.confusion.sum())} samples, {len(self.classes)} classes",
            f"{self.method}, {self.folds}-fold stratified cross-validation",
            f"accuracy {100.0 * self.accuracy:.2f}%",
            "",
            "confusion matrix (rows: true class, columns: predicted)",
            " " * width + "".join(name.rjust(width) for name in self.classes) + "   recall",
        ]
        for name, row in zip(self.classes, self.confusion):
            recall = row[self.classes.index(name)] / max(row.sum(), 1)
            lines.append(name.ljust(width) + "".join(str(v).rjust(width) for v in row) + f"   {100.0 * recall:6.2f}%")
        if self.kind == "keypoint":
            lines += ["", f"{self.rejected} predictions would be rejected live as unlike any taught example"]
        return "\n".join(lines)


def load_dataset(path: Path, labels_path: Path | None = None) -> Dataset:
    """Read a keypoint or trajectory CSV. Raises GestureFileError naming the file and line."""
    rows = _read_rows(path)
    columns = len(rows[0]) - 1
    if columns % 2 or columns < 4:
        raise GestureFileError(f"{path}: {columns} numbers after the class id; expected (x, y) pairs")
    kind = "keypoint" if columns == KEYPOINT_COLUMNS else "trajectory"
    data = np.array(rows)
    ids = data[:, 0].astype(int)
    if not np.array_equal(ids, data[:, 0]) or ids.min() < 0:
        raise GestureFileError(f"{path}: the first column must hold class ids 0, 1, 2 ...")
    names = _class_names(path, labels_path, int(ids.max()) + 1)
    present = sorted(set(ids.tolist()))
    classes = [names[i] for i in present]
    labels = np.searchsorted(present, ids).astype(np.int32)
    return Dataset(path, kind, data[:, 1:].reshape(len(data), columns // 2, 2), labels, classes)


def _read_rows(path: Path) -> list[list[float]]:
    if not path.is_file():
        raise GestureFileError(f"{path}: no such file")
    rows = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            try:
                values = [float(cell) for cell in row]
            except ValueError:
                raise GestureFileError(f"{path}: line {number} is not all numbers: {','.join(row)[:80]!r}") from None
            if rows and len(values) != len(rows[0]):
                raise GestureFileError(
                    f"{path}: line {number} has {len(values)} columns, the first line {len(rows[0])}"
                )
            if not np.isfinite(values).all():
                raise GestureFileError(f"{path}: line {number} holds a non-finite number")
            rows.append(values)
    if len(rows) < 2:
        raise GestureFileError(f"{path}: needs at least two labelled rows")
    return rows


def _class_names(path: Path, labels_path: Path | None, count: int) -> list[str]:
    candidate = labels_path or path.with_name(f"{path.stem}_classifier_label.csv")
    if labels_path is not None and not labels_path.is_file():
        raise GestureFileError(f"{labels_path}: no such labels file")
    names = []
    if candidate.is_file():
        text = candidate.read_text(encoding="utf-8-sig")
        names = [line.split(",")[0].strip() for line in text.splitlines() if line.strip()]
    names += [f"class_{i}" for i in range(len(names), count)]
    return names


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold number (0 .. folds-1) for each sample, spreading every class evenly over folds."""
    rng = np.random.default_rng(seed)
    assignment = np.zeros(len(labels), np.int32)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        assignment[members] = np.arange(len(members)) % folds
    return assignment


def cross_validate(dataset: Dataset, folds: int = 5, seed: int = 0, k: int = 5) -> Evaluation:
    """Stratified ``folds``-fold cross-validation; returns the confusion matrix and accuracy.
    Raises GestureError for an impossible number of folds."""
    if folds < 2 or folds > len(dataset.labels):
        raise GestureError(f"folds must be between 2 and the number of samples ({len(dataset.labels)}), got {folds}")
    assignment = stratified_folds(dataset.labels, folds, seed)
    n_classes = len(dataset.classes)
    confusion = np.zeros((n_classes, n_classes), np.int64)
    rejected = 0
    # a degenerate hand (all landmarks in one point) has no descriptor; zeros keep it in the count
    features = np.nan_to_num(hand_descriptors(dataset.samples)) if dataset.kind == "keypoint" else dataset.samples
    for fold in range(folds):
        test, train = assignment == fold, assignment != fold
        names = [dataset.classes[i] for i in dataset.labels[train]]
        if dataset.kind == "keypoint":
            classifier = KnnClassifier.fit(features[train], names, k)
            predicted, confidence = classifier.predict_batch(features[test])
            rejected += int((confidence <= 0.0).sum())
            classes = classifier.classes
        else:
            dtw = DtwClassifier.fit(features[train], names)
            predicted, _ = dtw.predict_batch(features[test])
            classes = dtw.classes
        predicted_index = np.array([dataset.classes.index(classes[p]) for p in predicted], np.int64)
        np.add.at(confusion, (dataset.labels[test], predicted_index), 1)
    if dataset.kind == "keypoint":
        method = f"k-NN (k={k}) on normalised hand descriptors"
    else:
        method = f"DTW 1-NN (Euclidean shortlist of {SHORTLIST})"
    return Evaluation(dataset.path.name, dataset.kind, method, folds, dataset.classes, confusion, rejected)
