"""``gestures train``: examples -> a ``TrainedGestures`` (static k-NN, movement templates,
continuous mappings).

- Static: every frame's hand in a static example becomes one k-NN example (its
  ``hand_descriptor``).
- Dynamic: each recording becomes one template: its per-frame movement descriptors with the
  stillness before and after trimmed off. A template's threshold is ``[gestures] dtw_threshold``,
  raised to 1.25 x the largest DTW distance between two recordings of the same movement when
  there are several (people perform it more variously than one demonstration shows), at most
  3 x the configured value.
- Mapping: all recordings of one name form one mapping; each contributes at most
  ``MAX_MAPPING_FRAMES`` evenly spaced frames (a held pose gives many near-identical frames,
  which add nothing but cost), and the recordings set the kernel width (``continuous``).
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np

from installation.contracts import Side
from installation.gestures.config import GesturesConfig
from installation.gestures.continuous import ContinuousMapping
from installation.gestures.dtw import dtw_distance
from installation.gestures.errors import GestureError
from installation.gestures.knn import KnnClassifier
from installation.gestures.model import Example, ExampleKind, Template, TrainedGestures
from installation.gestures.normalise import hand_descriptors, movement_descriptor, trim_rest

log = logging.getLogger(__name__)

THRESHOLD_GAIN = 1.25
THRESHOLD_CAP = 3.0
MAX_MAPPING_FRAMES = 50
MIN_TEMPLATE_FRAMES = 3


def train(examples: list[Example], config: GesturesConfig) -> TrainedGestures:
    """Fit everything the examples teach. Raises GestureError when there is nothing to learn
    or examples contradict each other (a mapping's target names differ between recordings)."""
    if not examples:
        raise GestureError("no examples to train on: record some with `python main.py gestures record NAME`")
    by_kind: dict[ExampleKind, list[Example]] = defaultdict(list)
    for example in examples:
        by_kind[example.kind].append(example)
    return TrainedGestures(
        static=_train_static(by_kind[ExampleKind.STATIC], config) if by_kind[ExampleKind.STATIC] else None,
        templates=_train_templates(by_kind[ExampleKind.DYNAMIC], config),
        mappings=_train_mappings(by_kind[ExampleKind.MAPPING]),
        shape_weight=config.dtw_hand_shape_weight,
    )


def _train_static(examples: list[Example], config: GesturesConfig) -> KnnClassifier:
    descriptors, names = [], []
    for example in examples:
        rows = hand_descriptors(example.arrays["hands"])
        rows = rows[~np.isnan(rows).any(axis=1)]
        descriptors.append(rows)
        names += [example.name] * len(rows)
    if not names:
        raise GestureError("the static examples hold no usable hand: record them again with the hand in view")
    return KnnClassifier.fit(np.concatenate(descriptors), names, config.knn_k)


def movement_sequence(example: Example, shape_weight: float) -> np.ndarray:
    """The per-frame movement descriptors (n, F) of a dynamic example (frames without a pose are
    left out)."""
    arrays, aspect, mirrored = example.arrays, float(example.meta["aspect"]), bool(example.meta["mirrored"])
    rows = []
    for i in range(example.frames):
        hands = {side.value: (arrays[side.value][i], float(arrays["presence"][i, 1 + index]))
                 for index, side in enumerate(Side)}
        row = movement_descriptor(arrays["pose"][i], hands, aspect, mirrored, shape_weight)
        if row is not None:
            rows.append(row)
    return np.array(rows).reshape(len(rows), -1)


def _train_templates(examples: list[Example], config: GesturesConfig) -> list[Template]:
    sequences: dict[str, list[np.ndarray]] = defaultdict(list)
    for example in examples:
        sequence = trim_rest(movement_sequence(example, config.dtw_hand_shape_weight))
        if len(sequence) < MIN_TEMPLATE_FRAMES:
            log.warning("skipped a recording of %s: a pose was seen in only %d frames", example.name, len(sequence))
            continue
        sequences[example.name].append(sequence)
    templates = []
    for name, group in sorted(sequences.items()):
        threshold = config.dtw_threshold
        if len(group) > 1:
            spread = max(dtw_distance(a, b) for i, a in enumerate(group) for j, b in enumerate(group) if i != j)
            threshold = min(max(threshold, THRESHOLD_GAIN * spread), THRESHOLD_CAP * config.dtw_threshold)
        templates += [Template(name, sequence, threshold) for sequence in group]
    return templates


def _train_mappings(examples: list[Example]) -> dict[str, ContinuousMapping]:
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        groups[example.name].append(example)
    mappings = {}
    for name, group in sorted(groups.items()):
        input_names, target_names = group[0].meta["input_names"], group[0].meta["target_names"]
        for example in group[1:]:
            if example.meta["input_names"] != input_names or example.meta["target_names"] != target_names:
                raise GestureError(
                    f"the recordings of mapping {name!r} disagree on their inputs or targets "
                    f"({target_names} vs {example.meta['target_names']}): record them with the same --target names"
                )
        inputs, targets, recordings = [], [], []
        for number, example in enumerate(group):
            count = min(example.frames, MAX_MAPPING_FRAMES)
            keep = np.unique(np.linspace(0, example.frames - 1, count).round().astype(int))
            inputs.append(example.arrays["inputs"][keep])
            targets.append(example.arrays["targets"][keep])
            recordings.append(np.full(len(keep), number))
        mappings[name] = ContinuousMapping.fit(np.concatenate(inputs), np.concatenate(targets), input_names,
                                               target_names, groups=np.concatenate(recordings))
    return mappings
