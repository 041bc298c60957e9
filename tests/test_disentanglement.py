"""MIG, DCI and SAP: a code that is the factors scores about 1, a rotation of it low, noise about 0;
the spec refuses them where they cannot apply; `genkit evaluate` computes them for a run and an export."""

from __future__ import annotations

import copy
import json
import time

import numpy as np
import pytest
import yaml
from tiny import tiny_gan_spec, tiny_spec

from genkit.cli import main
from genkit.errors import GenkitError, SpecError
from genkit.evaluate import evaluate_model
from genkit.evaluate.disentanglement import dci, mig, sap
from genkit.spec import validate_dict
from genkit.train import prepare

SIZES = (4, 6, 6, 16, 12, 12)  # the factors of `shapes`: shape, colour, scale, rotation, x, y
CATEGORICAL = (True, True, False, False, False, False)
CHANCE = float(np.mean([1 / k for k in SIZES]))  # accuracy of guessing, averaged over the factors


def factors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, k, n) for k in SIZES], axis=1).astype(np.int32)  # (N, F)


def ideal(v: np.ndarray, seed: int = 1) -> np.ndarray:
    """The factors themselves as floats, with noise well under the spacing of their values."""
    return v + np.random.default_rng(seed).normal(0.0, 0.05, v.shape)


def rotated(v: np.ndarray, seed: int = 2) -> np.ndarray:
    """Standardised factors under a random rotation: the same information, every dimension mixing all factors."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(v.shape[1],) * 2))
    return (v - v.mean(axis=0)) / v.std(axis=0) @ q


def scores(codes, v) -> dict:
    return {**mig(codes, v), **dci(codes, v), **sap(codes, v, categorical=CATEGORICAL)}


@pytest.fixture(scope="module")
def v():
    return factors(1000)


@pytest.fixture(scope="module")
def ideal_scores(v):
    return scores(ideal(v), v)


def test_a_code_that_is_the_factors_scores_about_one(ideal_scores):
    s = ideal_scores
    # MIG falls short of 1 only by the plug-in estimator's bias on the other dimensions, about
    # (bins - 1)(K - 1) / 2N nats = 0.14 nats for rotation (K = 16) at N = 1000, 5% of its entropy.
    assert s["mig"] > 0.9 and min(s["mig_per_factor"]) > 0.85
    # Each forest splits on its factor's dimension alone; SAP's runner-up dimensions score about 0.
    assert s["dci_disentanglement"] > 0.97 and s["dci_completeness"] > 0.97 and s["dci_informativeness"] > 0.97
    assert s["sap"] > 0.95


def test_a_rotation_of_that_code_scores_low_though_it_holds_the_same_information(v, ideal_scores):
    s = scores(rotated(v), v)
    for key in ("mig", "dci_disentanglement", "dci_completeness", "sap"):
        assert s[key] < 0.4 and s[key] < ideal_scores[key] - 0.5, (key, s[key])
    # The information is all there (the rotation is invertible): the forests still predict well above chance.
    assert s["dci_informativeness"] > 3 * CHANCE


def test_random_codes_score_about_zero_and_predict_at_chance(v):
    codes = np.random.default_rng(5).normal(size=(len(v), 10))
    s = scores(codes, v)
    assert s["mig"] < 0.05 and s["sap"] < 0.05
    assert s["dci_disentanglement"] < 0.1 and s["dci_completeness"] < 0.1
    assert abs(s["dci_informativeness"] - CHANCE) < 0.05


def test_codes_that_never_change_score_zero(v):
    codes = np.zeros((len(v), 4))
    s = scores(codes, v)
    assert s["mig"] == s["sap"] == s["dci_disentanglement"] == s["dci_completeness"] == 0.0


def test_a_factor_held_by_two_dimensions_has_no_gap(v):
    codes = ideal(v)
    codes = np.concatenate([codes, codes[:, 3:4] + 0.01], axis=1)  # rotation, twice
    m, s = mig(codes, v)["mig_per_factor"], sap(codes, v, categorical=CATEGORICAL)["sap_per_factor"]
    assert m[3] < 0.05 and s[3] < 0.05
    assert min(np.delete(m, 3)) > 0.85 and min(np.delete(s, 3)) > 0.9
    assert dci(codes, v)["dci_completeness"] < 0.97  # rotation's importance is split between two dimensions


def test_scores_do_not_depend_on_the_order_offset_or_scale_of_the_dimensions(v):
    codes = rotated(v)
    moved = codes[:, ::-1] * np.array([3.0, 0.5, 2.0, 1.0, 10.0, 0.1]) - 7.0
    for metric in (mig, sap):
        assert metric(moved, v)[metric.__name__] == pytest.approx(metric(codes, v)[metric.__name__], abs=1e-9)
    # The forests draw their thresholds in another order: close, not equal.
    assert dci(moved, v)["dci_disentanglement"] == pytest.approx(dci(codes, v)["dci_disentanglement"], abs=0.03)


def test_scores_are_seeded_and_deterministic(v):
    codes = rotated(v)
    assert dci(codes, v, seed=4) == dci(codes, v, seed=4)
    assert sap(codes, v, seed=4) == sap(codes, v, seed=4)
    assert mig(codes, v) == mig(codes, v)


@pytest.mark.parametrize(
    ("codes", "values", "message"),
    [
        (np.zeros((50, 3, 1)), factors(50), r"expected \(N, D\) codes"),
        (np.zeros((40, 3)), factors(50), r"expected \(N, D\) codes"),
        (np.zeros((50, 1)), factors(50), "at least 2"),
        (np.zeros((5, 3)), factors(5), "at least 10 examples"),
        (np.zeros((50, 3)), factors(50).astype(float), "integer indices"),
        (np.zeros((50, 3)), factors(50) - 1, "non-negative"),
        (np.full((50, 3), np.nan), factors(50), "NaN"),
        (np.zeros((50, 3)), np.concatenate([factors(50), np.zeros((50, 1), np.int32)], axis=1), r"column\(s\) \[6\]"),
    ],
)
@pytest.mark.parametrize("metric", [mig, dci, sap])
def test_bad_inputs_are_refused_with_what_was_received(metric, codes, values, message):
    with pytest.raises(ValueError, match=message):
        metric(codes, values)


def test_sap_needs_one_kind_per_factor():
    with pytest.raises(ValueError, match="categorical names 2 factors; factors has 6"):
        sap(np.zeros((50, 3)), factors(50), categorical=(True, False))


def test_each_metric_takes_little_time_on_2000_codes_of_10_dimensions():
    v = factors(2000)
    codes = np.concatenate([rotated(v), np.random.default_rng(0).normal(size=(2000, 4))], axis=1)  # (2000, 10)
    for metric, limit in ((mig, 2.0), (dci, 6.0), (sap, 2.0)):  # measured: 0.1 s, 0.8 s, 0.05 s on 2 shared cores
        start = time.perf_counter()
        metric(codes, v)
        assert time.perf_counter() - start < limit, metric.__name__


# ------------------------------------------------------------------------------------------ the spec
SHAPES_DATA = {"source": "shapes", "image_size": 16, "shapes": {"train_size": 256, "test_size": 200}, "batch_size": 32}


def shapes_spec(family: str = "vae", **overrides) -> dict:
    """tests/tiny.py's spec of `family` on 16x16 `shapes`, evaluated with every disentanglement metric."""
    spec = tiny_spec(family, **overrides)
    spec["data"] = {**copy.deepcopy(SHAPES_DATA), "validation_split": 0.125, "labels": family == "cvae"}
    if family == "cvae":
        spec["model"]["condition"] = {"num_classes": 4}  # the label is the shape
    spec["model"]["networks"]["decoder"] = {
        "layers": [
            {"Dense": {"units": 256, "activation": "relu"}},
            {"Reshape": {"target_shape": [4, 4, 16]}},
            {
                "Conv2DTranspose": {
                    "filters": 8,
                    "kernel_size": 3,
                    "strides": 4,
                    "padding": "same",
                    "activation": "relu",
                }
            },
            {"Conv2D": {"filters": 3, "kernel_size": 3, "padding": "same", "activation": "sigmoid"}},
        ]
    }
    spec["evaluate"] = {"metrics": ["reconstruction", "mig", "dci", "sap"], "samples": 200}
    return spec


def test_a_vae_on_shapes_may_ask_for_every_disentanglement_metric():
    assert validate_dict(shapes_spec()).evaluate.metrics[1:] == ["mig", "dci", "sap"]


def test_disentanglement_metrics_need_data_with_factors():
    with pytest.raises(SpecError, match=r"'mig' needs the ground-truth factors .* source 'mnist' has none") as caught:
        validate_dict(tiny_spec("vae", **{"evaluate.metrics": ["mig"]}))
    assert "evaluate.metrics" in str(caught.value) and "source: shapes" in str(caught.value)


def test_disentanglement_metrics_need_an_encoder():
    spec = tiny_gan_spec("gan", **{"evaluate.metrics": ["dci"]})
    spec["data"] = {**copy.deepcopy(SHAPES_DATA), "range": [-1, 1]}
    with pytest.raises(
        SpecError, match=r"'dci' scores the codes an encoder gives .* gan family has no encoder"
    ) as caught:
        validate_dict(spec)
    assert "evaluate.metrics" in str(caught.value) and "vae" in str(caught.value)


# ------------------------------------------------------------------------------------------ genkit evaluate
def test_a_vae_on_shapes_is_scored_from_its_run_and_from_its_export(tmp_path):
    spec = shapes_spec()
    spec.update(runs_dir=str(tmp_path / "runs"), export={"dir": str(tmp_path / "export")})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path)]) == 0
    (run_dir,) = (tmp_path / "runs" / spec["name"]).iterdir()
    from_run = json.loads((run_dir / "metrics.json").read_text())

    keys = ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap")
    for key in keys:
        assert 0.0 <= from_run["metrics"][key] <= 1.0, key
    assert set(from_run["metrics"]["mig_per_factor"]) == {"shape", "colour", "scale", "rotation", "x", "y"}
    assert "200 test images" in from_run["protocol"]["mig"] and "Eastwood" in from_run["protocol"]["dci"]

    assert main(["evaluate", str(tmp_path / "export")]) == 0
    from_export = json.loads((tmp_path / "export" / "metrics.json").read_text())["metrics"]
    # The ONNX encoder matches Keras to ~1e-6: the same codes, the same seeded scores (a bin edge may move).
    for key in keys:
        assert from_export[key] == pytest.approx(from_run["metrics"][key], abs=0.02), key


def test_a_cvae_is_scored_on_the_factors_other_than_its_condition_and_an_autoencoder_on_all():
    cvae = evaluate_model(prepare(validate_dict(shapes_spec("cvae")), quiet=True))  # untrained: the plumbing
    assert set(cvae["metrics"]["sap_per_factor"]) == {"colour", "scale", "rotation", "x", "y"}
    assert "'shape' is the model's condition" in cvae["protocol"]["mig"]
    autoencoder = evaluate_model(prepare(validate_dict(shapes_spec("autoencoder")), quiet=True))
    assert (
        len(autoencoder["metrics"]["mig_per_factor"]) == 6 and "codes (8 dimensions" in autoencoder["protocol"]["dci"]
    )


def test_a_code_of_one_dimension_is_refused_when_scored():
    prep = prepare(validate_dict(shapes_spec(**{"model.latent_dim": 1})), quiet=True)
    with pytest.raises(GenkitError, match=r"evaluate.metrics: mig: .* at least 2; got 1"):
        evaluate_model(prep)
