"""Learned static gestures: k nearest neighbours on normalised hand descriptors.

Teaching is storing examples; recognising a hand is finding its ``k`` nearest taught examples
(Euclidean distance between ``normalise.hand_descriptor`` vectors) and letting them vote,
each weighted by 1 / distance. The confidence is the winning class's share of the vote, scaled
down as the nearest example of that class gets farther than the *reject distance*: a hand shape
unlike anything taught gets no confidence instead of the least-bad label.

The reject distance is learned from the examples: three times the median distance from each
example to its nearest other example of the same class (how far apart repeated demonstrations
of one gesture are), or ``DEFAULT_REJECT_DISTANCE`` with too few examples to tell. On
keypoint.csv that median is ~0.6 while the class centres are 6 to 11 apart. Taught on half of
two of its classes, this keeps 92-100% of held-out hands of the taught classes and rejects
most hands of the untaught ones (how many depends on how alike the shapes are: an OK sign is
near an open hand); docs/gestures.md has the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from installation.gestures.errors import GestureError

DEFAULT_REJECT_DISTANCE = 3.0  # descriptor units; used when no class has two examples
REJECT_PERCENTILE = 50.0
REJECT_GAIN = 3.0
MIN_REJECT_DISTANCE = 1.0
FADE = 1.5  # confidence falls to 0 at FADE x the reject distance
CHUNK = 512  # queries per block of the distance matrix: bounds memory for big evaluations


def pairwise_distances(
    queries: np.ndarray, examples: np.ndarray, examples_sq: np.ndarray | None = None
) -> np.ndarray:
    """Euclidean distances (Q, N) between rows of ``queries`` (Q, D) and ``examples`` (N, D);
    ``examples_sq`` (N,) are the examples' squared norms, if already known."""
    q2 = (queries**2).sum(axis=1)[:, None]
    e2 = (examples**2).sum(axis=1) if examples_sq is None else examples_sq
    return np.sqrt(np.maximum(q2 + e2[None, :] - 2.0 * queries @ examples.T, 0.0))


@dataclass
class KnnClassifier:
    """k-NN over descriptors. ``examples`` (N, D) float32, ``labels`` (N,) indices into
    ``classes``. Build it with ``fit``."""

    examples: np.ndarray
    labels: np.ndarray
    classes: list[str]
    k: int
    reject_distance: float
    _squared: np.ndarray = field(init=False, repr=False)  # (N,) squared norms, computed once

    def __post_init__(self) -> None:
        self.examples = np.ascontiguousarray(self.examples, np.float32)
        self._squared = (self.examples.astype(np.float64) ** 2).sum(axis=1).astype(np.float32)

    @staticmethod
    def fit(descriptors: np.ndarray, names: list[str], k: int) -> KnnClassifier:
        """A classifier of the examples ``descriptors`` (N, D) named ``names`` (N,).

        Raises GestureError when there are no examples or the counts differ."""
        descriptors = np.asarray(descriptors, np.float32)
        if descriptors.ndim != 2 or len(descriptors) == 0 or len(descriptors) != len(names):
            raise GestureError(
                f"need one or more examples with a name each; got {descriptors.shape} and {len(names)} names"
            )
        classes = sorted(set(names))
        labels = np.array([classes.index(name) for name in names], np.int32)
        return KnnClassifier(descriptors, labels, classes, k, _reject_distance(descriptors, labels))

    def predict(self, descriptor: np.ndarray) -> tuple[str | None, float]:
        """The class of one descriptor (D,) and its confidence; (None, 0.0) if rejected."""
        labels, confidences = self.predict_batch(np.asarray(descriptor, np.float32)[None])
        return (self.classes[labels[0]], float(confidences[0])) if confidences[0] > 0.0 else (None, 0.0)

    def predict_batch(self, descriptors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class indices (Q,) and confidences (Q,) of descriptors (Q, D)."""
        descriptors = np.asarray(descriptors, np.float32)
        labels = np.zeros(len(descriptors), np.int32)
        confidences = np.zeros(len(descriptors), np.float64)
        for start in range(0, len(descriptors), CHUNK):
            block = slice(start, start + CHUNK)
            distances = pairwise_distances(descriptors[block], self.examples, self._squared)
            labels[block], confidences[block] = self._vote(distances)
        return labels, confidences

    def _vote(self, distances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = min(self.k, distances.shape[1])
        nearest = np.argpartition(distances, k - 1, axis=1)[:, :k]  # (Q, k), unordered
        near_d = np.take_along_axis(distances, nearest, axis=1)
        weights = 1.0 / (near_d + 1e-6)
        votes = np.zeros((len(distances), len(self.classes)))
        np.add.at(votes, (np.arange(len(distances))[:, None], self.labels[nearest]), weights)
        winner = votes.argmax(axis=1)
        share = votes.max(axis=1) / votes.sum(axis=1)
        # nearest example of the winning class, among the k
        own = np.where(self.labels[nearest] == winner[:, None], near_d, np.inf).min(axis=1)
        closeness = np.clip((FADE * self.reject_distance - own) / ((FADE - 1.0) * self.reject_distance), 0.0, 1.0)
        return winner.astype(np.int32), share * closeness


def _reject_distance(descriptors: np.ndarray, labels: np.ndarray) -> float:
    nearest_same = []
    for label in np.unique(labels):
        members = descriptors[labels == label]
        if len(members) < 2:
            continue
        for start in range(0, len(members), CHUNK):
            distances = pairwise_distances(members[start : start + CHUNK], members)
            distances[np.arange(distances.shape[0]), np.arange(start, start + distances.shape[0])] = np.inf
            nearest_same.append(distances.min(axis=1))
    if not nearest_same:
        return DEFAULT_REJECT_DISTANCE
    spread = float(np.percentile(np.concatenate(nearest_same), REJECT_PERCENTILE))
    return max(REJECT_GAIN * spread, MIN_REJECT_DISTANCE)
