"""Grouping segments by voice: average-linkage clustering of their speaker embeddings by cosine distance.

Average linkage joins two groups when their members are alike on average, so one odd segment (a shout, a
laugh) neither bridges two voices nor starts a group of its own as easily as single linkage would. Its cut can
still leave one voice in two groups when the voice's segments are, pair by pair, only just alike (short lines
give noisy embeddings; ten minutes of Piper split once in a few runs): groups whose centroids are as alike as
the threshold are then joined, since a centroid averages that noise away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Grouping:
    labels: list[int]  # per segment, 0-based, numbered in order of first appearance
    confidences: list[float]  # per segment: cosine to its group's centroid
    centroids: list[np.ndarray]  # per group: the unit-length mean of its members


def group_speakers(embeddings: list[np.ndarray], similarity: float) -> Grouping:
    """Group unit vectors whose average cosine similarity is at least `similarity` (0-1). Blocking (a 90-minute
    source's 2000 segments take about a second): call it in a worker thread."""
    if not embeddings:
        return Grouping([], [], [])
    vectors = np.stack(embeddings).astype(np.float64)
    if len(vectors) == 1:
        raw = np.zeros(1, dtype=int)
    else:
        from scipy.cluster.hierarchy import fcluster, linkage

        tree = linkage(vectors, method="average", metric="cosine")
        raw = fcluster(tree, t=1.0 - similarity, criterion="distance")
    labels = _join_close_groups(vectors, [int(label) for label in raw], similarity)
    order: dict[int, int] = {}
    labels = [order.setdefault(label, len(order)) for label in labels]
    centroids = [_centroid(vectors, labels, group) for group in range(len(order))]
    confidences = [float(np.clip(vectors[i] @ centroids[label], 0.0, 1.0)) for i, label in enumerate(labels)]
    return Grouping(labels, confidences, centroids)


def _centroid(vectors: np.ndarray, labels: list[int], group: int) -> np.ndarray:
    mean = vectors[[i for i, label in enumerate(labels) if label == group]].mean(axis=0)
    return (mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32)


def _join_close_groups(vectors: np.ndarray, labels: list[int], similarity: float) -> list[int]:
    """Join the two groups with the most alike centroids while their cosine is at least `similarity`."""
    ids = np.unique(np.asarray(labels), return_inverse=True)[1]
    while ids.max() > 0:
        sums = np.zeros((ids.max() + 1, vectors.shape[1]))
        np.add.at(sums, ids, vectors)
        centroids = sums / (np.linalg.norm(sums, axis=1, keepdims=True) + 1e-12)
        alike = centroids @ centroids.T
        np.fill_diagonal(alike, -1.0)
        first, second = sorted(np.unravel_index(int(np.argmax(alike)), alike.shape))
        if alike[first, second] < similarity:
            break
        ids = np.where(ids == second, first, ids)
        ids = np.where(ids > second, ids - 1, ids)
    return [int(i) for i in ids]
