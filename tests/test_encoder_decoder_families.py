"""The encoder/decoder families' own maths: penalties, corruption, KL warm-up, conditioning, previews.

What every family must do (build, train, save, resume, export, sample) is in test_family_contract.py.
"""

import numpy as np
import pytest
import tensorflow as tf

from genkit.modeling.build import build_family
from genkit.spec import validate_dict
from genkit.train import prepare
from tiny import tiny_spec


def batches(prep, n=4):
    return list(prep.data.train_dataset(prep.spec.data.batch_size, shuffle=False).take(n))


def test_contractive_penalty_equals_analytic_jacobian_of_a_sigmoid_layer():
    """For h = sigmoid(W x + b): ‖∂h/∂x‖²_F = Σ_j (h_j (1 − h_j))² Σ_i W_ij²."""
    spec = tiny_spec("contractive_ae", **{"loss.contractive_weight": 1.0})
    spec["model"]["networks"]["encoder"] = {"layers": [{"Flatten": {}}, {"Dense": {"units": 5, "activation": "sigmoid"}}]}
    prep = prepare(validate_dict(spec), quiet=True)
    model = prep.model
    x = tf.constant(np.random.default_rng(1).random((4, 28, 28, 1)).astype("float32"))
    terms = model.loss_terms(x, training=False)
    kernel, bias = [np.asarray(v) for v in model.encoder.layers[-1].weights]
    h = 1 / (1 + np.exp(-(x.numpy().reshape(4, -1) @ kernel + bias)))
    expected = np.mean(np.sum((h * (1 - h)) ** 2 * np.sum(kernel**2, axis=0), axis=1))
    assert float(terms["contractive"]) == pytest.approx(expected, rel=1e-4)


def test_sparse_penalty_is_weighted_kl_of_mean_code_activation():
    prep = prepare(validate_dict(tiny_spec("sparse_ae", **{"loss.sparsity_weight": 2.0})), quiet=True)
    x = batches(prep, 1)[0]
    code = prep.model.encoder(x, training=False)
    terms = prep.model.loss_terms(x, training=False)
    rho, rho_hat = 0.1, np.clip(np.asarray(code).mean(axis=0), 1e-7, 1 - 1e-7)
    expected = 2.0 * np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    assert float(terms["sparsity"]) == pytest.approx(expected, rel=1e-4)


def test_denoising_masks_about_nu_of_the_inputs_and_compares_with_clean_data():
    prep = prepare(validate_dict(tiny_spec("denoising_ae", **{"loss.masking_rate": 0.4})), quiet=True)
    x = tf.ones((64, 28, 28, 1))
    corrupted = np.asarray(prep.model.corrupt(x))
    assert np.mean(corrupted == 0.0) == pytest.approx(0.4, abs=0.02)
    assert set(np.unique(corrupted)) <= {0.0, 1.0}


def test_gaussian_corruption_has_the_asked_spread_and_stays_in_range():
    prep = prepare(validate_dict(tiny_spec("denoising_ae", **{"loss.corruption": "gaussian", "loss.noise_stddev": 0.1})), quiet=True)
    x = tf.fill((64, 28, 28, 1), 0.5)
    noisy = np.asarray(prep.model.corrupt(x))
    assert noisy.min() >= 0.0 and noisy.max() <= 1.0
    assert np.std(noisy - 0.5) == pytest.approx(0.1, rel=0.05)


def test_vae_kl_warmup_ramps_linearly_per_step():
    import keras

    prep = prepare(validate_dict(tiny_spec("vae", **{"loss.kl_warmup_epochs": 2, "loss.kl_weight": 4.0})), quiet=True)
    model = build_family(prep.spec, prep.data.shape, prep.data.num_classes, steps_per_epoch=10)  # full weight after 20 steps
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    batch = batches(prep, 1)[0]
    weights = [float(model.train_step(batch)["kl_weight"])]
    model.optimizer.iterations.assign(10)
    assert float(model.current_kl_weight()) == pytest.approx(2.0)
    model.optimizer.iterations.assign(25)
    assert float(model.current_kl_weight()) == pytest.approx(4.0)
    assert weights[0] == pytest.approx(0.0)


def test_cvae_decoder_output_depends_on_the_label():
    prep = prepare(validate_dict(tiny_spec("cvae")), quiet=True)
    a = prep.model.sample(4, labels=1, seed=0)
    b = prep.model.sample(4, labels=7, seed=0)
    assert a.shape == (4, 28, 28, 1) and np.abs(a - b).max() > 1e-4


def test_mixed_precision_trains_and_exports_float32_networks(tmp_path):
    import keras

    from genkit.export.from_run import export_run

    try:
        prep = prepare(validate_dict(tiny_spec("vae", **{"train.precision": "mixed_float16"})), quiet=True)
        logs = [prep.model.train_step(b) for b in batches(prep, 3)]
        assert all(np.isfinite(float(log["loss"])) for log in logs)
        assert prep.model.decoder.layers[-1].compute_dtype == "float16"
        manifest = export_run(prep, tmp_path / "export")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert all(n["parity_max_abs_diff"] <= 1e-4 for n in manifest["networks"].values())
    assert manifest["networks"]["decoder"]["outputs"][0]["dtype"] == "float32"


def test_autoencoder_preview_keeps_whole_rows_and_accepts_labelled_batches():
    prep = prepare(validate_dict(tiny_spec("autoencoder")), quiet=True)
    x = prep.data.x_train[:26]
    images, cols, labels = prep.model.preview(x)
    assert cols == 8 and len(images) == 2 * 24 and len(labels) == 6
    y = np.zeros(4, "int32")
    assert prep.model((x[:4], y)).shape == (4, 28, 28, 1)


def test_autoencoder_latent_dim_must_match_the_encoder_output():
    from genkit.errors import SpecError

    with pytest.raises(SpecError, match="encoder's output has 8 values"):
        prepare(validate_dict(tiny_spec("autoencoder", **{"model.latent_dim": 32})), quiet=True)
