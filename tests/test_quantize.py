"""export.onnx.quantize: quantised copies beside the float32 files, loaded by the runtime, compared in sample terms."""

import dataclasses
import json

import keras
import numpy as np
import onnx
import pytest
from tiny import tiny_ddpm_spec, tiny_spec, with_overrides

from genkit.errors import GenkitError, SpecError
from genkit.export import quantize as quantize_module
from genkit.export.from_run import export_run
from genkit.export.quantize import QUANTIZERS, quantized_file
from genkit.manifest import load_manifest
from genkit.runtime import Sampler
from genkit.spec import validate_dict
from genkit.spec.schema import QUANTIZE_MODES
from genkit.train import prepare

SAMPLES = 16


@pytest.fixture(scope="module")
def cvae():
    """A tiny conditional VAE, untrained (quantisation and its parity do not need a good model)."""
    return prepare(validate_dict(tiny_spec("cvae", **{"evaluate.metrics": []})), quiet=True)


def _with(prep, **onnx):
    """`prep` with export.onnx settings changed (the spec is frozen: validated again)."""
    mapping = prep.spec.model_dump(mode="json")
    mapping["export"]["onnx"].update(onnx)
    return dataclasses.replace(prep, spec=validate_dict(mapping))


def _op_types(path) -> set:
    return {node.op_type for node in onnx.load(path).graph.node}


@pytest.mark.parametrize("mode", QUANTIZE_MODES)
def test_each_setting_writes_a_copy_the_runtime_loads_and_samples_like_float32(cvae, tmp_path, mode):
    out = tmp_path / "export"
    manifest = export_run(_with(cvae, quantize=mode, quantize_samples=SAMPLES), out)
    decoder = manifest["networks"]["decoder"]
    assert load_manifest(out)["networks"]["decoder"]["file"] == decoder["file"]  # the typed manifest reads it
    x, y = Sampler(out).sample(SAMPLES, seed=5)
    assert x.shape == (SAMPLES, 28, 28, 1) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert list(y) == [i % 10 for i in range(SAMPLES)]
    if mode == "none":
        assert decoder["file"] == "decoder.onnx" and "float32_file" not in decoder and "quantize" not in manifest
        assert sorted(p.name for p in out.glob("*.onnx")) == ["decoder.onnx", "encoder.onnx"]
        return
    # Beside the float32 files, which stay as they were; the runtime loads the quantised ones.
    assert sorted(p.name for p in out.glob("*.onnx")) == sorted(
        ["decoder.onnx", "encoder.onnx", quantized_file("decoder", mode), quantized_file("encoder", mode)]
    )
    assert decoder["file"] == f"decoder.{mode}.onnx" and decoder["float32_file"] == "decoder.onnx"
    ops = _op_types(out / decoder["file"])
    if mode == "float16":
        weights = onnx.load(out / decoder["file"]).graph.initializer
        assert {w.data_type for w in weights if len(w.dims) > 1} == {onnx.TensorProto.FLOAT16}
    else:
        assert ops & {"QuantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "QLinearConv"}, ops
    # The same latents through float32 and quantised: close, not equal.
    q = manifest["quantize"]
    assert q["mode"] == mode and q["samples"] == SAMPLES and q["seed"] == cvae.spec.seed
    assert 0.0 < q["sample_mean_abs_diff"] <= q["sample_max_abs_diff"] < 0.5
    assert q["float32"]["seconds"] > 0 and q["quantized"]["seconds"] > 0
    assert q["quality"].startswith("skipped: evaluate.metrics asks for neither")
    assert 0.0 < decoder["quantized_mean_abs_diff"] <= decoder["quantized_max_abs_diff"] < 0.5
    assert manifest["networks"]["encoder"]["float32_file"] == "encoder.onnx"
    card = (out / "README.md").read_text()
    assert f"## Quantised: {mode}" in card and "max abs difference vs float32" in card


def test_float32_files_of_a_quantised_export_are_the_plain_export(cvae, tmp_path):
    plain = export_run(_with(cvae, quantize="none"), tmp_path / "plain")
    quantised = export_run(_with(cvae, quantize="dynamic_int8", quantize_samples=SAMPLES), tmp_path / "q")
    for network in ("decoder", "encoder"):
        a = onnx.load(tmp_path / "plain" / plain["networks"][network]["file"]).graph
        b = onnx.load(tmp_path / "q" / quantised["networks"][network]["float32_file"]).graph
        # tf2onnx numbers its node names per conversion; the operators and the weights are the same.
        assert [n.op_type for n in a.node] == [n.op_type for n in b.node]
        assert sorted(w.raw_data for w in a.initializer) == sorted(w.raw_data for w in b.initializer)


def test_static_int8_calibrates_on_the_training_images_and_labels(cvae, tmp_path, monkeypatch):
    seen = {}
    real = quantize_module.quantize_network

    def spy(src, dst, mode, calibration=None):
        seen[src.stem] = calibration
        return real(src, dst, mode, calibration)

    monkeypatch.setattr(quantize_module, "quantize_network", spy)
    manifest = export_run(_with(cvae, quantize="static_int8", quantize_samples=SAMPLES), tmp_path / "export")
    train = cvae.data
    encoder_batches = seen["encoder"]
    assert encoder_batches and np.array_equal(encoder_batches[0]["x"], train.x_train[: len(encoder_batches[0]["x"])])
    assert np.array_equal(encoder_batches[0]["y"], train.y_train[: len(encoder_batches[0]["y"])])
    decoder_batches = seen["decoder"]  # latents from the prior, with the training labels
    assert np.array_equal(decoder_batches[0]["y"], train.y_train[: len(decoder_batches[0]["y"])])
    assert decoder_batches[0]["z"].shape[1] == 4
    assert (
        "training labels" in manifest["quantize"]["calibration"]
        and "images encoded" in manifest["quantize"]["calibration"]
    )


def test_static_int8_without_calibration_batches_is_an_error(tmp_path):
    with pytest.raises(GenkitError, match="static_int8 calibrates .* decoder.onnx was fed none.*dynamic_int8"):
        quantize_module.quantize_network(tmp_path / "decoder.onnx", tmp_path / "out.onnx", "static_int8", [])


def test_fid_and_class_accuracy_of_both_are_recorded_where_evaluate_asks(cvae, tmp_path):
    classifier = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(8), keras.layers.Dense(10)]
    )
    path = tmp_path / "classifier.keras"
    classifier.save(path)
    mapping = cvae.spec.model_dump(mode="json")
    with_overrides(mapping, {"evaluate.metrics": ["fid", "class_accuracy"], "evaluate.feature_extractor": str(path)})
    mapping["export"]["onnx"].update(quantize="float16", quantize_samples=SAMPLES)
    manifest = export_run(dataclasses.replace(cvae, spec=validate_dict(mapping)), tmp_path / "export")
    q = manifest["quantize"]
    for side in ("float32", "quantized"):
        assert np.isfinite(q[side]["fid"]) and q[side]["fid"] >= 0
        assert 0.0 <= q[side]["class_accuracy"] <= 1.0
    assert q["quality"].startswith("fid, class_accuracy of the same 16 samples")
    assert "| FID |" in (tmp_path / "export" / "README.md").read_text()


def test_a_diffusion_denoiser_calibrates_on_noised_training_images_and_samples(tmp_path):
    prep = prepare(
        validate_dict(
            tiny_ddpm_spec(
                conditional=True, **{"export.onnx.quantize": "static_int8", "export.onnx.quantize_samples": 8}
            )
        ),
        quiet=True,
    )
    manifest = export_run(prep, tmp_path / "export")
    assert manifest["networks"]["denoiser"]["file"] == "denoiser.static_int8.onnx"
    assert "noised to random t" in manifest["quantize"]["calibration"]
    x, _ = Sampler(tmp_path / "export").sample(4, seed=0)
    assert x.shape == (4, 28, 28, 1) and -1.0 <= x.min() and x.max() <= 1.0


def test_every_quantize_setting_has_an_implementation_and_the_reverse():
    assert set(QUANTIZE_MODES) == {"none", *QUANTIZERS}


def test_an_unknown_setting_is_a_spec_error_naming_the_field_and_the_choices():
    spec = tiny_spec("cvae", **{"export.onnx.quantize": "int4"})
    with pytest.raises(SpecError, match=r"export\.onnx\.quantize.*int4.*dynamic_int8.*static_int8.*float16"):
        validate_dict(spec)
    with pytest.raises(SpecError, match=r"export\.onnx\.quantize_samples"):
        validate_dict(tiny_spec("cvae", **{"export.onnx.quantize_samples": 2}))


def test_a_manifest_with_an_unknown_quantize_mode_is_refused(cvae, tmp_path):
    out = tmp_path / "export"
    export_run(_with(cvae, quantize="float16", quantize_samples=SAMPLES), out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["quantize"]["mode"] = "int4"
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(GenkitError, match="quantize.mode"):
        load_manifest(out)


def test_recording_feeds_keeps_every_batch_the_runtime_runs_and_stops_after(cvae, tmp_path):
    """The public hook quantisation calibrates with: the batches each network ran, as fed."""
    export_run(_with(cvae, quantize="none"), tmp_path / "export")
    sampler = Sampler(tmp_path / "export")
    with sampler.recording_feeds() as fed:
        sampler.sample(5, seed=0)
    assert list(fed) == ["decoder"]
    assert [len(batch["y"]) for batch in fed["decoder"]] == [5] and list(fed["decoder"][0]["y"]) == [0, 1, 2, 3, 4]
    sampler.sample(3, seed=0)
    assert [len(batch["y"]) for batch in fed["decoder"]] == [5]  # nothing recorded after the block
