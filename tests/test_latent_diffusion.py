"""The latent_diffusion family: the scale factor, a reused first stage, the onnxruntime chain, its spec errors.

The family contract (build, train, resume, export, sample without TensorFlow) is in
tests/test_family_contract.py; these tests check what only this family does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from genkit.cli import main
from genkit.errors import GenkitError, SpecError
from genkit.spec import load_spec, validate_dict
from genkit.spec.starter import starter_spec
from genkit.train import prepare


def ldm_spec(**first_stage) -> dict:
    """The family's starter on 96 MNIST digits: 2 epochs of 2 steps, the first for the first stage."""
    raw = yaml.safe_load(starter_spec("latent_diffusion", "mnist"))
    raw["name"] = "tiny_ldm"
    raw["data"].update(limit=96, batch_size=8, validation_split=0.25)
    raw["train"].update(epochs=2, steps_per_epoch=2, tensorboard=False, sample_every=0)
    raw["evaluate"] = {"metrics": ["fid"], "samples": 16}
    raw["sample"] = {"sampler": "ddim", "steps": 4}
    if first_stage:
        raw["first_stage"] = first_stage
    return raw


def first_batch(prep):
    return next(iter(prep.data.train_dataset(prep.spec.data.batch_size, shuffle=False)))


def first_images(prep):
    batch = first_batch(prep)
    return batch[0] if isinstance(batch, tuple) else batch


def problems(raw) -> dict:
    with pytest.raises(SpecError) as err:
        validate_dict(raw)
    return {".".join(map(str, p.path)): p.message for p in err.value.problems}


# --------------------------------------------------------------------------- the scale factor
def test_scale_factor_is_one_over_the_latents_std_measured_once_and_saved(tmp_path):
    spec = validate_dict(ldm_spec())
    prep = prepare(spec, quiet=True)
    model = prep.model
    x = first_images(prep)
    assert float(model.scale_factor.numpy()) == 0.0  # not measured while the first stage trains
    model.first_stage_updates.assign(model.first_stage_steps)  # as if the first stage had trained
    model.follow_phase()
    assert model.phase == "diffusion"
    model.train_step(first_batch(prep))
    scale = float(model.scale_factor.numpy())
    # The latents z = μ + σ·ε of that batch: Var z = Var μ + E σ² (the posterior's noise counts too).
    mean, log_var = (np.asarray(v, np.float64) for v in model.posterior(x, training=False))
    assert scale == pytest.approx(1.0 / np.sqrt(mean.var() + np.exp(log_var).mean()), rel=0.05)
    model.train_step(first_batch(prep))
    assert float(model.scale_factor.numpy()) == scale  # kept, not re-measured on the next batch

    path = tmp_path / "model.weights.h5"
    model.save_weights(path)
    twin = prepare(spec, quiet=True).model
    twin.load_weights(path)
    assert twin.phase == "diffusion" and float(twin.scale_factor.numpy()) == scale
    twin.train_step(first_batch(prep))
    assert float(twin.scale_factor.numpy()) == scale  # a resumed run does not measure it again


def test_sampling_before_the_denoiser_trains_says_so():
    model = prepare(validate_dict(ldm_spec()), quiet=True).model
    with pytest.raises(GenkitError, match="the denoiser has not trained yet"):
        model.sample(2)


# --------------------------------------------------------------------------- the exported chain
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(folder, export folder, run folder) of the tiny spec trained 2 epochs (1 + 1) and exported."""
    folder = tmp_path_factory.mktemp("ldm")
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(ldm_spec(), sort_keys=False))
    with _chdir(folder):
        assert main(["train", str(path)]) == 0
        (run_dir,) = (folder / "runs" / "tiny_ldm").iterdir()
        assert main(["export", str(run_dir), "--out", str(folder / "export")]) == 0
    return folder, folder / "export", run_dir


@pytest.mark.slow
def test_the_manifest_stores_the_scale_factor_and_onnxruntime_samples_like_keras(exported):
    from genkit.runtime import Sampler
    from genkit.train import open_run

    _, export, run_dir = exported
    manifest = json.loads((export / "manifest.json").read_text())
    latent = manifest["diffusion"]["latent"]
    prep = open_run(run_dir)
    assert latent["scale_factor"] == pytest.approx(float(prep.model.scale_factor.numpy()))
    assert latent["shape"] == [7, 7, 4] and set(manifest["networks"]) == {"denoiser", "decoder"}
    assert manifest["diffusion"]["sample"]["clip_denoised"] is False  # latents are never clipped
    onnx, _ = Sampler(export).sample(5, seed=3)
    keras_samples = prep.model.sample(5, seed=3)
    assert onnx.shape == (5, 28, 28, 1)
    np.testing.assert_allclose(onnx, keras_samples, atol=2e-3)


@pytest.mark.slow
def test_a_manifest_with_another_scale_factor_gives_other_images(exported, tmp_path):
    from genkit.runtime import Sampler

    _, export, _ = exported
    wrong = tmp_path / "wrong"
    shutil.copytree(export, wrong)
    manifest = json.loads((wrong / "manifest.json").read_text())
    manifest["diffusion"]["latent"]["scale_factor"] *= 4.0  # the forgetting bug: decoding s·z, not z
    (wrong / "manifest.json").write_text(json.dumps(manifest))
    right, _ = Sampler(export).sample(4, seed=0)
    other, _ = Sampler(wrong).sample(4, seed=0)
    assert np.abs(right - other).mean() > 1e-3


# --------------------------------------------------------------------------- a reused first stage
VAE = {
    "name": "tiny_vae",
    "seed": 1,
    "data": {"source": "mnist", "limit": 96, "batch_size": 8, "validation_split": 0.25},
    "model": {
        "family": "vae",
        "latent_dim": 6,
        "networks": {
            "encoder": {"layers": [{"Flatten": {}}, {"Dense": {"units": 32, "activation": "relu"}}]},
            "decoder": {
                "layers": [
                    {"Dense": {"units": 784, "activation": "sigmoid"}},
                    {"Reshape": {"target_shape": [28, 28, 1]}},
                ]
            },
        },
    },
    "train": {"epochs": 1, "steps_per_epoch": 2, "tensorboard": False, "sample_every": 0},
    "evaluate": {"metrics": ["reconstruction"], "samples": 16},
}

MLP_DENOISER = {
    "inputs": {"x": [6], "t": []},
    "graph": [
        {"id": "tsin", "layer": "SinusoidalEmbedding", "dim": 16, "from": "t"},
        {"id": "h", "layer": "Dense", "units": 32, "activation": "swish", "from": {"concat": ["x", "tsin"]}},
        {"id": "out", "layer": "Dense", "units": 6, "from": "h"},
    ],
}


@pytest.mark.slow
def test_an_export_is_reused_as_a_frozen_first_stage_in_its_own_range(tmp_path):
    import keras

    spec_path = tmp_path / "vae.yaml"
    spec_path.write_text(yaml.safe_dump(VAE, sort_keys=False))
    with _chdir(tmp_path):
        assert main(["train", str(spec_path)]) == 0
        (run_dir,) = (tmp_path / "runs" / "tiny_vae").iterdir()
        assert main(["export", str(run_dir), "--out", "exports/tiny_vae"]) == 0
        raw = ldm_spec(export="exports/tiny_vae")
        raw["model"]["networks"]["denoiser"] = MLP_DENOISER
        prep = prepare(validate_dict(raw), quiet=True)
    model = prep.model
    assert model.phase == "diffusion" and model.latent_shape == (6,) and model.kind == "vae"
    vae_encoder = keras.saving.load_model(run_dir / "networks" / "encoder.keras")
    x = first_images(prep)
    # The vae saw [0, 1] images; this run's are in [-1, 1]: the wrapped encoder maps them there.
    mean, _ = model.posterior(x, training=False)
    np.testing.assert_allclose(np.asarray(mean), np.asarray(vae_encoder((np.asarray(x) + 1) / 2)[0]), atol=1e-5)
    frozen = [np.array(w) for w in model.encoder.weights + model.decoder.weights]
    model.train_step(first_batch(prep))
    assert all(np.array_equal(a, np.array(b)) for a, b in zip(frozen, model.encoder.weights + model.decoder.weights))
    assert float(model.scale_factor.numpy()) > 0


# --------------------------------------------------------------------------- spec errors
def test_a_missing_first_stage_names_both_networks():
    raw = ldm_spec()
    del raw["first_stage"]
    found = problems(raw)
    assert "is missing" in found["first_stage.encoder"] and "is missing" in found["first_stage.decoder"]


def test_an_export_with_inline_options_is_refused_and_a_missing_export_is_named(tmp_path):
    raw = ldm_spec()
    raw["first_stage"]["export"] = str(tmp_path / "nowhere")
    found = problems(raw)
    assert "not a reused export" in found["first_stage.encoder"]
    assert "not a reused export" in found["first_stage.decoder"]
    assert "does not exist" in found["first_stage.export"]


def test_a_first_stage_longer_than_the_run_is_a_located_error(tmp_path):
    path = tmp_path / "spec.yaml"
    raw = ldm_spec()
    raw["first_stage"]["epochs"] = 3
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(SpecError, match=r"spec\.yaml:\d+ first_stage\.epochs: is 3, more than train\.epochs \(2\)"):
        load_spec(path)


def test_an_odd_vae_code_and_a_sigmoid_decoder_are_refused():
    raw = ldm_spec()
    raw["first_stage"]["decoder"]["layers"][-1]["Conv2D"]["activation"] = "sigmoid"
    assert "cannot reach the data's [-1, 1]" in problems(raw)["first_stage.decoder.layers.3.Conv2D.activation"]
    raw = ldm_spec()
    raw["first_stage"]["encoder"]["layers"][-1]["Conv2D"]["filters"] = 7
    with pytest.raises(SpecError) as err:
        prepare(validate_dict(raw), quiet=True)
    assert [p.path for p in err.value.problems] == [("first_stage", "encoder")]
    assert "must be even" in err.value.problems[0].message


class _chdir:
    def __init__(self, folder):
        self.folder, self.old = Path(folder), None

    def __enter__(self):
        import os

        self.old = os.getcwd()
        os.chdir(self.folder)

    def __exit__(self, *exc):
        import os

        os.chdir(self.old)
