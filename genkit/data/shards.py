"""Data larger than memory: training shards streamed through tf.data (`npz_shards`, `tfrecord`).

`data.path` is a glob of training shards, read a few at a time: the shard order is
shuffled every epoch, `min(4, shards)` shards are interleaved example by example, a
buffer of `data.shuffle_buffer` examples shuffles further, and batches are prefetched.
Memory holds the open shards and the buffer, never the whole set. `data.val_path` and
`data.test_path` are globs of (small) shards loaded into memory, because evaluation and
export need arrays.

- `npz_shards`: `.npz` files, each holding images under `data.x_key` and, optionally,
  labels under `data.y_key`, like one file of the `npz` source.
- `tfrecord`: files of `tf.train.Example` records with an encoded PNG or JPEG image
  under `image` (bytes) and, optionally, an int64 class under `label`.

Each epoch reads every training example once (the last short batch included, except
under several replicas: see `genkit.train.distribute`). A `Dataset`'s `x_train` holds
only the first `SAMPLE` training examples, for what needs arrays (a fitted prior, FID's
training reference, the export's parity batch); `n_train` counts them all.

Example, writing shards this module reads:

    write_npz_shards("shards/train", x_train, y_train, per_shard=10_000)
    # data: {source: npz_shards, path: "shards/train-*.npz", test_path: "shards/test-*.npz"}
"""

from __future__ import annotations

import glob
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genkit.data.arrays import checked_images, checked_labels, limited_test_size, scaled
from genkit.data.dataset import Dataset
from genkit.data.readers import READ_ERRORS
from genkit.data.source import data_error, register_source

__all__ = ["SAMPLE", "Shards", "StreamedDataset", "streamed_dataset", "write_npz_shards", "write_tfrecord_shards"]

SAMPLE = 4096  # training examples kept in memory as `x_train`
INTERLEAVED = 4  # shards read at once


@dataclass(frozen=True)
class Shards:
    """What a streamed source found: its kind and the sorted files of each split."""

    kind: str  # "npz_shards" or "tfrecord"
    train: tuple
    val: tuple
    test: tuple


def _matches(pattern: str | None, field: str, kind: str) -> tuple:
    if not pattern:
        raise data_error(field, f"the {kind} source reads a glob of shard files here, but it is not set.")
    files = tuple(p for p in sorted(glob.glob(str(Path(pattern).expanduser()))) if Path(p).is_file())
    if not files:
        raise data_error(
            field,
            f"{pattern!r} matches no files. Give a glob of shard files, e.g. 'shards/train-*' "
            "(a relative path in a spec file is read from that file's folder)."
        )
    return files


def _find(data, kind: str) -> Shards:
    val = _matches(data.val_path, "val_path", kind) if data.val_path else ()
    return Shards(kind, _matches(data.path, "path", kind), val, _matches(data.test_path, "test_path", kind))


@register_source("npz_shards")
def npz_shards(data) -> Shards:
    return _find(data, "npz_shards")


@register_source("tfrecord")
def tfrecord(data) -> Shards:
    return _find(data, "tfrecord")


@dataclass(frozen=True, eq=False)
class StreamedDataset(Dataset):
    """A `Dataset` whose training split is read from shards each epoch; `x_train` is a sample."""

    stream: Callable | None = None  # (shuffle, seed) -> tf.data.Dataset of examples, x or (x, y)
    train_size: int = 0
    shuffle_buffer: int = 1

    @property
    def n_train(self) -> int:
        return self.train_size

    def train_dataset(self, batch_size: int, *, shuffle: bool = True, seed: int = 0, drop_remainder: bool = False, from_batch=None):
        """Like `Dataset.train_dataset`. With `from_batch`, the endless stream of epochs is read
        from its start and the first `from_batch` batches skipped (read, not trained on): the
        same seeded shuffles give a resumed run the batches an uninterrupted one would see."""
        import tensorflow as tf

        examples = self.stream(shuffle, seed)
        if shuffle:
            examples = examples.shuffle(self.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        low, high = self.range
        batches = examples.batch(batch_size, drop_remainder=drop_remainder).map(
            lambda *batch: _scaled_batch(batch, low, high), num_parallel_calls=tf.data.AUTOTUNE
        )
        options = tf.data.Options()
        # Every worker reads every shard and keeps its share of each batch: sharding by file
        # would give workers unequal numbers of batches, and a collective step waits forever.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        if from_batch is not None:
            batches = batches.repeat().skip(from_batch)
        return batches.with_options(options).prefetch(tf.data.AUTOTUNE)


def _scaled_batch(batch, low: float, high: float):
    """Stored values (uint8 counts or [0, 1] floats) -> float32 in [low, high], with a channel axis."""
    import tensorflow as tf

    x = batch[0]
    scaled = tf.cast(x, tf.float32) / (255.0 if x.dtype.is_integer else 1.0) * (high - low) + low
    if len(x.shape) == 3:
        scaled = scaled[..., None]  # (B, H, W) -> (B, H, W, 1)
    return scaled if len(batch) == 1 else (scaled, tf.cast(tf.reshape(batch[1], (-1,)), tf.int32))


# --------------------------------------------------------------------------- readers
def _npz_shard(path, data, labelled: bool):
    """(x, y or None) of one .npz shard, checked like the npz source's file."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files if key in (data.x_key, data.y_key)}
    except READ_ERRORS as error:
        raise data_error("path", f"{path} is not a readable .npz file ({error}).") from None
    if data.x_key not in arrays:
        raise data_error("x_key", f"shard {path} has no array {data.x_key!r}.")
    x = checked_images(arrays[data.x_key], f"data.x_key ({data.x_key!r} in {Path(path).name})")
    y = checked_labels(arrays, data.y_key, len(x), Path(path).name) if labelled else None
    if labelled and y is None:
        raise data_error("y_key", f"labels are needed, but shard {path} has no array {data.y_key!r}.")
    return x, y


def _npz_length(path, key: str) -> int:
    """Examples in a shard, read from the array's header without loading it."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as f:
            version = np.lib.format.read_magic(f)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            return int(header(f)[0][0])
    except (KeyError, *READ_ERRORS) as error:
        raise data_error("path", f"cannot read array {key!r} of shard {path} ({error}).") from None


def _npz_plan(shards: Shards, data, labelled: bool):
    """(read_shard, train size, largest label, example shape, dtype) of npz shards."""
    import tensorflow as tf

    x0, _ = _npz_shard(shards.train[0], data, False)
    size, top = 0, -1
    for path in shards.train:
        if labelled:  # labels are small: read them all, for the class count
            y = _only_labels(path, data)
            size, top = size + len(y), max(top, int(y.max(initial=0)))
        else:
            size += _npz_length(path, data.x_key)
    spec = tf.TensorSpec((None, *x0.shape[1:]), tf.as_dtype(x0.dtype))
    signature = (spec, tf.TensorSpec((None,), tf.int64)) if labelled else (spec,)

    def arrays(path):
        x, y = _npz_shard(path.decode(), data, labelled)
        if x.shape[1:] != x0.shape[1:] or x.dtype != x0.dtype:
            raise data_error("path", f"shard {path.decode()} holds {x.dtype} {x.shape[1:]}; the first holds {x0.dtype} {x0.shape[1:]}.")
        yield (x, y) if labelled else (x,)

    def read_shard(path):
        return tf.data.Dataset.from_generator(arrays, args=(path,), output_signature=signature).unbatch()

    return read_shard, size, top, x0.shape[1:], x0.dtype


def _only_labels(path, data) -> np.ndarray:
    with np.load(path, allow_pickle=False) as f:
        y = checked_labels({k: f[k] for k in f.files if k == data.y_key}, data.y_key, _npz_length(path, data.x_key), Path(path).name)
    if y is None:
        raise data_error("y_key", f"labels are needed, but shard {path} has no array {data.y_key!r}.")
    return y


def _tfrecord_plan(shards: Shards, data, labelled: bool):
    """(read_shard, train size, largest label, example shape, dtype) of TFRecord shards.

    Counting needs one pass over the training records (reading, not decoding, them).
    """
    import tensorflow as tf

    features = {"image": tf.io.FixedLenFeature([], tf.string)}
    if labelled:
        features["label"] = tf.io.FixedLenFeature([], tf.int64)
    try:
        first = tf.io.parse_single_example(next(iter(tf.data.TFRecordDataset(shards.train[0]))), features)
        shape = tuple(tf.io.decode_image(first["image"], expand_animations=False).shape)
        counted = tf.data.TFRecordDataset(list(shards.train))
        if labelled:
            labels = counted.map(lambda r: tf.io.parse_single_example(r, {"label": features["label"]})["label"])
            size, top = labels.reduce((np.int64(0), np.int64(-1)), lambda acc, y: (acc[0] + 1, tf.maximum(acc[1], y)))
        else:
            size, top = counted.reduce(np.int64(0), lambda n, _: n + 1), np.int64(-1)
    except (tf.errors.OpError, StopIteration) as error:
        raise data_error(
            "path",
            f"cannot read {shards.train[0]} as TFRecords of tf.train.Example with an encoded 'image'"
            f"{' and an int64 label' if labelled else ''} ({type(error).__name__}: {getattr(error, 'message', error)})."
        ) from None

    def parse(record):
        example = tf.io.parse_single_example(record, features)
        x = tf.ensure_shape(tf.io.decode_image(example["image"], channels=shape[-1], expand_animations=False), shape)
        return (x, example["label"]) if labelled else (x,)

    def read_shard(path):
        return tf.data.TFRecordDataset(path).map(parse)

    return read_shard, int(size), int(top), shape, np.uint8


def _read_all(read_shard, files) -> tuple:
    """Every example of `files` as arrays: (x, y or None)."""
    import tensorflow as tf

    return _collect(tf.data.Dataset.from_tensor_slices(list(files)).flat_map(read_shard))


def _collect(examples) -> tuple:
    """A finite dataset of examples (x,) or (x, y) as arrays: (x, y or None)."""
    parts = list(zip(*(tuple(np.asarray(t) for t in batch) for batch in examples.batch(4096))))
    return np.concatenate(parts[0]), (np.concatenate(parts[1]) if len(parts) > 1 else None)


def streamed_dataset(shards: Shards, data, seed: int, labelled: bool) -> StreamedDataset:
    """The `Dataset` of a streamed source: training stream, in-memory sample, val and test arrays."""
    import tensorflow as tf


    plan = _npz_plan if shards.kind == "npz_shards" else _tfrecord_plan
    read_shard, size, top, _shape, _dtype = plan(shards, data, labelled)
    if data.limit is not None:
        size = min(size, data.limit)

    def stream(shuffle: bool, seed: int):
        files = tf.data.Dataset.from_tensor_slices(list(shards.train))
        if shuffle and data.limit is None:  # with a limit, the first N examples in file order
            files = files.shuffle(len(shards.train), seed=seed, reshuffle_each_iteration=True)
        examples = files.interleave(
            read_shard, cycle_length=min(INTERLEAVED, len(shards.train)), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        return examples.take(size)

    def in_memory(x, y, n=None):
        x, y = x[:n], (None if y is None else y[:n])
        return scaled(x, *data.range), (None if y is None else y.reshape(-1).astype(np.int32))

    x_sample, y_sample = in_memory(*_collect(stream(False, 0).take(SAMPLE)))
    n_test = limited_test_size(data.limit) if data.limit is not None else None
    x_test, y_test = in_memory(*_read_all(read_shard, shards.test), n_test)
    if shards.val:
        x_val, y_val = in_memory(*_read_all(read_shard, shards.val))
    else:
        x_val, y_val = x_test[:0], (None if y_test is None else y_test[:0])
    num_classes = None
    if labelled:
        num_classes = int(max(top, y_test.max(initial=0), y_val.max(initial=0))) + 1
    origin = f"{len(shards.train)} {shards.kind} training shard(s) {data.path!r}, test {data.test_path!r}" + (
        f", validation {data.val_path!r}" if shards.val else ", no validation shards"
    )
    return StreamedDataset(
        source=data.source,
        origin=origin,
        x_train=x_sample,
        y_train=y_sample,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        num_classes=num_classes,
        shape=tuple(x_test.shape[1:]),
        range=(float(data.range[0]), float(data.range[1])),
        stream=stream,
        train_size=size,
        shuffle_buffer=data.shuffle_buffer,
    )


# --------------------------------------------------------------------------- writers
def write_npz_shards(prefix, x: np.ndarray, y: np.ndarray | None = None, *, per_shard: int) -> list[Path]:
    """Write `x` (and labels `y`) as `.npz` shards `<prefix>-00000-of-000NN.npz` of `per_shard` examples."""
    paths = []
    for index, start in enumerate(range(0, len(x), per_shard)):
        path = _shard_path(prefix, index, -(-len(x) // per_shard), ".npz")
        arrays = {"x": x[start : start + per_shard]}
        if y is not None:
            arrays["y"] = y[start : start + per_shard]
        np.savez(path, **arrays)
        paths.append(path)
    return paths


def write_tfrecord_shards(prefix, x: np.ndarray, y: np.ndarray | None = None, *, per_shard: int) -> list[Path]:
    """Write uint8 images `x` (N, H, W[, C]) as PNG-encoded `tf.train.Example` shards `<prefix>-00000-of-000NN.tfrecord`."""
    import tensorflow as tf

    images = x[..., None] if x.ndim == 3 else x  # (N, H, W, C)
    paths = []
    for index, start in enumerate(range(0, len(x), per_shard)):
        path = _shard_path(prefix, index, -(-len(x) // per_shard), ".tfrecord")
        with tf.io.TFRecordWriter(str(path)) as writer:
            for i in range(start, min(start + per_shard, len(x))):
                feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.encode_png(images[i]).numpy()]))}
                if y is not None:
                    feature["label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(y[i])]))
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
        paths.append(path)
    return paths


def _shard_path(prefix, index: int, count: int, suffix: str) -> Path:
    path = Path(f"{prefix}-{index:05d}-of-{count:05d}{suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
