"""A conditional VAE's sampling prior (the `prior` section, shared with the vae): a Gaussian or
mixture fitted to the posterior means of q(z | x, y), the training images encoded with their
labels, decoded with the asked-for labels by the model, the evaluator and the export.
Issue #16: drawing z where the codes are lifts cvae_mnist's class accuracy of samples."""

import numpy as np
import pytest
from tiny import tiny_spec, trained_cvae

from genkit.errors import SpecError
from genkit.spec import validate_dict


def test_the_cvae_takes_the_prior_section_and_its_components_rule():
    assert validate_dict(tiny_spec("cvae")).prior.kind == "standard_normal"  # the default: N(0, I) as before
    assert validate_dict(tiny_spec("cvae", **{"prior.kind": "mixture", "prior.components": 4})).prior.components == 4
    with pytest.raises(SpecError, match=r"prior.components: is set but prior.kind is 'gaussian'; only a mixture"):
        validate_dict(tiny_spec("cvae", **{"prior.kind": "gaussian", "prior.components": 4}))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny cvae with a fitted Gaussian prior, trained one epoch and exported."""
    return trained_cvae(tmp_path_factory.mktemp("cvae_prior"), kind="gaussian")


def test_the_prior_is_fitted_to_the_codes_of_the_images_with_their_labels(trained):
    from genkit.nets.inference import predict_batches

    run, _ = trained
    model, data = run.model, run.prepared.data
    with pytest.raises(ValueError, match=r"with their labels: call fit_prior\(x_train, y_train\)"):
        model.fit_prior(data.x_train)
    prior = model.fit_prior(data.x_train, data.y_train)
    z_mean, _ = predict_batches(model.encoder, [data.x_train, data.y_train.astype("int32")])
    assert prior["kind"] == "gaussian"
    np.testing.assert_allclose(prior["mean"], z_mean.mean(axis=0), atol=1e-5)
    # Other labels give other codes, so another fit: the labels reach the encoder.
    shuffled = model.fit_prior(data.x_train, (data.y_train + 1) % 10)
    assert not np.allclose(shuffled["mean"], prior["mean"])


def test_samples_decode_the_fitted_draws_with_the_asked_for_labels(trained):
    from genkit.nets.inference import predict_batches

    run, _ = trained
    model, data = run.model, run.prepared.data
    model.fit_prior(data.x_train, data.y_train)
    labels = np.array([3, 3, 7, 1], "int32")
    x = model.sample(4, labels=labels, seed=5)
    z = model.fitted_prior.draw(np.random.default_rng(5), 4)
    np.testing.assert_allclose(x, predict_batches(model.decoder, [z, labels]), atol=1e-6)
    # Without labels: 0 … K−1 in turn, as N(0, I) sampling does.
    np.testing.assert_allclose(model.sample(4, seed=5), predict_batches(model.decoder, [z, np.arange(4, dtype="int32")]), atol=1e-6)


def test_the_export_carries_the_fitted_prior_and_onnxruntime_draws_what_the_model_draws(trained):
    from genkit.runtime import Sampler

    run, export = trained
    model, data = run.model, run.prepared.data
    sampler = Sampler(export)
    prior = sampler.manifest["prior"]
    fitted = model.fit_prior(data.x_train, data.y_train)
    assert {k: prior[k] for k in fitted} == fitted  # the manifest's other prior fields stay None
    x, y = sampler.sample(6, labels=4, seed=2)
    assert list(y) == [4] * 6
    np.testing.assert_allclose(x, np.clip(model.sample(6, labels=np.full(6, 4), seed=2), 0, 1), atol=1e-4)


def test_the_evaluator_fits_a_conditional_prior_with_the_labels(trained):
    from genkit.evaluate.sample_quality import sample_scores

    run, _ = trained
    protocol = {}
    scores = sample_scores(run.model, run.prepared.data, run.spec, ["class_accuracy"], protocol, n=32)
    assert 0.0 <= scores["class_accuracy"] <= 1.0
    assert "gaussian" in protocol["sampling"].lower()
