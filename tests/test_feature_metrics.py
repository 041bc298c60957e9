"""The domain feature extractor and the metrics of sample sets in its feature space.

One extractor is trained per session (35-50 s on 2 busy CPU cores, the offline MNIST 5k)
into a temporary $GENKIT_CACHE; every other test loads it from there. The margins of the discrimination
tests were measured with extractors of seeds 0, 1 and 2 (see each test) and leave room
for run-to-run variation of the training. The Fashion-MNIST extractor needs the real data
set and minutes of training: `benchmarks/fashion_extractor.py` measures its accuracy.
"""

import json
import time

import numpy as np
import pytest
from scipy import ndimage

from genkit.data import load_data
from genkit.errors import GenkitError
from genkit.evaluate.classifier import class_accuracy, train_classifier
from genkit.evaluate.distribution import frechet_distance, kernel_inception_distance, mode_coverage, precision_recall
from genkit.evaluate.features import Extractor, get_extractor
from genkit.spec.data_section import DataSpec


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory):
    """$GENKIT_CACHE for this session: get_extractor and train_classifier share one temporary cache."""
    root = tmp_path_factory.mktemp("genkit_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENKIT_CACHE", str(root))
        yield root


@pytest.fixture(scope="session")
def mnist():
    return load_data(DataSpec(source="mnist", labels=True), seed=0)


@pytest.fixture(scope="session")
def extractor(mnist, cache_root):
    return get_extractor(mnist)


@pytest.fixture(scope="session")
def image_sets(mnist):
    """Sets of 1,000 images (one class: up to 1,000) to compare with the real test split."""
    rng = np.random.default_rng(0)
    x_train = np.concatenate([mnist.x_train, mnist.x_val])
    y_train = np.concatenate([mnist.y_train, mnist.y_val])
    train = x_train[rng.choice(len(x_train), 1000, replace=False)]
    return {
        "real": train,
        "blurred": ndimage.gaussian_filter(train, sigma=(0, 0.75, 0.75, 0)),  # (N, H, W, C): blur H and W only
        "noise": rng.uniform(0, 1, train.shape).astype(np.float32),
        "one_class": x_train[y_train == 3][:1000],
    }


@pytest.fixture(scope="session")
def features(extractor, mnist, image_sets):
    return extractor.features(mnist.x_test), {name: extractor.features(x) for name, x in image_sets.items()}


# --------------------------------------------------------------------------- the extractor
def test_extractor_reaches_98_percent_on_held_out_digits(extractor, mnist):
    # Measured: 0.986 (seed 0), 0.989, 0.986 (seeds 1, 2) on the 1,000 held-out offline digits.
    assert extractor.accuracy >= 0.98, extractor.describe()
    assert np.mean(extractor.predict(mnist.x_test) == mnist.y_test) == pytest.approx(extractor.accuracy)
    assert "mnist" in extractor.describe() and f"{extractor.accuracy:.4f}" in extractor.describe()


def test_features_are_float64_rows_of_the_penultimate_layer(extractor, mnist):
    f = extractor.features(mnist.x_test[:10])
    assert f.shape == (10, 256) and f.dtype == np.float64 and np.all(np.isfinite(f))
    assert extractor.predict(mnist.x_test[:10]).shape == (10,)


def test_second_call_loads_from_the_cache_fast_with_identical_features(extractor, mnist, cache_root):
    (entry,) = (cache_root / "extractors").iterdir()
    assert entry.name.startswith("mnist-") and (entry / "extractor.weights.h5").is_file()
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["accuracy"] == extractor.accuracy and meta["recipe"]["version"] and meta["origin"] == mnist.origin

    start = time.perf_counter()
    again = get_extractor(mnist)
    assert time.perf_counter() - start < 2.0
    np.testing.assert_array_equal(again.features(mnist.x_test), extractor.features(mnist.x_test))
    assert again.accuracy == extractor.accuracy


def test_minus_one_to_one_data_and_another_validation_split_share_the_cached_extractor(extractor, mnist, cache_root):
    other = load_data(DataSpec(source="mnist", labels=True, range=(-1.0, 1.0)), seed=1)
    start = time.perf_counter()
    shared = get_extractor(other)
    assert time.perf_counter() - start < 2.0  # loaded, not trained
    assert len(list((cache_root / "extractors").iterdir())) == 1
    # The same test images, handed over in [-1, 1], give the same features.
    np.testing.assert_allclose(shared.features(other.x_test), extractor.features(mnist.x_test), atol=1e-3)


def test_a_classifier_of_your_own_gives_features_of_its_penultimate_layer(extractor, mnist, tmp_path):
    path = tmp_path / "classifier.keras"
    extractor.model.save(path)
    own = Extractor.from_keras(path, mnist, layer="features")
    assert own.accuracy == pytest.approx(extractor.accuracy)
    np.testing.assert_allclose(
        own.features(mnist.x_test[:50]), extractor.features(mnist.x_test[:50]), rtol=1e-5, atol=1e-5
    )
    # By default: the input of the last layer with weights, here the features after ReLU and dropout.
    default = Extractor.from_keras(path, mnist)
    np.testing.assert_allclose(
        default.features(mnist.x_test[:50]), np.maximum(extractor.features(mnist.x_test[:50]), 0), atol=1e-5
    )


def test_an_unreadable_cache_entry_is_trained_again(tmp_path):
    tiny = load_data(DataSpec(source="mnist", labels=True, limit=300), seed=0)
    get_extractor(tiny, cache_dir=tmp_path, epochs=1)
    (entry,) = tmp_path.iterdir()
    (entry / "meta.json").write_text("{ half a file")
    again = get_extractor(tiny, cache_dir=tmp_path, epochs=1)
    assert json.loads((entry / "meta.json").read_text())["accuracy"] == again.accuracy
    assert [p.name for p in tmp_path.iterdir()] == [entry.name]  # replaced in place, nothing left over


def test_unlabelled_data_is_refused_with_a_fix(mnist):
    unlabelled = load_data(DataSpec(source="mnist", limit=200), seed=0)
    with pytest.raises(GenkitError, match="needs labels.*data.labels: true"):
        get_extractor(unlabelled)


# --------------------------------------------------------------------------- discrimination
def test_fid_orders_real_blurred_and_noise_images(features):
    f_test, sets = features
    fid = {name: frechet_distance(f_test, f) for name, f in sets.items()}
    # Measured with extractors of seeds 0 / 1 / 2: real 14.2 / 14.8 / 14.6; blurred 194 / 288 / 254
    # (14-20x real); noise 1449 / 1512 / 1550 (5.2-7.5x blurred); one class 1415 / 1462 / 1432.
    assert fid["blurred"] > 5 * fid["real"], fid
    assert fid["noise"] > 3 * fid["blurred"], fid
    assert fid["one_class"] > 20 * fid["real"], fid


def test_kid_orders_real_blurred_and_noise_images(features):
    f_test, sets = features
    kid = {name: kernel_inception_distance(f_test, f, subsets=20, subset_size=500) for name, f in sets.items()}
    mean = {name: k["mean"] for name, k in kid.items()}
    # Measured (seeds 0 / 1 / 2): real 1.9 / 2.6 / 1.8 (std 1.6-2.1); blurred 76 / 122 / 102;
    # noise 153 / 188 / 192 (1.5-2.0x blurred); one class 1046 / 1430 / 1319.
    assert mean["real"] < 0.1 * mean["blurred"], kid
    assert mean["noise"] > 1.25 * mean["blurred"], kid
    assert mean["one_class"] > 5 * mean["blurred"], kid


def test_precision_and_recall_of_real_images_are_high_and_noise_is_off_the_manifold(features):
    f_test, sets = features
    real = precision_recall(f_test, sets["real"])
    noise = precision_recall(f_test, sets["noise"])
    one_class = precision_recall(f_test, sets["one_class"])
    assert real["precision"] > 0.6 and real["recall"] > 0.6, real  # measured 0.89-0.90 / 0.92-0.93
    assert noise["precision"] < 0.05, noise  # measured 0.000
    # Real digits (precision ~0.90), but a tenth of the variety (recall 0.13-0.16).
    assert one_class["recall"] < 0.4 < one_class["precision"], one_class


# --------------------------------------------------------------------------- class accuracy, modes
def test_class_accuracy_is_chance_with_shuffled_labels_and_high_with_true_ones(extractor, mnist):
    classifier, accuracy = train_classifier(mnist)  # the cached extractor's network
    assert accuracy == extractor.accuracy
    shuffled = np.random.default_rng(0).permutation(mnist.y_test)
    assert abs(class_accuracy(classifier, mnist.x_test, shuffled)["overall"] - 0.1) < 0.1
    scores = class_accuracy(classifier, mnist.x_test, mnist.y_test)
    assert scores["overall"] >= 0.98 and set(scores["per_class"]) == set(range(10))


def test_train_classifier_takes_images_in_the_data_range(mnist, cache_root):
    other = load_data(DataSpec(source="mnist", labels=True, range=(-1.0, 1.0)), seed=0)
    classifier, accuracy = train_classifier(other)
    assert class_accuracy(classifier, other.x_test, other.y_test)["overall"] == pytest.approx(accuracy)


def test_mode_coverage_of_one_class_and_of_balanced_predictions():
    collapsed = mode_coverage(np.full(500, 7), 10)
    assert collapsed["coverage"] == 0.1 and collapsed["entropy"] == 0.0 and collapsed["counts"][7] == 500
    balanced = mode_coverage(np.repeat(np.arange(10), 50), 10)
    assert balanced["coverage"] == 1.0 and balanced["entropy"] == pytest.approx(1.0)
    half = mode_coverage(np.repeat(np.arange(5), 100), 10)
    assert half["coverage"] == 0.5 and half["entropy"] == pytest.approx(np.log(5) / np.log(10))


def test_mode_coverage_of_real_digits_is_full(extractor, mnist, image_sets):
    assert mode_coverage(extractor.predict(mnist.x_test), 10)["entropy"] > 0.99
    assert mode_coverage(extractor.predict(image_sets["one_class"]), 10)["entropy"] < 0.1


def test_mode_coverage_refuses_labels_outside_the_classes():
    with pytest.raises(ValueError, match=r"integers in \[0, 9\]; got int64 values in \[0, 10\]"):
        mode_coverage(np.array([0, 10]), 10)


# --------------------------------------------------------------------------- the formulas
def _gaussian_samples(mean, std, n, seed):
    """n points whose sample mean and covariance (N - 1) are exactly `mean` and diag(std²)."""
    z = np.random.default_rng(seed).normal(size=(n, len(mean)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # whitened: covariance exactly I
    return z * std + mean


def test_frechet_distance_of_identical_sets_is_zero():
    f = np.random.default_rng(0).normal(size=(500, 16))
    assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    # |mu1 - mu2|² = 1 + 4 + 0 = 5; sum (sigma1 - sigma2)² = (1 - 2)² + (2 - 2)² + (3 - 1)² = 5.
    a = _gaussian_samples(np.zeros(3), np.array([1.0, 2.0, 3.0]), 2000, seed=0)
    b = _gaussian_samples(np.array([1.0, 2.0, 0.0]), np.array([2.0, 2.0, 1.0]), 3000, seed=1)
    assert frechet_distance(a, b) == pytest.approx(10.0, rel=1e-9)
    # A common rotation changes neither distance nor FID, but makes the covariances full.
    rotation, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))
    assert frechet_distance(a @ rotation, b @ rotation) == pytest.approx(10.0, rel=1e-9)


def test_frechet_distance_survives_singular_covariances():
    f = np.random.default_rng(0).normal(size=(300, 8))
    f[:, :3] = 0.0  # dead units, as after a ReLU
    g = f + np.array([0, 0, 0, 1, 0, 0, 0, 0.0])
    assert frechet_distance(f, g) == pytest.approx(1.0, abs=1e-3)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(0)
    same = kernel_inception_distance(rng.normal(size=(800, 8)), rng.normal(size=(800, 8)), subsets=20, subset_size=400)
    shifted = kernel_inception_distance(
        rng.normal(size=(800, 8)), rng.normal(0.5, 1, size=(800, 8)), subsets=20, subset_size=400
    )
    assert abs(same["mean"]) < 3 * same["std"] + 1e-3
    assert shifted["mean"] > 10 * max(abs(same["mean"]), same["std"])
    assert same["subset_size"] == 400


def test_precision_recall_of_one_distribution_is_high_and_of_far_apart_sets_is_zero():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(1000, 4)), rng.normal(size=(1000, 4))
    same = precision_recall(a, b)
    assert same["precision"] > 0.8 and same["recall"] > 0.8
    apart = precision_recall(a, b + 100.0)
    assert apart["precision"] == 0.0 and apart["recall"] == 0.0
