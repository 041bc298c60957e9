"""`Dataset`: the train / validation / test arrays a run uses, and tf.data pipelines over them.

The arrays are NumPy, float32, already in the spec's value range, with a channel axis
on images; labels are int32 or None. TensorFlow is imported only by the two pipeline
methods, so loading and describing data stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genkit.data.factors import FactorSpace

__all__ = ["Dataset"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """The data of one run, as `load_data` returns it.

    Example:

        data = load_data(spec.data, spec.seed)
        print(data.describe())
        model.fit(data.train_dataset(spec.data.batch_size, seed=spec.seed),
                  validation_data=data.eval_dataset("val", spec.data.batch_size))
    """

    source: str  # data.source, e.g. "mnist"
    origin: str  # where the images really came from, e.g. "keras.datasets.mnist (Keras cache ...)"
    x_train: np.ndarray  # (N, H, W, C) or flat (N, D), float32 in `range`
    y_train: np.ndarray | None  # (N,) int32, or None when unlabelled
    x_val: np.ndarray
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    num_classes: int | None  # None when unlabelled
    shape: tuple  # one example: (H, W, C), or (D,) for flat data
    range: tuple  # (low, high) of the values: (0.0, 1.0) or (-1.0, 1.0)
    # Ground-truth factors, for sources that know them (`shapes`), else None: row i of
    # `factors_train` holds the value index of every factor of `x_train[i]`, (N, F) int32;
    # `factor_space` names the factors and lists their values (`genkit.data.factors`).
    factors_train: np.ndarray | None = None
    factors_val: np.ndarray | None = None
    factors_test: np.ndarray | None = None
    factor_space: FactorSpace | None = None

    @property
    def labelled(self) -> bool:
        return self.y_train is not None

    @property
    def factor_names(self) -> tuple | None:
        """Names of the ground-truth factors, e.g. ('shape', 'colour', ...), or None without factors."""
        return None if self.factor_space is None else self.factor_space.names

    @property
    def n_train(self) -> int:
        """Training examples per epoch (a streamed dataset holds only a sample of them in `x_train`)."""
        return len(self.x_train)

    def describe(self) -> str:
        """One line for the run log, e.g. "data: mnist from <origin>: 4,050 train / ... in [0, 1]"."""
        dims = "x".join(map(str, self.shape)) if len(self.shape) > 1 else f"{self.shape[0]} values"
        low, high = self.range
        classes = f", {self.num_classes} classes" if self.labelled else ""
        return (
            f"data: {self.source} from {self.origin}: {self.n_train:,} train / {len(self.x_val):,} "
            f"validation / {len(self.x_test):,} test images of {dims} in [{low:g}, {high:g}]{classes}"
        )

    def train_dataset(
        self, batch_size: int, *, shuffle: bool = True, seed: int = 0, drop_remainder: bool = False, from_batch=None
    ):
        """Training batches: `x`, or `(x, y)` when labelled, reshuffled every epoch with `seed`.

        The same seed gives the same sequence of epochs. Set `drop_remainder` where a step
        needs a fixed batch size (e.g. a compiled step with static shapes).

        With `from_batch` (an int), an endless stream starting at that batch, in which pass p
        over the data is shuffled by a permutation of (seed, p) alone: batch k is the same in
        every process, so a run resumed at batch k sees what an uninterrupted one would.
        """
        return self._batches(self.x_train, self.y_train, batch_size, shuffle, seed, drop_remainder, from_batch)

    def eval_dataset(self, split: str, batch_size: int):
        """Batches of the "val" or "test" split in order, `x` or `(x, y)` like `train_dataset`."""
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', got {split!r}")
        x, y = (self.x_val, self.y_val) if split == "val" else (self.x_test, self.y_test)
        return self._batches(x, y, batch_size, False, 0, False)

    @staticmethod
    def _batches(x, y, batch_size, shuffle, seed, drop_remainder, from_batch=None):
        import tensorflow as tf

        # The pipeline shuffles and batches indices, then gathers each batch of images:
        # a shuffle buffer of images would hold a second copy of the training set, one of
        # int64 indices is small. The arrays become tensors once and stay in memory, so
        # there is nothing for `.cache()` to save.
        arrays = tuple(tf.constant(a) for a in (x, y) if a is not None)
        if from_batch is not None:
            batches = index_stream(len(x), batch_size, shuffle, seed, drop_remainder, from_batch)
        else:
            indices = tf.data.Dataset.range(len(x))
            if shuffle:
                indices = indices.shuffle(max(len(x), 1), seed=seed, reshuffle_each_iteration=True)
            batches = indices.batch(batch_size, drop_remainder=drop_remainder)
        if len(arrays) == 1:
            batches = batches.map(lambda idx: tf.gather(arrays[0], idx))  # (B, H, W, C)
        else:
            batches = batches.map(lambda idx: tuple(tf.gather(a, idx) for a in arrays))  # (x, y)
        return batches.prefetch(tf.data.AUTOTUNE)


def index_stream(n: int, batch_size: int, shuffle: bool, seed: int, drop_remainder: bool, from_batch: int):
    """Endless batches of indices into n examples, from batch `from_batch` on; pass p is in
    the order of a stateless permutation seeded by (seed, p), the same in any process."""
    import tensorflow as tf

    per_pass = n // batch_size if drop_remainder else -(-n // batch_size)
    first_pass, offset = divmod(from_batch, per_pass)

    def one_pass(p):
        order = tf.range(n, dtype=tf.int64)
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(order, seed=tf.stack([tf.constant(seed, tf.int64), p]))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=drop_remainder)

    return tf.data.Dataset.range(first_pass, 2**62).flat_map(one_pass).skip(offset)
