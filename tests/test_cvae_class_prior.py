"""A conditional VAE's Gaussian per class (`prior: {kind: gaussian, per_class: true}`): one Gaussian
fitted to the codes of each class's training images, and a sample of class y draws z from class
y's, in the model, the export's manifest (a mixture whose component the label picks), the
TensorFlow-free runtime, `genkit serve`'s batching and `genkit explore`. Issue #16: one Gaussian for
every class draws z where another class's codes live, which costs cvae_mnist class accuracy."""

import json
import subprocess
import sys

import numpy as np
import pytest
from tiny import tiny_spec, trained_cvae

from genkit.errors import GenkitError, SpecError
from genkit.manifest import Manifest
from genkit.modeling.prior import describe_prior, fit_class_gaussians
from genkit.runtime.prior import LatentPrior
from genkit.spec import validate_dict


def three_classes(seed=0):
    """Codes of three classes around three different centres, 2-D."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), [200, 300, 500])
    centres = np.array([[-4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
    return centres[labels] + rng.normal(0.0, 0.5, (len(labels), 2)), labels


def test_the_spec_takes_per_class_for_a_cvaes_gaussian_only():
    assert validate_dict(tiny_spec("cvae", **{"prior.kind": "gaussian", "prior.per_class": True})).prior.per_class
    assert not validate_dict(tiny_spec("cvae")).prior.per_class  # the default: one density for all classes
    with pytest.raises(
        SpecError, match=r"prior.per_class: is true but the vae family has no class labels.*Use family cvae"
    ):
        validate_dict(tiny_spec("vae", **{"prior.kind": "gaussian", "prior.per_class": True}))
    with pytest.raises(
        SpecError, match=r"prior.per_class: is true but prior.kind is 'mixture'.*Set prior.kind: gaussian"
    ):
        validate_dict(tiny_spec("cvae", **{"prior.kind": "mixture", "prior.per_class": True}))


def test_each_class_gets_the_gaussian_of_its_own_codes():
    codes, labels = three_classes()
    prior = fit_class_gaussians(codes, labels, 3)
    assert prior["kind"] == "mixture" and prior["per_class"] is True
    np.testing.assert_allclose(prior["weights"], [0.2, 0.3, 0.5])  # the classes' shares
    for k in range(3):
        np.testing.assert_allclose(prior["means"][k], codes[labels == k].mean(axis=0), atol=1e-12)
        tril = np.asarray(prior["scale_trils"][k])
        np.testing.assert_allclose(tril @ tril.T, np.cov(codes[labels == k], rowvar=False), atol=1e-4)
    # The label picks the Gaussian: every draw of class 0 lies near class 0's centre.
    z = LatentPrior.from_prior(prior, 2).draw(np.random.default_rng(1), 400, np.zeros(400, "int32"))
    assert np.all(np.linalg.norm(z - [-4.0, 0.0], axis=1) < 3.0)
    assert "Gaussian of the asked-for class" in describe_prior(prior)


def test_a_class_without_codes_gets_the_gaussian_of_all_codes():
    codes, labels = three_classes()
    prior = fit_class_gaussians(codes, labels, 4)  # class 3 has no code
    assert prior["weights"][3] == 0.0
    np.testing.assert_allclose(prior["means"][3], codes.mean(axis=0), atol=1e-12)


def test_a_per_class_draw_needs_the_labels_and_keeps_the_servers_batching_exact():
    from genkit.serve.stacked_rng import StackedGenerator

    codes, labels = three_classes()
    prior = LatentPrior.from_prior(fit_class_gaussians(codes, labels, 3), 2)
    with pytest.raises(GenkitError, match=r"labels must be 4 integers in \[0, 3\); got none"):
        prior.draw(np.random.default_rng(0), 4)
    with pytest.raises(GenkitError, match=r"labels must be 2 integers in \[0, 3\)"):
        prior.draw(np.random.default_rng(0), 2, np.array([0, 3]))
    # Requests drawn together (genkit serve's micro-batch) get the draws their seeds give alone.
    requests = ((7, np.array([0, 2, 1])), (9, np.array([2, 2, 0, 1, 1])))
    alone = [prior.draw(np.random.default_rng(seed), len(y), y) for seed, y in requests]
    stacked_rng = StackedGenerator([np.random.default_rng(7), np.random.default_rng(9)], [3, 5])
    stacked = prior.draw(stacked_rng, 8, np.concatenate([y for _, y in requests]))
    np.testing.assert_array_equal(stacked, np.concatenate(alone))


def manifest_with(prior, *, num_classes=3, label_input="y"):
    return {
        "format": 1,
        "name": "m",
        "family": "cvae",
        "data": {"shape": [28, 28, 1], "range": [0, 1], "num_classes": num_classes},
        "latent_dim": 2,
        "prior": prior,
        "sampling": {"network": "decoder", "latent_input": "z", "label_input": label_input, "output": "x"},
        "networks": {},
    }


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (
            lambda p: manifest_with(p, num_classes=4),
            r"per_class has 3 components; expected one per class .*num_classes 4",
        ),
        (
            lambda p: manifest_with(p, label_input=None),
            r"per_class has 3 components; expected one per class of a conditional",
        ),
        (lambda p: manifest_with({**p, "means": [[0.0, 0.0, 0.0]] * 3}), r"means \(3, 2\) and scale_trils \(3, 2, 2\)"),
        (
            lambda p: manifest_with(
                {"kind": "gaussian", "mean": [0.0, 0.0], "scale_tril": np.eye(2).tolist(), "per_class": True}
            ),
            r"prior 'gaussian' has per_class; only a mixture",
        ),
    ],
)
def test_a_per_class_prior_of_the_wrong_shape_is_refused_when_the_manifest_is_read(manifest, message):
    codes, labels = three_classes()
    prior = fit_class_gaussians(codes, labels, 3)
    Manifest.model_validate(manifest_with(prior))  # the fitted one passes
    with pytest.raises(ValueError, match=message):
        Manifest.model_validate(manifest(prior))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny cvae with a Gaussian per class, trained one epoch and exported."""
    return trained_cvae(tmp_path_factory.mktemp("cvae_class_prior"), kind="gaussian", per_class=True)


def test_the_model_fits_the_mean_of_each_class_codes(trained):
    from genkit.nets.inference import predict_batches

    run, _ = trained
    model, data = run.model, run.prepared.data
    labels = data.y_train.astype("int32")
    prior = model.fit_prior(data.x_train, labels)
    z_mean, _ = predict_batches(model.encoder, [data.x_train, labels])
    assert prior["per_class"] and len(prior["means"]) == model.num_classes
    for k in np.unique(labels):
        np.testing.assert_allclose(prior["means"][k], z_mean[labels == k].mean(axis=0), atol=1e-5)


def test_the_model_and_the_onnx_export_sample_the_same_images_for_a_seed_and_labels(trained):
    from genkit.runtime import Sampler

    run, export = trained
    model, data = run.model, run.prepared.data
    sampler = Sampler(export)
    fitted = model.fit_prior(data.x_train, data.y_train)
    assert {k: sampler.manifest["prior"][k] for k in fitted} == fitted
    labels = np.array([3, 3, 7, 1, 0, 9], "int32")
    x, y = sampler.sample(6, labels=labels, seed=2)
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(x, np.clip(model.sample(6, labels=labels, seed=2), 0, 1), atol=1e-4)
    # Without labels both cycle 0 … K−1 and draw from those classes' Gaussians.
    np.testing.assert_allclose(sampler.sample(4, seed=5)[0], np.clip(model.sample(4, seed=5), 0, 1), atol=1e-4)


def test_serve_and_explore_take_the_export(trained, tmp_path):
    from genkit.cli import main
    from genkit.serve.model import ServedModel

    _, export = trained
    box = ServedModel(export).latent_box()  # the map's range: the mixture's moments
    assert len(box) == 4 and all(low < high for low, high in box)  # the tiny spec's latent_dim
    for tool, label in (("interpolate", []), ("traverse", ["--label", "3"])):  # around the mixture's moments
        assert main(["explore", str(export), tool, *label, "--out", str(tmp_path / f"{tool}.png")]) == 0
        assert (tmp_path / f"{tool}.png").is_file()
    # The model card's onnxruntime snippet draws each label's Gaussian.
    snippet = (export / "README.md").read_text().split("```python\n")[-1].split("```")[0]
    assert '% m["data"]["num_classes"]  # the labels fed below' in snippet
    result = subprocess.run(
        [sys.executable, "-c", snippet + "\nprint(x.shape)"],
        cwd=export,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.split()[-4:] == ["(16,", "28,", "28,", "1)"], result.stderr[-2000:]
    assert json.loads((export / "manifest.json").read_text())["prior"]["per_class"] is True
