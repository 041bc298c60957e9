"""ONNX export: names, batch dimension, manifest, metadata, parity, atomic replacement."""

from __future__ import annotations

import json
import os
import stat

import keras
import numpy as np
import onnx
import pytest
import tensorflow as tf

import genkit
from genkit.atomic import atomic_directory, atomic_write_bytes, atomic_write_text
from genkit.errors import GenkitError
from genkit.export import export_networks
from genkit.nets import LabelEmbedding
from tiny import cvae_manifest

LATENT, CLASSES, SHAPE = 4, 3, (8, 8, 1)
RANGES = {"decoder": {"y": (0, CLASSES)}, "encoder": {"y": (0, CLASSES)}}


class EagerOnlyShift(keras.layers.Layer):
    """Adds 1 when run eagerly but not when traced: Keras and ONNX then really disagree."""

    def call(self, x):
        return x + (1.0 if tf.executing_eagerly() else 0.0)


def make_decoder(broken=False):
    z = keras.Input((LATENT,), name="z")
    y = keras.Input((), dtype="int32", name="y")
    h = keras.layers.Concatenate()([z, LabelEmbedding(CLASSES)(y)])
    h = keras.layers.Dense(64, activation="relu")(h)
    h = keras.layers.Reshape(SHAPE)(h)
    if broken:
        h = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(h)
        return keras.Model([z, y], EagerOnlyShift(name="x")(h), name="decoder")
    x = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="x")(h)
    return keras.Model([z, y], x, name="decoder")


def make_encoder(head_names=("z_mean", "z_log_var")):
    x = keras.Input(SHAPE, name="x")
    y = keras.Input((), dtype="int32", name="y")
    h = keras.layers.Concatenate()([keras.layers.Flatten()(x), LabelEmbedding(CLASSES)(y)])
    h = keras.layers.Dense(16, activation="relu")(h)
    heads = [keras.layers.Dense(LATENT, name=name)(h) for name in head_names]
    return keras.Model([x, y], heads, name="encoder")


def make_manifest():
    return cvae_manifest("tiny_cvae", SHAPE, LATENT, CLASSES)


def decoder_only_manifest():
    manifest = make_manifest()
    manifest["encoding"] = None
    return manifest


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(parent):
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports") / "tiny_cvae"
    manifest = make_manifest()
    result = export_networks(
        {"decoder": make_decoder(), "encoder": make_encoder()}, folder, manifest, input_ranges=RANGES
    )
    return folder, manifest, result


def test_export_writes_onnx_files_manifest_model_card_and_grid(exported):
    folder, _, _ = exported
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "decoder.onnx",
        "encoder.onnx",
        "manifest.json",
        "samples.png",
    ]
    assert leftovers(folder.parent) == []
    card = (folder / "README.md").read_text()
    assert "genkit sample" in card and "--n 16" in card and "onnxruntime" in card


def test_onnx_names_follow_input_layers_and_outputs_and_batch_is_named(exported):
    folder, _, _ = exported
    decoder = onnx.load(folder / "decoder.onnx")
    encoder = onnx.load(folder / "encoder.onnx")
    assert [v.name for v in decoder.graph.input] == ["z", "y"]
    assert [v.name for v in decoder.graph.output] == ["x"]
    assert [v.name for v in encoder.graph.input] == ["x", "y"]
    assert [v.name for v in encoder.graph.output] == ["z_mean", "z_log_var"]
    for model in (decoder, encoder):
        for value in [*model.graph.input, *model.graph.output]:
            assert value.type.tensor_type.shape.dim[0].dim_param == "batch"
        onnx.checker.check_model(model)


def test_manifest_records_io_parity_versions_and_keeps_callers_facts(exported):
    folder, manifest, result = exported
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk == result
    assert manifest == make_manifest()  # the caller's dict is not modified
    for key, value in manifest.items():
        assert result[key] == value
    decoder = result["networks"]["decoder"]
    assert decoder["file"] == "decoder.onnx"
    assert decoder["inputs"] == [
        {"name": "z", "shape": [None, LATENT], "dtype": "float32"},
        {"name": "y", "shape": [None], "dtype": "int32"},
    ]
    assert decoder["outputs"] == [{"name": "x", "shape": [None, *SHAPE], "dtype": "float32"}]
    assert [o["name"] for o in result["networks"]["encoder"]["outputs"]] == ["z_mean", "z_log_var"]
    for entry in result["networks"].values():
        assert 0.0 <= entry["parity_max_abs_diff"] <= 1e-4
        assert entry["parity_tolerance"] == 1e-4
    assert result["versions"]["genkit"] == genkit.__version__
    assert set(result["versions"]) >= {"genkit", "tensorflow", "keras", "tf2onnx", "onnx", "opset"}
    assert result["versions"]["opset"] == 17
    assert result["created_utc"].endswith("+00:00")
    assert result["sample_grid"] == "samples.png"


def test_metadata_props_carry_the_manifest_facts(exported):
    folder, _, result = exported
    props = {p.key: p.value for p in onnx.load(folder / "decoder.onnx").metadata_props}
    assert props["family"] == "cvae"
    assert props["name"] == "tiny_cvae"
    assert json.loads(props["latent_dim"]) == LATENT
    assert json.loads(props["data.range"]) == [0.0, 1.0]
    assert props["versions.genkit"] == genkit.__version__
    assert props["network"] == "decoder"
    assert props["created_utc"] == result["created_utc"]


def test_output_names_given_in_the_manifest_rename_the_onnx_outputs(tmp_path):
    manifest = make_manifest()
    manifest["sampling"] = None
    manifest["encoding"]["outputs"] = ["mu", "log_var"]
    manifest["networks"] = {"encoder": {"outputs": ["mu", "log_var"]}}
    encoder = make_encoder(head_names=("dense_a", "dense_b"))
    result = export_networks({"encoder": encoder}, tmp_path / "e", manifest, input_ranges=RANGES)
    model = onnx.load(tmp_path / "e" / "encoder.onnx")
    assert [v.name for v in model.graph.output] == ["mu", "log_var"]
    assert [o["name"] for o in result["networks"]["encoder"]["outputs"]] == ["mu", "log_var"]
    assert "sample_grid" not in result  # sampling: null -> no grid
    assert not (tmp_path / "e" / "samples.png").exists()


def test_parity_failure_names_the_network_and_leaves_the_previous_export_unchanged(tmp_path):
    folder = tmp_path / "m"
    export_networks({"decoder": make_decoder()}, folder, decoder_only_manifest(), input_ranges=RANGES)
    before = snapshot(folder)
    with pytest.raises(GenkitError, match=r"network 'decoder'.*max abs diff 1 > tolerance 0\.0001"):
        export_networks({"decoder": make_decoder(broken=True)}, folder, decoder_only_manifest(), input_ranges=RANGES)
    assert snapshot(folder) == before
    assert leftovers(tmp_path) == []


def test_exception_mid_export_removes_the_temp_folder_and_keeps_the_old_export(tmp_path, monkeypatch):
    folder = tmp_path / "m"
    export_networks({"decoder": make_decoder()}, folder, decoder_only_manifest(), input_ranges=RANGES)
    before = snapshot(folder)

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("genkit.export.onnx_export.write_model_card", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        export_networks({"decoder": make_decoder()}, folder, decoder_only_manifest(), input_ranges=RANGES)
    assert snapshot(folder) == before
    assert leftovers(tmp_path) == []

    with pytest.raises(RuntimeError, match="disk full"):  # first export: nothing appears
        export_networks({"decoder": make_decoder()}, tmp_path / "new", decoder_only_manifest(), input_ranges=RANGES)
    assert not (tmp_path / "new").exists()
    assert leftovers(tmp_path) == []


def test_manifest_naming_an_input_the_network_lacks_is_an_error(tmp_path):
    manifest = decoder_only_manifest()
    manifest["sampling"]["latent_input"] = "w"
    with pytest.raises(GenkitError, match=r"sampling\.latent_input names 'w'.*\['z', 'y'\]"):
        export_networks({"decoder": make_decoder()}, tmp_path / "m", manifest, input_ranges=RANGES)
    assert not (tmp_path / "m").exists()


def test_integer_inputs_need_a_range_for_the_parity_batch(tmp_path):
    with pytest.raises(ValueError, match=r"integer input 'y' needs input_ranges"):
        export_networks({"decoder": make_decoder()}, tmp_path / "m", decoder_only_manifest())


def test_atomic_write_replaces_whole_files_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "metrics.json"
    atomic_write_text(target, "one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]


def test_atomic_directory_swaps_on_success_and_discards_on_error(tmp_path):
    final = tmp_path / "out"
    with atomic_directory(final) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(KeyError), atomic_directory(final) as tmp:
        (tmp / "a.txt").write_text("2")
        raise KeyError("boom")
    assert (final / "a.txt").read_text() == "1"
    with atomic_directory(final) as tmp:
        (tmp / "b.txt").write_text("3")
    assert sorted(p.name for p in final.iterdir()) == ["b.txt"]
    assert leftovers(tmp_path) == []


def test_parity_batch_is_seeded():
    from genkit.export.parity import random_inputs

    model = make_decoder()
    first = random_inputs(model, 4, np.random.default_rng(3), RANGES["decoder"])
    again = random_inputs(model, 4, np.random.default_rng(3), RANGES["decoder"])
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert first["y"].dtype == np.int32 and first["y"].min() >= 0 and first["y"].max() < CLASSES


def test_conv_transpose_with_a_kernel_smaller_than_its_stride_loads_and_matches(tmp_path):
    # tf2onnx 1.17 writes negative pads here, which onnxruntime refuses to load.
    z = keras.Input((LATENT,), name="z")
    h = keras.layers.Reshape((2, 2, 1))(z)
    x = keras.layers.Conv2DTranspose(1, 3, strides=4, padding="same", activation="sigmoid", name="x")(h)
    manifest = decoder_only_manifest()
    manifest["sampling"]["label_input"] = None
    result = export_networks({"decoder": keras.Model(z, x)}, tmp_path / "m", manifest)
    assert result["networks"]["decoder"]["outputs"][0]["shape"] == [None, *SHAPE]
    assert result["networks"]["decoder"]["parity_max_abs_diff"] <= 1e-4


def test_output_names_must_match_the_number_of_outputs(tmp_path):
    manifest = decoder_only_manifest()
    manifest["networks"] = {"decoder": {"outputs": ["x", "extra"]}}
    with pytest.raises(GenkitError, match=r"network 'decoder' has 1 outputs; manifest networks\.decoder\.outputs"):
        export_networks({"decoder": make_decoder()}, tmp_path / "m", manifest, input_ranges=RANGES)
