"""`load_data`: from a `DataSpec` to the `Dataset` of a run.

Every source goes through the same steps, in this order:

1. the source finds and reads its train and test images (`genkit.data.source`);
2. labels are kept or dropped (`data.labels`, or the caller's `need_labels`);
3. `data.limit` keeps the first N training examples — and caps the test split at
   max(100, N // 4), so that a tiny test run also evaluates on little data; without
   `limit` the whole test split is kept; then `data.image_size` resizes the images kept
   (`genkit.data.resize`; folder images are resized as read, `shapes` drawn at that size);
4. `data.validation_split` holds out a seeded random share of those training examples;
5. values become float32 in `data.range` (uint8 x / 255 for [0, 1]; x / 127.5 - 1
   for [-1, 1]) and images gain a channel axis (N, H, W) -> (N, H, W, 1).

Ground-truth factors (`shapes`) go through steps 3 and 4 with their images, row for row.
"""

from __future__ import annotations

import numpy as np

from genkit.data.arrays import limited_test_size, scaled
from genkit.data.builtin import BUILTIN_CLASSES, BUILTIN_SHAPES
from genkit.data.dataset import Dataset
from genkit.data.resize import at_size
from genkit.data.shapes import SHAPES, image_side
from genkit.data.shards import Shards, streamed_dataset
from genkit.data.source import data_error, get_source
from genkit.data.splits import validation_split

__all__ = ["known_shape", "load_data"]


def known_shape(data) -> tuple | None:
    """(example shape, number of classes or None) of the data `data` describes, when it is known
    without reading any image: the keras.datasets sources and `shapes`, at `data.image_size`.
    None for sources whose images must be read to learn it (npz, folder, shards).
    """
    if data.source == "shapes":
        side = image_side(data.image_size)
        shape, classes = (side, side, 3), len(SHAPES)
    elif data.source in BUILTIN_SHAPES:
        shape, classes = BUILTIN_SHAPES[data.source], BUILTIN_CLASSES
        if data.image_size is not None:
            shape = (*data.image_size, shape[2])
    else:
        return None
    return tuple(shape), (classes if data.labels else None)


def load_data(data, seed: int, *, need_labels: bool | None = None) -> Dataset:
    """The train / validation / test data that `data` (a `DataSpec`) describes.

    Args:
        data: the spec's `data` section.
        seed: the spec seed; picks the validation examples (same seed, same split).
        need_labels: whether the caller needs labels; None means `data.labels`. A
            conditional family passes True, so that data without labels is an error
            rather than a surprise at the first training step.

    Raises:
        SpecError: the data cannot be found or read, or labels are needed but the source
            has none. Raised where the problem is found, with the path of the `data.<field>`
            to change (`source.data_error`), so the CLI can point at the spec line.
        GenkitError: a problem outside the spec, such as a bad copy in $GENKIT_DATA, or an
            array of the npz source's file (named by its key) that holds no images.
    """
    if data.translation is not None:
        from genkit.data.translation import load_translation  # it builds on this module's helpers

        return load_translation(data, seed)
    raw = get_source(data.source)(data)
    labelled = data.labels if need_labels is None else need_labels
    if isinstance(raw, Shards):
        if data.image_size is not None:
            raise data_error("image_size", f"{data.source} shards are streamed as stored; write them at the size you want.")
        return streamed_dataset(raw, data, seed, labelled)
    if labelled and (raw.y_train is None or raw.y_test is None):
        hint = " Set data.y_key to the name of the label array in the file." if data.source == "npz" else ""
        raise data_error("labels", f"labels are needed, but {raw.origin} has none.{hint}")

    x_train, y_train, x_test, y_test = raw.x_train, raw.y_train, raw.x_test, raw.y_test
    f_train, f_test = raw.factors_train, raw.factors_test
    if data.exclude_classes:
        # Train and validate on the other classes only; the test split keeps every class, so
        # an anomaly detector is scored on the classes it never saw.
        if y_train is None:
            raise data_error("exclude_classes", f"{raw.origin} has no labels to exclude classes by.")
        keep = ~np.isin(y_train, data.exclude_classes)
        x_train, y_train, f_train = x_train[keep], y_train[keep], _rows(f_train, keep)
    num_classes = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1 if labelled else None
    if data.limit is not None:
        n_test = limited_test_size(data.limit)
        x_train, y_train, f_train = x_train[: data.limit], _rows(y_train, slice(data.limit)), _rows(f_train, slice(data.limit))
        x_test, y_test, f_test = x_test[:n_test], _rows(y_test, slice(n_test)), _rows(f_test, slice(n_test))
    origin = raw.origin
    if data.image_size is not None and x_train.shape[1:3] != tuple(data.image_size):
        x_train, x_test = at_size(x_train, data.image_size, origin), at_size(x_test, data.image_size, origin)
        origin = f"{origin}, resized to {data.image_size[0]}x{data.image_size[1]}"

    train, val = validation_split(len(x_train), data.validation_split, seed)
    if len(train) == 0:
        raise data_error(
            "validation_split",
            f"{data.validation_split} of {len(x_train)} training example(s) "
            "leaves none to train on; lower it or raise data.limit."
        )
    low, high = data.range

    def prepared(x, y, keep=slice(None)):
        return scaled(x[keep], low, high), (y[keep].reshape(-1).astype(np.int32) if labelled else None)

    x_tr, y_tr = prepared(x_train, y_train, train)
    x_val, y_val = prepared(x_train, y_train, val)
    x_te, y_te = prepared(x_test, y_test)
    return Dataset(
        source=data.source,
        origin=origin,
        x_train=x_tr,
        y_train=y_tr,
        x_val=x_val,
        y_val=y_val,
        x_test=x_te,
        y_test=y_te,
        num_classes=num_classes,
        shape=x_tr.shape[1:],
        range=(float(low), float(high)),
        factors_train=_rows(f_train, train),
        factors_val=_rows(f_train, val),
        factors_test=_rows(f_test, slice(None)),
        factor_space=raw.factor_space,
    )


def _rows(array, keep):
    """`array[keep]` as a NumPy array (a cached memory map is read here), or None for None."""
    return None if array is None else np.asarray(array[keep])

