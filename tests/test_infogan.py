"""InfoGAN (issue 14): the information loss, the shared body, the codes' rules, code_accuracy, the
manifest's codes, sampling with codes, and traversal grids."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from tiny import GENERATOR, tiny_gan_spec

from genkit.cli import main
from genkit.errors import GenkitError, SpecError
from genkit.evaluate.codes import matched_accuracy
from genkit.losses import categorical_code_nll, gaussian_code_nll
from genkit.runtime import Sampler
from genkit.runtime.codes import LatentCodes, code_variables
from genkit.runtime.latent import (
    code_traversals,
    explore_traverse,
    latent_traversals,
    traversal_dimensions,
    traversal_grid,
)
from genkit.spec import validate_dict
from genkit.train import prepare

CODES = [{"name": "digit", "kind": "categorical", "size": 10}, {"name": "c1", "kind": "continuous"}]
BODY = {"layers": [{"Conv2D": {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}}, {"LeakyReLU": {"negative_slope": 0.2}}, {"Flatten": {}}, {"Dense": {"units": 16}}]}
Q_HEAD = {"layers": [{"Dense": {"units": 8, "activation": "relu"}}]}


def tiny_infogan_spec(**loss) -> dict:
    """z of 8 and the codes digit (10 values) and c1: tiny networks on 256 digits in [-1, 1]."""
    return {
        "name": "tiny_infogan",
        "seed": 3,
        "data": {"source": "mnist", "limit": 256, "batch_size": 32, "range": [-1, 1], "validation_split": 0.125},
        "model": {
            "family": "infogan",
            "latent_dim": 8,
            "networks": {"generator": copy.deepcopy(GENERATOR), "discriminator": copy.deepcopy(BODY), "q_head": copy.deepcopy(Q_HEAD)},
        },
        "loss": {"codes": copy.deepcopy(CODES), **loss},
        "train": {"epochs": 1, "steps_per_epoch": 2, "tensorboard": False, "sample_every": 0},
        "evaluate": {"metrics": ["code_accuracy"], "samples": 64},
    }


def build(**loss):
    return prepare(validate_dict(tiny_infogan_spec(**loss)), quiet=True)


def first_batch(prep):
    return next(iter(prep.data.train_dataset(prep.spec.data.batch_size, shuffle=False)))


def messages(spec: dict) -> str:
    with pytest.raises(SpecError) as info:
        validate_dict(spec)
    return "\n".join(p.format() for p in info.value.problems)


# --------------------------------------------------------------------------- the maths
def test_categorical_code_nll_equals_a_hand_computation():
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]], "float32")
    codes = np.array([0, 2])
    # −log softmax at the drawn value, by hand: log Σ exp(l) − l_c, averaged over the batch.
    row0 = math.log(math.exp(2.0) + math.exp(0.0) + math.exp(-1.0)) - 2.0
    row1 = math.log(math.exp(0.5) + math.exp(1.5) + math.exp(0.0)) - 0.0
    assert float(categorical_code_nll(codes, logits)) == pytest.approx((row0 + row1) / 2, rel=1e-6)
    # The MI lower bound log K − CE reaches log K when Q is certain and right.
    assert float(categorical_code_nll(np.array([1]), np.array([[-50.0, 50.0, -50.0]]))) == pytest.approx(0.0, abs=1e-6)


def test_gaussian_code_nll_equals_a_hand_computation_with_fixed_and_learned_std():
    codes = np.array([[0.5, -1.0], [0.0, 0.25]], "float32")
    mean = np.array([[0.0, -0.5], [1.0, 0.25]], "float32")
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    # σ = 1: ½(c − μ)² + ½ log 2π per unit, summed over units, averaged over the batch.
    fixed = ((0.125 + half_log_2pi) + (0.125 + half_log_2pi) + (0.5 + half_log_2pi) + (0.0 + half_log_2pi)) / 2
    assert float(gaussian_code_nll(codes, mean)) == pytest.approx(fixed, rel=1e-6)
    # log σ = log 2 for every unit: ½((c − μ)/2)² + log 2 + ½ log 2π.
    log_std = np.full_like(mean, math.log(2.0))
    learned = sum(0.5 * ((c - m) / 2) ** 2 + math.log(2.0) + half_log_2pi for c, m in zip(codes.ravel(), mean.ravel())) / 2
    assert float(gaussian_code_nll(codes, mean, log_std)) == pytest.approx(learned, rel=1e-6)


# --------------------------------------------------------------------------- the networks
def test_q_head_and_discriminator_share_the_body_and_a_d_update_moves_q():
    import keras
    import tensorflow as tf

    model = build().model
    body = model.trunks["discriminator"]
    in_d = {id(v) for v in model.discriminator.weights}
    in_q_path = {id(v) for v in model.recognizer.weights}
    assert body.weights and all(id(v) in in_d and id(v) in in_q_path for v in body.weights)  # the same variables
    assert not {id(v) for v in model.q_head.weights} & in_d  # Q's own layers are not D's

    x = np.random.default_rng(0).uniform(-1, 1, (8, 28, 28, 1)).astype("float32")
    q_before = [np.array(o) for o in model.recognizer(x, training=False)[1:]]
    q_weights = [np.array(w) for w in model.q_head.weights]
    with tf.GradientTape() as tape:
        d_loss = tf.reduce_mean(model.discriminator(x, training=False))
    variables = model.discriminator.trainable_variables
    keras.optimizers.SGD(0.5).apply_gradients(zip(tape.gradient(d_loss, variables), variables))
    assert all(np.array_equal(a, np.array(b)) for a, b in zip(q_weights, model.q_head.weights))
    q_after = [np.array(o) for o in model.recognizer(x, training=False)[1:]]
    assert any(not np.allclose(a, b) for a, b in zip(q_before, q_after)), "a D update must change Q's reading"


def test_train_step_updates_all_three_networks_with_their_optimizers():
    prep = build()
    model = prep.model
    before = {role: [np.array(w) for w in net.trainable_weights] for role, net in model.networks_by_role().items()}
    logs = model.train_step(first_batch(prep))
    for role, old in before.items():
        assert any(not np.array_equal(a, np.array(b)) for a, b in zip(old, model.networks_by_role()[role].trainable_weights)), role
        assert int(getattr(model, f"{role}_optimizer").iterations) == 1
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert float(logs["mi_categorical"]) <= math.log(10) + 1e-6


def test_q_head_has_a_head_per_code_and_learned_std_adds_log_std():
    fixed = build(continuous_std="fixed").model
    assert fixed.output_names == ["digit_logits", "c1_mean"]
    assert [tuple(o.shape[1:]) for o in fixed.q_head.outputs] == [(10,), (1,)]
    learned = build().model  # the default
    assert learned.output_names == ["digit_logits", "c1_mean", "c1_log_std"]
    assert learned.layout.recognition["outputs"] == {"digit": "digit_logits", "c1": "c1_mean"}
    assert learned.generator.input.shape[1] == 8 + 10 + 1


# --------------------------------------------------------------------------- the rules
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"codes": []}, r"loss.codes: is empty; InfoGAN needs at least one latent code"),
        ({"codes": CODES + [{"name": "c1", "kind": "continuous"}]}, r"loss.codes\[2\].name: 'c1' names two codes"),
        ({"codes": [{"name": "digit", "kind": "categorical"}]}, r"loss.codes\[0\]: code 'digit' is categorical but has no size"),
        ({"codes": [{"name": "c1", "kind": "continuous", "size": 3}]}, r"loss.codes\[0\].size: code 'c1' is continuous"),
        ({"codes": CODES[:1], "continuous_weight": 0.5}, r"loss.continuous_weight: weighs continuous codes, and loss.codes declares none"),
        ({"codes": CODES[1:]}, r"evaluate.metrics: 'code_accuracy' scores a categorical code"),
    ],
)
def test_cross_field_rules_name_the_field(change, expected):
    spec = tiny_infogan_spec()
    spec["loss"].update(change)
    import re

    assert re.search(expected, messages(spec))


def test_code_accuracy_is_refused_for_a_family_without_codes():
    spec = tiny_gan_spec("gan")
    spec["evaluate"]["metrics"] = ["code_accuracy"]
    assert "'code_accuracy' scores the latent codes a family declares in loss.codes (infogan); 'gan' has none" in messages(spec)


def test_a_body_that_does_not_end_in_a_feature_vector_is_refused():
    spec = tiny_infogan_spec()
    spec["model"]["networks"]["discriminator"]["layers"] = BODY["layers"][:2]
    with pytest.raises(SpecError, match=r"model.networks.discriminator: outputs shape \[14, 14, 4\]; the body D and Q share"):
        prepare(validate_dict(spec), quiet=True)


# --------------------------------------------------------------------------- code_accuracy
def test_matched_accuracy_of_a_permuted_but_perfect_code_is_one():
    labels = np.random.default_rng(0).integers(0, 10, 1000)
    permutation = np.random.default_rng(1).permutation(10)
    accuracy, matching = matched_accuracy(permutation[labels], labels)
    assert accuracy == 1.0
    assert all(matching[int(permutation[k])] == k for k in range(10))


def test_matched_accuracy_of_a_random_code_is_about_one_over_k():
    rng = np.random.default_rng(0)
    accuracy, _ = matched_accuracy(rng.integers(0, 10, 20_000), rng.integers(0, 10, 20_000))
    assert 0.09 < accuracy < 0.12  # 1/K, and a little more: the best matching picks the luckiest pairs


# --------------------------------------------------------------------------- export and runtime
@pytest.fixture(scope="module")
def infogan_run(tmp_path_factory):
    """(folder, export) of `genkit run` on the tiny spec: trains 2 steps, evaluates code_accuracy, exports."""
    import os

    folder = tmp_path_factory.mktemp("infogan")
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(tiny_infogan_spec(), sort_keys=False))
    old = os.getcwd()
    os.chdir(folder)
    try:
        assert main(["run", str(path), "--out", str(folder / "export")]) == 0
    finally:
        os.chdir(old)
    return folder, folder / "export"


def test_run_reports_code_accuracy_and_exports_the_codes(infogan_run):
    folder, export = infogan_run
    (run_dir,) = (folder / "runs" / "tiny_infogan").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["metrics"]["code_accuracy"] <= 1.0
    assert "Hungarian" in metrics["protocol"]["code_accuracy"]
    manifest = json.loads((export / "manifest.json").read_text())
    assert manifest["prior"] == {"kind": "uniform", "low": -1.0, "high": 1.0}  # z ~ U(-1, 1), the paper's
    codes = manifest["codes"]
    assert codes["noise_dim"] == 8
    assert [(v["name"], v["kind"], v["slice"], v["prior"]) for v in codes["variables"]] == [
        ("digit", "categorical", [8, 18], {"kind": "uniform_categorical"}),
        ("c1", "continuous", [18, 19], {"kind": "uniform", "low": -1.0, "high": 1.0}),
    ]
    assert codes["recognition"] == {"network": "discriminator", "image_input": "x", "outputs": {"digit": "digit_logits", "c1": "c1_mean"}}


def test_sampler_sets_the_given_codes_and_draws_the_rest_as_before(infogan_run):
    sampler = Sampler(infogan_run[1])
    x, y = sampler.sample(6, seed=4, codes={"digit": 3, "c1": np.linspace(-1, 1, 6)})
    assert y is None and x.shape == (6, 28, 28, 1)
    # By hand: z from the prior, every code drawn, then the given ones set.
    rng = np.random.default_rng(4)
    z = rng.uniform(-1.0, 1.0, (6, 19)).astype("float32")  # loss.noise: uniform, the default
    drawn = sampler.codes.draw(rng, 6)
    latent = sampler.codes.fill(z, {**drawn, "digit": np.full(6, 3), "c1": np.linspace(-1, 1, 6)})
    np.testing.assert_allclose(x, sampler.decode(latent), atol=1e-6)
    assert (latent[:, 8:18].argmax(axis=1) == 3).all() and np.allclose(latent[:, 18], np.linspace(-1, 1, 6))
    read = sampler.infer_codes(x)
    assert read["digit"].shape == (6,) and read["digit"].dtype.kind == "i" and read["c1"].shape == (6,)


def test_one_seed_draws_the_same_z_and_other_codes_whatever_one_code_is_set_to():
    codes = LatentCodes(4, code_variables(4, [("digit", "categorical", 10), ("c1", "continuous", None), ("c2", "continuous", None)]))
    a = codes.draw(np.random.default_rng(0), 5, {"digit": 3})
    b = codes.draw(np.random.default_rng(0), 5, {"digit": 7})
    assert (a["digit"] == 3).all() and (b["digit"] == 7).all()
    np.testing.assert_array_equal(a["c1"], b["c1"])
    np.testing.assert_array_equal(a["c2"], b["c2"])


def test_cli_sample_takes_codes_and_names_the_known_ones_on_a_mistake(infogan_run, tmp_path, capsys):
    export = str(infogan_run[1])
    assert main(["sample", export, "--n", "4", "--code", "digit=3", "--code", "c1=-1.5", "--out", str(tmp_path / "a.npz")]) == 0
    assert "digit 3, c1 -1.5" in capsys.readouterr().out
    assert main(["sample", export, "--code", "digt=3", "--out", str(tmp_path / "b.png")]) == 2
    err = capsys.readouterr().err
    assert "no code named 'digt'" in err and "digit (categorical, 0..9), c1 (continuous, U(-1, 1))" in err and "Did you mean 'digit'" in err
    assert main(["sample", export, "--code", "digit=10", "--out", str(tmp_path / "b.png")]) == 2
    assert "code 'digit' takes the classes 0..9; got 10" in capsys.readouterr().err
    assert main(["sample", export, "--code", "c1=wide", "--out", str(tmp_path / "b.png")]) == 2
    assert "code 'c1' is continuous; expected a number" in capsys.readouterr().err
    assert main(["sample", export, "--code", "digit", "--out", str(tmp_path / "b.png")]) == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err


def test_export_evaluation_reads_the_codes_through_onnx(infogan_run):
    from genkit.evaluate.export_eval import evaluate_export

    report = evaluate_export(infogan_run[1])
    assert 0.0 <= report["metrics"]["code_accuracy"] <= 1.0


def test_traverse_draws_a_row_block_per_code(infogan_run, tmp_path):
    sampler = Sampler(infogan_run[1])
    digit, c1 = code_traversals(sampler, rows=3, steps=6, span=(-2, 2))
    assert digit.labels == ["digit 0..9", "", ""] and c1.labels == ["c1 -2..2", "", ""]
    assert digit.latents.shape == (3, 10, 19) and c1.latents.shape == (3, 6, 19)
    # Along a row only the traversed code moves; z and the other codes are the row's own.
    assert (digit.latents[1, :, 8:18].argmax(axis=1) == np.arange(10)).all()
    np.testing.assert_array_equal(np.ptp(digit.latents[1][:, list(range(8)) + [18]], axis=0), 0)
    np.testing.assert_allclose(c1.latents[2, :, 18], np.linspace(-2, 2, 6))
    np.testing.assert_array_equal(np.ptp(c1.latents[2, :, :18], axis=0), 0)
    grid = traversal_grid(sampler, tmp_path / "grid.png", [digit, c1])
    assert grid.shape == (6 * 10, 28, 28, 1)  # 10 columns (the digit's values); c1's rows padded blank
    assert np.isnan(grid.reshape(6, 10, -1)[3:, 6:]).all() and not np.isnan(grid.reshape(6, 10, -1)[3:, :6]).any()
    line = explore_traverse(infogan_run[1], tmp_path / "traverse.png", rows=3, steps=6)
    assert "its codes digit, c1, 3 rows each" in line and (tmp_path / "traverse.png").is_file()
    with pytest.raises(GenkitError, match="--dims picks dimensions of z"):
        explore_traverse(infogan_run[1], tmp_path / "x.png", dims=[0])


def _decoder_export(root: Path) -> Path:
    """A tiny generator export without codes (latent 3, 8x8 images)."""
    import keras

    from genkit.export import export_networks

    z = keras.Input((3,), name="z")
    x = keras.layers.Reshape((8, 8, 1), name="x")(keras.layers.Dense(64, activation="sigmoid")(z))
    manifest = {
        "format": 1, "name": "gen3", "family": "gan", "data": {"shape": [8, 8, 1], "range": [0.0, 1.0]}, "latent_dim": 3,
        "prior": {"kind": "standard_normal"}, "sampling": {"network": "decoder", "latent_input": "z", "label_input": None, "output": "x"},
    }
    export_networks({"decoder": keras.Model(z, x)}, root / "gen3", manifest)
    return root / "gen3"


def test_traverse_without_codes_moves_one_latent_dimension_per_row(tmp_path):
    sampler = Sampler(_decoder_export(tmp_path))
    dims = traversal_dimensions(sampler, [2, 0])
    (block,) = latent_traversals(sampler, dims, steps=5, span=(-1, 1))
    assert block.labels == ["z2", "z0"] and block.latents.shape == (2, 5, 3)
    np.testing.assert_allclose(block.latents[0, :, 2], np.linspace(-1, 1, 5))
    assert np.ptp(block.latents[0, :, [0, 1]], axis=1).max() == 0  # the other dimensions stay put
    grid = traversal_grid(sampler, tmp_path / "dims.png", [block])
    assert grid.shape == (10, 8, 8, 1)
    with pytest.raises(GenkitError, match=r"--dims: gen3 has latent dimensions 0..2; got 3"):
        traversal_dimensions(sampler, [3])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c["variables"][1].update(slice=[17, 18]), "starts at 17"),
        (lambda c: c["variables"][0].update(prior={"kind": "uniform", "low": -1, "high": 1}), "needs size >= 2 and prior"),
        (lambda c: c["recognition"]["outputs"].update(width="w_mean"), "does not declare"),
        (lambda c: c["variables"][1]["prior"].update(low=2.0), "a < b"),
    ],
)
def test_a_bad_codes_section_is_refused_when_the_export_opens(infogan_run, tmp_path, change, expected):
    import shutil

    export = tmp_path / "copy"
    shutil.copytree(infogan_run[1], export)
    manifest = json.loads((export / "manifest.json").read_text())
    change(manifest["codes"])
    (export / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(GenkitError, match=expected):
        Sampler(export)


def test_interpolating_prior_draws_takes_the_codes_from_their_priors(infogan_run, tmp_path, monkeypatch):
    from genkit.runtime import Sampler
    from genkit.runtime.latent.explore import explore_interpolate

    seen = []
    decode = Sampler.decode

    def recording(self, z, y=None, **kwargs):
        seen.append(np.array(z))
        return decode(self, z, y, **kwargs)

    monkeypatch.setattr(Sampler, "decode", recording)
    explore_interpolate(infogan_run[1], tmp_path / "strips.png", rows=3, steps=4, method="linear")
    z = np.concatenate(seen).reshape(3, 4, -1)
    ends = z[:, [0, -1]].reshape(6, -1)
    # The digit slots [8, 18) are one-hot at both ends of a strip, c1 and c2 inside U(-1, 1).
    np.testing.assert_allclose(ends[:, 8:18].sum(axis=1), 1.0)
    assert set(np.unique(ends[:, 8:18])) == {0.0, 1.0}
    assert np.all(np.abs(ends[:, 18:]) <= 1.0)


@pytest.mark.parametrize(
    ("noise", "facts", "mean", "std"),
    [
        ({"noise": "uniform", "noise_scale": 0.5}, {"kind": "uniform", "low": -0.5, "high": 0.5}, 0.0, 0.5 / math.sqrt(3)),
        ({"noise": "normal", "noise_scale": 0.3}, {"kind": "normal", "std": 0.3}, 0.0, 0.3),
        ({"noise": "normal"}, {"kind": "standard_normal"}, 0.0, 1.0),
    ],
)
def test_loss_noise_sets_the_prior_training_draws_and_the_export_states(noise, facts, mean, std):
    model = build(**noise).model
    assert model.export_plan(None).prior == facts
    latent, _ = model._draw(4000)
    z = np.asarray(latent)[:, :8]  # the noise part; the codes follow it
    assert abs(z.mean() - mean) < 0.03 and z.std() == pytest.approx(std, rel=0.05)
    if facts["kind"] == "uniform":
        assert z.min() >= -0.5 and z.max() <= 0.5
    # The Keras model's own samples draw z as the onnxruntime Sampler does (LatentPrior on the same facts).
    drawn = model._draw_noise(np.random.default_rng(0), 4000)[:, :8]
    assert drawn.std() == pytest.approx(std, rel=0.05)
