"""Anomaly scores from reconstruction error: ROC AUC, thresholds, scores of a tiny export, score_main."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genkit.errors import GenkitError
from genkit.runtime import Sampler
from genkit.runtime.anomaly import reconstruction_errors, roc_auc, roc_curve, score_main, threshold_at_fpr

REPO = Path(__file__).resolve().parents[1]
SHAPE = (4, 4, 1)
LATENT = 4


# --------------------------------------------------------------------------- a tiny linear autoencoder
def _quadrant_basis() -> np.ndarray:
    """(16, 4) orthonormal columns: the images that are constant on each 2x2 quadrant."""
    basis = np.zeros((4, 4, LATENT))
    for k, (r, c) in enumerate(((0, 0), (0, 2), (2, 0), (2, 2))):
        basis[r : r + 2, c : c + 2, k] = 0.5  # four pixels of 0.5: unit norm
    return basis.reshape(16, LATENT)


def _projection_networks():
    """Encoder B^T and decoder B: reconstruction is the orthogonal projection onto quadrant-constant images."""
    import keras

    basis = _quadrant_basis().astype("float32")
    x = keras.Input(SHAPE, name="x")
    to_code = keras.layers.Dense(LATENT, use_bias=False, name="z")
    encoder = keras.Model(x, to_code(keras.layers.Flatten()(x)))
    to_code.set_weights([basis])
    z = keras.Input((LATENT,), name="z")
    from_code = keras.layers.Dense(16, use_bias=False)
    decoder = keras.Model(z, keras.layers.Reshape(SHAPE, name="x")(from_code(z)))
    from_code.set_weights([basis.T])
    return encoder, decoder


def _manifest(name, value_range=(0.0, 1.0), **changes):
    manifest = {
        "format": 1,
        "name": name,
        "family": "autoencoder",
        "data": {"shape": list(SHAPE), "range": list(value_range)},
        "latent_dim": LATENT,
        "prior": {"kind": "standard_normal"},
        "sampling": {"network": "decoder", "latent_input": "z", "label_input": None, "output": "x"},
        "encoding": {"network": "encoder", "image_input": "x", "label_input": None, "outputs": ["z"]},
    }
    manifest.update(changes)
    return manifest


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """The projection autoencoder for data in [0, 1] and in [-1, 1], and a decoder-only export."""
    from genkit.export import export_networks

    root = tmp_path_factory.mktemp("anomaly_exports")
    encoder, decoder = _projection_networks()
    export_networks({"encoder": encoder, "decoder": decoder}, root / "unit", _manifest("proj_unit"))
    export_networks({"encoder": encoder, "decoder": decoder}, root / "sym", _manifest("proj_sym", (-1.0, 1.0)))
    export_networks({"decoder": decoder}, root / "dec_only", _manifest("dec_only", encoding=None))
    return root


def _normal_images(n, seed=0):
    """Quadrant-constant images in [0, 1]: the projection reconstructs them exactly."""
    quadrants = np.random.default_rng(seed).uniform(size=(n, 2, 2))
    return np.kron(quadrants, np.ones((2, 2)))[..., None].astype(np.float32)  # (n, 4, 4, 1)


def _noise_images(n, seed=1):
    return np.random.default_rng(seed).uniform(size=(n, *SHAPE)).astype(np.float32)


# --------------------------------------------------------------------------- roc_auc, roc_curve
def test_roc_auc_is_one_for_perfect_separation_and_zero_reversed():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8])
    labels = np.array([False, False, False, True, True])
    assert roc_auc(scores, labels) == 1.0
    assert roc_auc(-scores, labels) == 0.0


def test_roc_auc_counts_ties_as_one_half():
    assert roc_auc(np.ones(6), np.array([True, False] * 3)) == 0.5
    # anomaly 2 vs normal 1: 1; vs normal 2: 1/2; anomaly 3 beats both: 2 -> 3.5 of 4 pairs
    assert roc_auc(np.array([1.0, 2.0, 2.0, 3.0]), np.array([False, True, False, True])) == pytest.approx(3.5 / 4)


def test_roc_auc_small_hand_case():
    # anomalies 0.35 and 0.8 vs normals 0.1 and 0.4: 0.35 > 0.1, 0.35 < 0.4, 0.8 > both -> 3 of 4 pairs
    assert roc_auc([0.1, 0.4, 0.35, 0.8], np.array([False, False, True, True])) == pytest.approx(0.75)


def test_roc_auc_is_the_pairwise_probability_and_the_area_under_roc_curve():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 8, size=60).astype(float)  # many ties
    labels = rng.uniform(size=60) < 0.4
    pos, neg = scores[labels], scores[~labels]
    pairwise = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert roc_auc(scores, labels) == pytest.approx(pairwise)
    fpr, tpr, thresholds = roc_curve(scores, labels)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert thresholds[0] == np.inf and np.all(np.diff(thresholds) < 0)
    assert np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2) == pytest.approx(pairwise)


def test_roc_needs_both_kinds_and_boolean_labels():
    with pytest.raises(GenkitError, match=r"both normal and anomalous examples; none of the 3 is anomalous"):
        roc_auc([1.0, 2.0, 3.0], np.zeros(3, bool))
    with pytest.raises(GenkitError, match=r"is_anomaly must be booleans"):
        roc_auc([1.0, 2.0], [0, 1])


# --------------------------------------------------------------------------- threshold_at_fpr
@pytest.mark.parametrize("fpr", [0.01, 0.05, 0.1, 0.29, 0.5])
def test_threshold_leaves_the_asked_share_of_normal_scores_above_it(fpr):
    scores = np.random.default_rng(1).permutation(np.arange(1.0, 1001.0))
    threshold = threshold_at_fpr(scores, fpr)
    assert np.mean(scores > threshold) == pytest.approx(fpr)


def test_threshold_hand_values_zero_fpr_and_ties():
    assert threshold_at_fpr(np.arange(1.0, 101.0), 0.05) == 95.0  # 96..100 lie above it
    assert threshold_at_fpr([3.0, 1.0, 2.0], 0.0) == 3.0  # nothing above the largest
    tied = np.r_[np.zeros(90), np.ones(10)]
    assert np.mean(tied > threshold_at_fpr(tied, 0.05)) == 0.0  # ties stay below the target, never above
    with pytest.raises(GenkitError, match=r"must be a number in \[0, 1\)"):
        threshold_at_fpr(tied, 1.0)


# --------------------------------------------------------------------------- reconstruction_errors
def test_errors_match_hand_computed_errors_of_the_reconstruction(exports):
    sampler = Sampler(exports / "unit")
    x = np.concatenate([_normal_images(5), _noise_images(5)])
    x_hat = sampler.reconstruct(x).astype(np.float64)
    mse = ((x - x_hat) ** 2).reshape(10, -1).mean(axis=1)
    clipped = np.clip(x_hat, 1e-7, 1 - 1e-7)
    bce = -(x * np.log(clipped) + (1 - x) * np.log(1 - clipped)).reshape(10, -1).mean(axis=1)
    np.testing.assert_allclose(reconstruction_errors(sampler, x), mse, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(reconstruction_errors(sampler, x, metric="bce"), bce, rtol=1e-6)
    np.testing.assert_allclose(reconstruction_errors(sampler, x, batch_size=3), mse, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(sampler.score(x, metric="bce"), bce, rtol=1e-6)  # the Python API's name for it


def test_images_far_from_the_data_score_higher(exports):
    sampler = Sampler(exports / "unit")
    normal = reconstruction_errors(sampler, _normal_images(200))
    noise = reconstruction_errors(sampler, _noise_images(200))
    assert normal.max() < 1e-10  # reconstructed exactly
    assert noise.min() > 1e-4
    scores = np.r_[normal, noise]
    assert roc_auc(scores, np.r_[np.zeros(200, bool), np.ones(200, bool)]) == 1.0


def test_errors_are_in_unit_range_units_whatever_the_export_range(exports):
    x = np.concatenate([_normal_images(4), _noise_images(4)])
    unit = reconstruction_errors(Sampler(exports / "unit"), x)
    symmetric = reconstruction_errors(Sampler(exports / "sym"), 2.0 * x - 1.0)
    np.testing.assert_allclose(symmetric, unit, rtol=1e-5, atol=1e-9)


def test_export_without_encoder_cannot_reconstruct(exports):
    with pytest.raises(GenkitError, match=r"cannot reconstruct images: its manifest has encoding: null.*encoder and"):
        reconstruction_errors(Sampler(exports / "dec_only"), _normal_images(2))


def test_wrong_shape_range_or_metric_is_a_clear_error(exports):
    sampler = Sampler(exports / "unit")
    wrong_shape = r"got shape \(2, 28, 28, 1\); proj_unit reads images of shape \(N, 4, 4, 1\)"
    with pytest.raises(GenkitError, match=wrong_shape):
        reconstruction_errors(sampler, np.zeros((2, 28, 28, 1), np.float32))
    with pytest.raises(GenkitError, match=r"values span \[0, 255\]; proj_unit reads \[0, 1\]"):
        reconstruction_errors(sampler, np.linspace(0.0, 255.0, 32).reshape(2, *SHAPE))
    with pytest.raises(GenkitError, match=r"got 'mse '; expected one of mse, bce\. Did you mean 'mse'"):
        reconstruction_errors(sampler, _normal_images(2), metric="mse ")


# --------------------------------------------------------------------------- score_main
def _write_data(path, with_labels=True, uint8=False):
    x = np.concatenate([_normal_images(40, seed=2), _noise_images(10, seed=3)])
    y = np.r_[np.arange(40) % 2, np.full(10, 2)]  # classes 0 and 1 normal, 2 the noise
    if uint8:
        x = np.round(x * 255).astype(np.uint8)[..., 0]  # (N, H, W) uint8, as files often hold
    np.savez(path, **({"x": x, "y": y} if with_labels else {"x": x}))
    return path


def test_score_main_writes_scores_report_and_plots_without_tensorflow(exports, tmp_path):
    data = _write_data(tmp_path / "data.npz", uint8=True)
    out = tmp_path / "out"
    code = textwrap.dedent(
        f"""
        import sys
        from genkit.runtime.anomaly import score_main
        print(score_main({str(exports / "unit")!r}, {str(data)!r}, {str(out)!r}, fpr=0.1, anomaly_labels=[2]))
        leaked = [m for m in ("tensorflow", "keras", "tf2onnx") if m in sys.modules]
        assert not leaked, leaked
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "AUC 1.0000 (class 2 anomalous)" in done.stdout and "TPR 100.0%" in done.stdout

    with open(out / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["index", "score", "label", "flagged"] and len(rows) == 50
    flagged = {int(r["index"]) for r in rows if r["flagged"] == "1"}
    assert flagged.issuperset(range(40, 50))  # every noise image
    report = json.loads((out / "report.json").read_text())
    assert report["auc"] == 1.0 and report["tpr"] == 1.0 and report["fpr_target"] == 0.1
    assert report["fpr_achieved"] <= 0.1 and report["counts"] == {
        "scored": 50, "flagged": len(flagged), "threshold_normal": 40, "normal": 40, "anomalous": 10
    }
    assert set(report["per_label"]) == {"0", "1", "2"} and report["per_label"]["2"]["flagged_share"] == 1.0
    for name in ("roc.png", "histogram.png"):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.size[0] > 100
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_threshold_on_a_separate_normal_file_without_labels(exports, tmp_path):
    data = _write_data(tmp_path / "data.npz", with_labels=False)
    np.savez(tmp_path / "normal.npz", x=_normal_images(100, seed=4))
    summary = score_main(exports / "unit", data, tmp_path / "out", normal_npz=tmp_path / "normal.npz", fpr=0.05)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "auc" not in report and "per_label" not in report
    assert report["threshold_set_on"] == str(tmp_path / "normal.npz") and report["counts"]["threshold_normal"] == 100
    assert report["counts"]["flagged"] >= 10  # the noise images
    assert not (tmp_path / "out" / "roc.png").exists() and (tmp_path / "out" / "histogram.png").is_file()
    with open(tmp_path / "out" / "scores.csv", newline="") as f:
        assert next(csv.reader(f)) == ["index", "score", "flagged"]
    assert "flagged" in summary and "AUC" not in summary


def test_score_main_input_errors_say_what_to_fix(exports, tmp_path):
    unit = exports / "unit"
    data = _write_data(tmp_path / "data.npz")
    with pytest.raises(GenkitError, match=r"needs normal examples to set the threshold on: pass --normal"):
        score_main(unit, data, tmp_path / "o")
    absent = r"--anomalous-classes 7: no example of .* has that label \(its labels: 0, 1, 2\)"
    with pytest.raises(GenkitError, match=absent):
        score_main(unit, data, tmp_path / "o", anomaly_labels=[7])
    unlabelled = _write_data(tmp_path / "u.npz", with_labels=False)
    with pytest.raises(GenkitError, match=r"has no array 'y', but --anomalous-classes picks the anomalies by label"):
        score_main(unit, unlabelled, tmp_path / "o", anomaly_labels=[2])
    np.savez(tmp_path / "images.npz", images=np.zeros((2, *SHAPE)))
    with pytest.raises(GenkitError, match=r"has no array 'x' \(it holds: images\)"):
        score_main(unit, tmp_path / "images.npz", tmp_path / "o", anomaly_labels=[2])
    np.savez(tmp_path / "big.npz", x=np.zeros((2, 28, 28)), y=np.zeros(2, int))
    with pytest.raises(GenkitError, match=r"--data .*big\.npz: x: got shape \(2, 28, 28\); proj_unit reads"):
        score_main(unit, tmp_path / "big.npz", tmp_path / "o", anomaly_labels=[0])
    with pytest.raises(GenkitError, match=r"cannot reconstruct images"):
        score_main(exports / "dec_only", data, tmp_path / "o", anomaly_labels=[2])
    with pytest.raises(GenkitError, match=r"--data .*missing\.npz: no such file"):
        score_main(unit, tmp_path / "missing.npz", tmp_path / "o", anomaly_labels=[2])
    assert not (tmp_path / "o").exists()
