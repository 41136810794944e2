"""Learned dynamic gestures: dynamic time warping (DTW) against taught example sequences.

Two uses of the same distance:

- ``DtwClassifier``: whole sequences -> a class (1-nearest neighbour under DTW). To stay fast on
  thousands of examples, each query is compared by DTW only with its ``SHORTLIST`` nearest
  examples by plain Euclidean distance (after resampling to a common length), a standard
  prefilter. Used by ``gestures evaluate`` on trajectory files (point_history.csv).
- ``StreamingMatcher``: a live stream of per-frame descriptors -> how well the last stretch of
  the stream matches one taught sequence, updated in O(template length) per frame. This is
  subsequence DTW with an open beginning (Sakurai, Faloutsos and Yamamuro's SPRING, ICDE 2007):
  the match may start at any frame, so nobody has to signal "now I begin".

Distances are the sum of per-step Euclidean distances along the warping path, divided by the
template's length: a mean distance per template frame, in the descriptor's units (shoulder widths
for body movements). DTW absorbs tempo: the same movement 30% faster or slower stays close.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from installation.gestures.errors import GestureError

SHORTLIST = 10
BAND_FRACTION = 0.2  # Sakoe-Chiba band, as a fraction of the sequence length (whole-sequence DTW)
PREFILTER_LENGTH = 16
CHUNK = 256


def resample(sequence: np.ndarray, length: int) -> np.ndarray:
    """A (n, F) sequence linearly resampled to (length, F)."""
    sequence = np.asarray(sequence, np.float64)
    if len(sequence) == 1:
        return np.repeat(sequence, length, axis=0)
    source = np.linspace(0.0, len(sequence) - 1.0, length)
    base = np.arange(len(sequence))
    return np.stack([np.interp(source, base, sequence[:, f]) for f in range(sequence.shape[1])], axis=1)


def dtw_batch(queries: np.ndarray, references: np.ndarray, band_fraction: float | None = BAND_FRACTION) -> np.ndarray:
    """DTW distances (P,) between pairs of sequences: ``queries`` (P, n, F), ``references``
    (P, m, F), each normalised by m. ``band_fraction`` limits how far the path may stray from
    the diagonal (None = no limit)."""
    pairs, n, _ = queries.shape
    m = references.shape[1]
    cost = np.linalg.norm(queries[:, :, None, :] - references[:, None, :, :], axis=-1)  # (P, n, m)
    if band_fraction is not None:
        band = max(1.0, band_fraction * max(n, m))
        rows = np.arange(n)[:, None] * ((m - 1) / max(n - 1, 1))
        cost = np.where(np.abs(rows - np.arange(m)[None, :]) <= band, cost, np.inf)
    total = np.full((pairs, n + 1, m + 1), np.inf)
    total[:, 0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            best = np.minimum(np.minimum(total[:, i - 1, j - 1], total[:, i - 1, j]), total[:, i, j - 1])
            total[:, i, j] = cost[:, i - 1, j - 1] + best
    return total[:, n, m] / m


def dtw_distance(query: np.ndarray, reference: np.ndarray, band_fraction: float | None = None) -> float:
    """DTW distance between two sequences (n, F) and (m, F), normalised by m."""
    pair = np.asarray(query, np.float64)[None], np.asarray(reference, np.float64)[None]
    return float(dtw_batch(*pair, band_fraction)[0])


@dataclass
class DtwClassifier:
    """1-NN under DTW over equal-length example sequences (N, L, F) with class ``labels``."""

    examples: np.ndarray
    labels: np.ndarray
    classes: list[str]

    @staticmethod
    def fit(sequences: np.ndarray, names: list[str]) -> DtwClassifier:
        """A classifier of ``sequences`` (N, L, F) named ``names``. Raises GestureError when
        there are none or the counts differ."""
        sequences = np.asarray(sequences, np.float64)
        if sequences.ndim != 3 or len(sequences) == 0 or len(sequences) != len(names):
            raise GestureError(
                f"need sequences (N, L, F) with a name each; got {sequences.shape} and {len(names)} names"
            )
        classes = sorted(set(names))
        return DtwClassifier(sequences, np.array([classes.index(name) for name in names], np.int32), classes)

    def predict_batch(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class indices (Q,) and DTW distances to the nearest example (Q,) of ``queries``
        (Q, L, F)."""
        queries = np.asarray(queries, np.float64)
        flat_examples = self.examples.reshape(len(self.examples), -1)
        labels = np.zeros(len(queries), np.int32)
        distances = np.zeros(len(queries))
        for start in range(0, len(queries), CHUNK):
            block = queries[start : start + CHUNK]
            flat = block.reshape(len(block), -1)
            d2 = (flat**2).sum(1)[:, None] + (flat_examples**2).sum(1)[None] - 2.0 * flat @ flat_examples.T
            shortlist = np.argsort(d2, axis=1)[:, :SHORTLIST]  # (q, S)
            pairs = dtw_batch(np.repeat(block, shortlist.shape[1], axis=0), self.examples[shortlist.ravel()])
            pairs = pairs.reshape(shortlist.shape)
            best = pairs.argmin(axis=1)
            labels[start : start + len(block)] = self.labels[shortlist[np.arange(len(block)), best]]
            distances[start : start + len(block)] = pairs[np.arange(len(block)), best]
        return labels, distances


class StreamingMatcher:
    """Open-begin subsequence DTW of a live stream against one template (m, F).

    ``step(x)`` takes the next frame's descriptor and returns the distance of the best match of
    the template ending at this frame (normalised by m); ``reset()`` forgets the stream.
    """

    def __init__(self, template: np.ndarray) -> None:
        self.template = np.asarray(template, np.float64)
        if self.template.ndim != 2 or len(self.template) == 0:
            raise GestureError(f"a template must be a (frames, features) array, got shape {self.template.shape}")
        self.reset()

    def reset(self) -> None:
        self._column = np.full(len(self.template) + 1, np.inf)  # D(t-1, 0..m)
        self._column[0] = 0.0

    def step(self, descriptor: np.ndarray) -> float:
        """Distance of the best match ending now (inf before any match is possible)."""
        cost = np.linalg.norm(self.template - descriptor, axis=1)  # (m,)
        previous = self._column
        # D(t, i) = c(i) + min(D(t-1, i-1), D(t-1, i), D(t, i-1)), D(t, 0) = 0. The last term
        # chains along the column; unrolled it is a running minimum over cumulative sums.
        diagonal_or_left = np.minimum(previous[:-1], previous[1:])  # (m,) for i = 1..m
        cumulative = np.concatenate([[0.0], np.cumsum(cost)])  # S(0..m)
        entry = np.minimum.accumulate(np.concatenate([[0.0], diagonal_or_left - cumulative[:-1]]))
        column = np.empty_like(previous)
        column[0] = 0.0
        column[1:] = cumulative[1:] + entry[1:]
        self._column = column
        return float(column[-1] / len(self.template))
