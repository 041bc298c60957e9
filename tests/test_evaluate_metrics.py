"""genkit evaluate: sample scores in the feature space, the importance-weighted likelihood, keep_best."""

import csv
import json
import math

import numpy as np
import pytest
import tensorflow as tf
import yaml

from genkit.cli import main
from genkit.evaluate import evaluate_model
from genkit.evaluate.likelihood import _bound_graph, importance_weighted_nll
from genkit.errors import SpecError
from genkit.spec import validate_dict
from genkit.train import prepare
from tiny import tiny_spec

SAMPLE_SCORES = ["fid", "kid", "precision_recall", "mode_coverage"]


@pytest.fixture(scope="module")
def trained_vae():
    spec = tiny_spec("vae", **{"train.epochs": 2, "evaluate.metrics": ["elbo", "log_likelihood", *SAMPLE_SCORES]})
    prep = prepare(validate_dict(spec), quiet=True)
    prep.model.fit(prep.data.train_dataset(32, shuffle=True, seed=0), epochs=2, verbose=0, shuffle=False)
    return prep


def test_importance_weighted_bound_matches_its_formula_on_fixed_noise(trained_vae):
    model, x = trained_vae.model, trained_vae.data.x_test[:3]
    eps = np.random.default_rng(0).standard_normal((2, 3, model.latent_dim)).astype("float32")
    got = _bound_graph(model.encoder, model.decoder, False, tf.constant(x), None, tf.constant(eps)).numpy()

    mean, log_var = (np.asarray(a, np.float64) for a in model.encoder(x))
    z = mean[None] + np.exp(0.5 * log_var)[None] * eps  # (K, B, D)
    p = np.clip(np.asarray(model.decoder(z.reshape(6, -1).astype("float32")), np.float64), 1e-7, 1 - 1e-7)
    t = np.tile(x, (2, 1, 1, 1)).astype(np.float64)
    log_px = (t * np.log(p) + (1 - t) * np.log(1 - p)).reshape(2, 3, -1).sum(-1)
    log_pz = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_qz = -0.5 * (eps**2 + math.log(2 * math.pi) + log_var[None]).sum(-1)
    log_w = log_px + log_pz - log_qz
    expected = np.logaddexp(log_w[0], log_w[1]) - math.log(2)
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_more_importance_samples_tighten_the_bound(trained_vae):
    model, x = trained_vae.model, trained_vae.data.x_test[:64]
    elbo_like = importance_weighted_nll(model, x, k=1, seed=1)
    tight = importance_weighted_nll(model, x, k=64, seed=1)
    assert tight < elbo_like - 0.5, (tight, elbo_like)
    one_sample_elbo = trained_vae.model.evaluate(tf.data.Dataset.from_tensor_slices(x).batch(64), verbose=0, return_dict=True)["neg_elbo"]
    assert abs(elbo_like - one_sample_elbo) < 0.05 * one_sample_elbo  # K = 1 is the ELBO


def test_evaluate_writes_sample_scores_with_their_protocol(trained_vae):
    report = evaluate_model(trained_vae)
    metrics, protocol = report["metrics"], report["protocol"]
    for key in ("fid", "fid_real_train", "kid", "kid_std", "precision", "recall", "mode_coverage", "mode_entropy", "neg_log_likelihood"):
        assert np.isfinite(metrics[key]), key
    # A 2-epoch VAE is far from real digits; real training digits are close to real test digits.
    assert metrics["fid"] > 2 * metrics["fid_real_train"]
    assert metrics["neg_log_likelihood"] < metrics["neg_elbo"] + 1.0
    assert 0.0 <= metrics["precision"] <= 1.0 and 0.1 <= metrics["mode_coverage"] <= 1.0
    assert "test accuracy" in protocol["feature_space"]
    assert 0.0 < metrics["extractor_test_accuracy"] <= 1.0
    for key in ("fid", "kid", "precision_recall", "mode_coverage"):
        assert "64 samples" in protocol[key], protocol[key]
    assert "K = 100" in protocol["neg_log_likelihood"]


def test_an_autoencoder_is_scored_through_a_gaussian_fitted_to_its_codes():
    spec = tiny_spec("autoencoder", **{"evaluate.metrics": ["reconstruction", "fid"]})
    prep = prepare(validate_dict(spec), quiet=True)
    report = evaluate_model(prep)
    assert np.isfinite(report["metrics"]["fid"]) and "fitted" in report["protocol"]["sampling"]


@pytest.mark.parametrize(
    ("family", "changes", "field", "message"),
    [
        ("autoencoder", {"evaluate.metrics": ["elbo"]}, "evaluate.metrics", "needs a VAE family"),
        ("autoencoder", {"evaluate.metrics": ["log_likelihood"]}, "evaluate.metrics", "needs a VAE family"),
        ("vae", {"evaluate.metrics": ["class_accuracy"]}, "evaluate.metrics", "no model.condition"),
        ("vae", {"loss.reconstruction": "mse", "evaluate.metrics": ["log_likelihood"]}, "evaluate.metrics", "Bernoulli decoder"),
        ("autoencoder", {"train.keep_best": {"metric": "neg_elbo"}}, "train.keep_best.metric", "needs a VAE family"),
        ("vae", {"train.keep_best": {"metric": "fid"}, "data.validation_split": 0.0}, "train.keep_best", "validation_split is 0"),
        ("vae", {"train.ema": 0.999}, "train.ema", "no sampling network"),
        ("vae", {"train.optimizers": {"decoder": {"learning_rate": 1e-3}}}, "train.optimizers", "one optimizer"),
    ],
)
def test_evaluation_and_training_options_that_do_not_apply_are_refused(family, changes, field, message):
    with pytest.raises(SpecError, match=message) as caught:
        validate_dict(tiny_spec(family, **changes))
    assert field in str(caught.value)


def _run(tmp_path, family, **overrides):
    spec = tiny_spec(family, **overrides)
    spec.update(runs_dir=str(tmp_path / "runs"), export={"dir": str(tmp_path / "export")})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["train", str(path)]) == 0
    (run_dir,) = (tmp_path / "runs" / spec["name"]).iterdir()
    return run_dir


def test_keep_best_keeps_the_epoch_with_the_lowest_validation_loss_and_trains_from_it(tmp_path):
    run_dir = _run(tmp_path, "vae", **{"train.epochs": 4, "train.keep_best": {"metric": "val_loss"}, "train.optimizer": {"learning_rate": 0.05}})
    rows = list(csv.DictReader((run_dir / "history.csv").open()))
    losses = [float(r["val_loss"]) for r in rows]
    state = json.loads((run_dir / "checkpoints" / "best" / "state.json").read_text())
    assert state["epoch"] == int(np.argmin(losses)) + 1
    assert state["value"] == pytest.approx(min(losses), rel=1e-6)
    # The final weights are the best checkpoint's (use_for_export defaults to true).
    prep = prepare(validate_dict(yaml.safe_load((run_dir / "spec.yaml").read_text())), quiet=True)
    prep.model.load_weights(run_dir / "model.weights.h5")
    final = [w.numpy() for w in prep.model.weights]
    prep.model.load_weights(run_dir / "checkpoints" / "best" / "model.weights.h5")
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(final, prep.model.weights))


def test_keep_best_by_fid_logs_the_measured_value(tmp_path):
    run_dir = _run(tmp_path, "vae", **{"train.epochs": 2, "train.keep_best": {"metric": "fid", "samples": 24}})
    rows = list(csv.DictReader((run_dir / "history.csv").open()))
    assert all(np.isfinite(float(r["measured_fid"])) for r in rows)
    state = json.loads((run_dir / "checkpoints" / "best" / "state.json").read_text())
    assert state["value"] == pytest.approx(min(float(r["measured_fid"]) for r in rows), rel=1e-6)


def test_an_export_is_scored_through_onnxruntime_like_its_run(tmp_path, capsys):
    spec = tiny_spec("vae", **{"evaluate.metrics": ["reconstruction", "elbo", "fid"]})
    spec.update(runs_dir=str(tmp_path / "runs"), export={"dir": str(tmp_path / "export")})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path)]) == 0
    (run_dir,) = (tmp_path / "runs" / spec["name"]).iterdir()
    from_run = json.loads((run_dir / "metrics.json").read_text())["metrics"]

    assert main(["evaluate", str(tmp_path / "export")]) == 0
    report = json.loads((tmp_path / "export" / "metrics.json").read_text())
    # The ONNX networks match Keras to ~1e-6, so the same protocol gives the same numbers.
    assert report["metrics"]["mse_per_pixel"] == pytest.approx(from_run["mse_per_pixel"], rel=1e-4)
    assert report["metrics"]["fid"] == pytest.approx(from_run["fid"], rel=1e-3)
    assert "onnxruntime" in report["protocol"]["model"] and "elbo" in report["skipped"]
    assert "elbo: not computed" in capsys.readouterr().out

    assert main(["evaluate", str(tmp_path / "export"), "--steps", "5"]) == 2  # not a diffusion export
