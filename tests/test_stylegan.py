"""StyleGAN: modulated convolution (ONNX = Keras at any batch size, demodulation), lazy penalties, w_avg,
the mapping/synthesis export, and truncation and style mixing in the TensorFlow-free runtime."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import genkit.families.stylegan.model as stylegan_model
from genkit.cli import main
from genkit.errors import SpecError
from genkit.export.convert import to_onnx
from genkit.export.from_run import export_run
from genkit.nets import list_blocks
from genkit.nets.blocks import LearnedConstant, ModulatedConv2D, NoiseInjection
from genkit.runtime import Sampler
from genkit.spec import validate_dict
from genkit.train import prepare

RNG = np.random.default_rng(0)


def tiny_spec(loss=None, style=None) -> dict:
    """MNIST 28x28 from a 7x7 constant, 6 styles, 8-unit w: seconds per step on a CPU."""
    return {
        "genkit_spec": 1,
        "name": "tiny_stylegan",
        "data": {"source": "mnist", "range": [-1, 1], "labels": False, "batch_size": 8, "limit": 64, "validation_split": 0.25},
        "model": {
            "family": "stylegan",
            "latent_dim": 8,
            "networks": {
                "mapping": {"layers": [{"PixelNormalization": {}}, {"EqualizedDense": {"units": 8, "activation": "leaky_relu", "lr_multiplier": 0.01}}]},
                "discriminator": {
                    "layers": [
                        {"EqualizedConv2D": {"filters": 8, "kernel_size": 3, "strides": 2, "activation": "leaky_relu"}},
                        {"Flatten": {}},
                        {"EqualizedDense": {"units": 1, "gain": 1.0}},
                    ]
                },
            },
        },
        "style": {"filters": [16, 8, 8], **(style or {})},
        "loss": {"r1_gamma": 1.0, **(loss or {})},
        "train": {"epochs": 1, "steps_per_epoch": 2, "tensorboard": False, "sample_every": 0, "ema": 0.9},
        "evaluate": {"metrics": ["fid"], "samples": 16},
    }


def first_batch(prep):
    return next(iter(prep.data.train_dataset(prep.spec.data.batch_size, shuffle=False)))


# --------------------------------------------------------------------------- blocks
def test_the_style_blocks_are_listed_and_round_trip_their_config():
    assert {"ModulatedConv2D", "NoiseInjection", "LearnedConstant"} <= set(list_blocks())
    for layer in (ModulatedConv2D(6, 3), ModulatedConv2D(3, 1, demodulate=False, use_bias=False), NoiseInjection(), LearnedConstant([4, 4, 2])):
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config


def test_modulated_conv_onnx_output_equals_keras_for_batch_sizes_1_and_7():
    import onnxruntime as ort

    x, w, noise = keras.Input((8, 8, 5), name="x"), keras.Input((6,), name="w"), keras.Input((8, 8, 1), name="noise")
    h = NoiseInjection()([ModulatedConv2D(4, 3)([x, w]), noise])
    rgb = ModulatedConv2D(3, 1, demodulate=False)([h, w])
    model = keras.Model([x, w, noise], [h, rgb, LearnedConstant([2, 2, 3])(w)])
    for weight in model.weights:  # away from the initial zeros and ones, so every term shows
        weight.assign(RNG.normal(size=weight.shape).astype("float32"))
    session = ort.InferenceSession(to_onnx(model, ["h", "rgb", "constant"], 17).SerializeToString())
    for batch in (1, 7):
        feeds = {"x": RNG.normal(size=(batch, 8, 8, 5)), "w": RNG.normal(size=(batch, 6)), "noise": RNG.normal(size=(batch, 8, 8, 1))}
        feeds = {k: v.astype("float32") for k, v in feeds.items()}
        expected = [np.asarray(t) for t in model([feeds["x"], feeds["w"], feeds["noise"]])]
        for want, got in zip(expected, session.run(None, feeds), strict=True):
            assert got.shape[0] == batch
            np.testing.assert_allclose(got, want, atol=1e-4)


def test_demodulation_gives_unit_output_std_whatever_the_style_scale():
    x = RNG.normal(size=(4, 32, 32, 64)).astype("float32")
    w = RNG.normal(size=(4, 8)).astype("float32")
    demodulated, plain = ModulatedConv2D(32, 1), ModulatedConv2D(32, 1, demodulate=False, use_bias=False)
    for layer in (demodulated, plain):
        layer([x, w])
        layer.affine.kernel.assign(5.0 * RNG.normal(size=(8, 64)).astype("float32"))  # styles of very different sizes
    # Kernel 1: no padding at the border, so every position is a full sum over the input channels.
    per_example = np.asarray(demodulated([x, w])).reshape(4, -1, 32).std(axis=1)  # (B, F)
    np.testing.assert_allclose(per_example.mean(axis=1), 1.0, atol=0.03)  # E[y_j²] = 1 for unit-variance inputs
    np.testing.assert_allclose(per_example, 1.0, atol=0.15)  # each channel, up to the estimate's spread
    undone = np.asarray(plain([x, w])).reshape(4, -1, 32).std(axis=1)
    assert undone.max() / undone.min() > 2.0  # the same styles without demodulation scale the outputs


def test_mix_styles_switches_from_one_latent_to_the_other_at_the_crossover():
    w, w_mixed = np.zeros((2, 3), "float32"), np.ones((2, 3), "float32")
    ws = np.asarray(stylegan_model.mix_styles(w, w_mixed, 2, 5))
    assert ws.shape == (2, 5, 3)
    np.testing.assert_array_equal(ws[:, :2], 0.0)
    np.testing.assert_array_equal(ws[:, 2:], 1.0)
    np.testing.assert_array_equal(np.asarray(stylegan_model.mix_styles(w, w_mixed, 5, 5)), 0.0)  # crossover num_ws: no mixing


# --------------------------------------------------------------------------- spec
def test_filters_that_do_not_fit_the_image_size_are_a_spec_error_naming_the_field():
    spec = validate_dict(tiny_spec(style={"filters": [32, 16, 8, 8]}))  # 28 / 8 is no whole constant
    with pytest.raises(SpecError, match=r"style.filters: has 4 entries.*Give 1, 2, 3 entries"):
        prepare(spec, quiet=True)


def test_an_interval_of_a_disabled_penalty_is_refused():
    with pytest.raises(SpecError, match=r"loss.path_length_interval: applies only when loss.path_length_weight > 0"):
        validate_dict(tiny_spec(loss={"path_length_interval": 8}))


# --------------------------------------------------------------------------- training
def test_r1_and_path_length_run_on_the_declared_lazy_steps_only(monkeypatch):
    calls = {"r1": [], "pl": []}
    model_holder = {}

    def counting(name, function, optimizer):
        def wrapped(*args, **kwargs):
            calls[name].append(int(getattr(model_holder["model"], optimizer).iterations))
            return function(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(stylegan_model, "r1_penalty", counting("r1", stylegan_model.r1_penalty, "discriminator_optimizer"))
    monkeypatch.setattr(stylegan_model, "path_length_penalty", counting("pl", stylegan_model.path_length_penalty, "generator_optimizer"))
    prep = prepare(validate_dict(tiny_spec(loss={"r1_interval": 4, "path_length_weight": 2.0, "path_length_interval": 3})), quiet=True)
    model_holder["model"] = model = prep.model
    batch = first_batch(prep)
    for _ in range(9):
        logs = model.train_step(batch)  # eager: tf.cond runs only the branch it takes
    assert calls == {"r1": [0, 4, 8], "pl": [0, 3, 6]}
    assert float(model.path_length_mean) > 0.0
    r1 = next(t for t in model.trackers if t.name == "r1_penalty")
    assert float(r1.count) == 3.0 and float(logs["r1_penalty"]) > 0.0  # the mean of the three computed values


def test_w_avg_follows_the_mapping_and_resumes_exactly(tmp_path):
    spec = validate_dict(tiny_spec(loss={"path_length_weight": 1.0, "path_length_interval": 2}))
    prep = prepare(spec, quiet=True)
    batch = first_batch(prep)
    for _ in range(3):
        prep.model.train_step(batch)
    w_avg = np.asarray(prep.model.w_avg)
    assert np.abs(w_avg).max() > 0.0  # moved from zeros towards the mean mapping output
    prep.model.save_weights(tmp_path / "model.weights.h5")
    twin = prepare(spec, quiet=True).model
    twin.load_weights(tmp_path / "model.weights.h5")
    np.testing.assert_array_equal(np.asarray(twin.w_avg), w_avg)
    for model in (prep.model, twin):
        model.train_step(batch)
    np.testing.assert_array_equal(np.asarray(twin.w_avg), np.asarray(prep.model.w_avg))
    np.testing.assert_array_equal(np.asarray(twin.path_length_mean), np.asarray(prep.model.path_length_mean))
    for a, b in zip(prep.model.synthesis.weights, twin.synthesis.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)


# --------------------------------------------------------------------------- export and runtime
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(model, export folder) of the tiny model after a few steps, exported with every network."""
    prep = prepare(validate_dict(tiny_spec()), quiet=True)
    batch = first_batch(prep)
    for _ in range(3):
        prep.model.train_step(batch)
    out = tmp_path_factory.mktemp("stylegan") / "export"
    export_run(prep, out)
    return prep.model, out


def test_mapping_and_synthesis_export_as_separate_graphs_with_a_style_section(exported):
    model, out = exported
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["networks"]) == {"mapping", "synthesis", "discriminator"}
    for entry in manifest["networks"].values():
        assert entry["parity_max_abs_diff"] <= 1e-4
    style = manifest["style"]
    assert (style["num_ws"], style["w_dim"], style["coarse"], style["fine"]) == (6, 8, [0, 1, 2, 3], [4, 5])
    np.testing.assert_allclose(style["w_avg"], np.asarray(model.w_avg), rtol=1e-6)
    inputs = {i["name"]: i["shape"] for i in manifest["networks"]["synthesis"]["inputs"]}
    assert inputs["ws"] == [None, 6, 8]
    assert [inputs[n["name"]] for n in style["noise_inputs"]] == [[None, *n["shape"]] for n in style["noise_inputs"]]
    assert [n["shape"][0] for n in style["noise_inputs"]] == [7, 14, 14, 28, 28]
    sampling = manifest["sampling"]
    assert (sampling["network"], sampling["latent_input"], sampling["output"]) == ("synthesis", "ws", "x")


def test_runtime_samples_are_the_keras_samples_and_batch_size_independent(exported):
    model, out = exported
    sampler = Sampler(out)
    x, y = sampler.sample(5, seed=3)
    assert y is None and x.shape == (5, 28, 28, 1)
    np.testing.assert_allclose(x, model.sample(5, seed=3), atol=1e-4)  # the same draws, ONNX vs the Keras EMA networks
    np.testing.assert_array_equal(sampler.sample(5, seed=3, batch_size=2)[0], x)


def test_truncation_pulls_the_styles_toward_w_avg(exported):
    _, out = exported
    style = Sampler(out).style
    z = RNG.normal(size=(6, 8))
    full, half, none = (style.styles(z, psi) for psi in (1.0, 0.5, 0.0))
    np.testing.assert_allclose(half - style.w_avg, 0.5 * (full - style.w_avg), atol=1e-6)
    np.testing.assert_allclose(none, np.broadcast_to(style.w_avg, none.shape), atol=1e-7)
    # ψ = 0: every latent gets w_avg, so with the same noise images every image is the same.
    noise = [np.repeat(RNG.normal(size=(1, *n["shape"])), 6, axis=0) for n in style.facts["noise_inputs"]]
    images = style.synthesize(np.repeat(none[:, None], style.num_ws, axis=1), noise)
    np.testing.assert_allclose(images, np.broadcast_to(images[:1], images.shape), atol=1e-6)


def test_mixing_takes_the_coarse_styles_from_seed_and_the_fine_from_mix(exported, monkeypatch):
    _, out = exported
    sampler = Sampler(out)
    fed = []
    synthesize = sampler.style.synthesize
    monkeypatch.setattr(sampler.style, "synthesize", lambda ws, noise, batch_size=256: fed.append(ws) or synthesize(ws, noise, batch_size))
    plain = sampler.sample(4, seed=1)[0]
    mixed = sampler.sample(4, seed=1, mix=2)[0]
    other = sampler.sample(4, seed=2)[0]
    (ws_1, ws_mixed, ws_2) = fed
    np.testing.assert_array_equal(ws_mixed[:, :4], ws_1[:, :4])  # coarse (0-3) from --seed
    np.testing.assert_array_equal(ws_mixed[:, 4:], ws_2[:, 4:])  # fine (4-5) from --mix
    assert not np.allclose(mixed, plain) and not np.allclose(mixed, other)
    np.testing.assert_array_equal(sampler.sample(4, seed=1, mix=2, crossover=1)[0].shape, (4, 28, 28, 1))
    np.testing.assert_array_equal(fed[-1][:, 1:], ws_2[:, 1:])


def test_sample_command_takes_truncation_and_mixing_and_refuses_bad_settings(exported, tmp_path, capsys):
    _, out = exported
    png = tmp_path / "x.png"
    assert main(["sample", str(out), "--n", "4", "--truncation", "0.5", "--mix", "3", "--out", str(png)]) == 0
    assert png.is_file() and "truncation psi 0.5, styles 4.. from seed 3" in capsys.readouterr().out
    assert main(["sample", str(out), "--n", "4", "--crossover", "2", "--out", str(png)]) == 2
    assert "--crossover chooses where the styles of --mix SEED take over" in capsys.readouterr().err
    assert main(["sample", str(out), "--n", "4", "--mix", "1", "--crossover", "6", "--out", str(png)]) == 2
    assert "--crossover must be an integer in [1, 5]" in capsys.readouterr().err
    assert main(["sample", str(out), "--n", "4", "--truncation", "nan", "--out", str(png)]) == 2
    assert "--truncation must be a finite number" in capsys.readouterr().err


def test_a_mixed_precision_run_exports_its_w_avg(tmp_path):
    try:
        raw = tiny_spec()
        raw["train"]["precision"] = "mixed_float16"
        prep = prepare(validate_dict(raw), quiet=True)
        for _ in range(2):
            prep.model.train_step(first_batch(prep))
        manifest = export_run(prep, tmp_path / "export", force=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    # The ONNX files come from a float32 twin; the model's own state goes with its networks' weights.
    np.testing.assert_allclose(manifest["style"]["w_avg"], np.asarray(prep.model.w_avg), rtol=1e-6)
    assert np.abs(manifest["style"]["w_avg"]).max() > 0.0
