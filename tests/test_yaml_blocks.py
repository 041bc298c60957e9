"""Blocks declared in YAML: used like layers, nested, saved, exported; misuse is located."""

import copy

import keras
import numpy as np
import pytest

from genkit.errors import SpecError
from genkit.spec import validate_dict
from genkit.train import prepare
from tiny import tiny_spec

BLOCKS = {
    "Residual": {
        "params": {"filters": None, "kernel_size": 3},
        "graph": [
            {"id": "h", "layer": "Conv2D", "filters": "$filters", "kernel_size": "$kernel_size", "padding": "same", "activation": "relu", "from": "x"},
            {"id": "skip", "layer": "Conv2D", "filters": "$filters", "kernel_size": 1, "from": "x"},
            {"id": "out", "layer": "Activation", "activation": "relu", "from": {"add": ["h", "skip"]}},
        ],
    },
    "Down": {"params": {"filters": 8}, "layers": [{"Residual": {"filters": "$filters"}}, {"MaxPooling2D": {"pool_size": 2}}]},
}


def spec_with(encoder_layers, blocks=BLOCKS):
    spec = tiny_spec("vae")
    spec["blocks"] = copy.deepcopy(blocks)
    spec["model"]["networks"]["encoder"] = {"layers": encoder_layers + [{"Flatten": {}}]}
    return validate_dict(spec)


def build(encoder_layers, blocks=BLOCKS):
    return prepare(spec_with(encoder_layers, blocks), quiet=True).model


def test_block_parameters_reach_the_layers_and_blocks_nest():
    model = build([{"Down": {"filters": 4}}, {"Down": {}}])
    trunk = model.trunks["encoder"]
    assert trunk.get_layer("down").output.shape[1:] == (14, 14, 4)
    assert trunk.get_layer("down_1").output.shape[1:] == (7, 7, 8)  # the default filters


def test_networks_with_blocks_round_trip_through_keras_saving(tmp_path):
    encoder = build([{"Down": {"filters": 4}}]).encoder
    encoder.save(tmp_path / "e.keras")
    loaded = keras.saving.load_model(tmp_path / "e.keras")
    x = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    for a, b in zip(encoder(x), loaded(x)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_networks_with_blocks_export_with_parity(tmp_path):
    from genkit.export.from_run import export_run

    prep = prepare(spec_with([{"Down": {"filters": 4}}]), quiet=True)
    manifest = export_run(prep, tmp_path / "export")
    assert manifest["networks"]["encoder"]["parity_max_abs_diff"] <= 1e-4


@pytest.mark.parametrize(
    "layers, blocks_patch, phrase",
    [
        ([{"Residual": {}}], None, "needs the parameter 'filters'"),
        ([{"Residual": {"filters": 4, "filter": 2}}], None, "has no parameter 'filter'"),
        ([{"Down": {"filters": 4}}], {"Down": {"layers": [{"Conv2D": {"filters": "$width", "kernel_size": 3}}]}}, "'$width' names no parameter"),
        ([{"Loop": {}}], {"Loop": {"layers": [{"Loop": {}}]}}, "cycle"),
    ],
)
def test_block_misuse_is_a_located_error(layers, blocks_patch, phrase):
    blocks = copy.deepcopy(BLOCKS)
    for name, patch in (blocks_patch or {}).items():
        blocks[name] = {**blocks.get(name, {}), **patch}
        if "layers" in patch:
            blocks[name].pop("graph", None)
    with pytest.raises(SpecError, match=phrase.replace("$", r"\$").replace("(", r"\(")):
        build(layers, blocks)


def test_a_block_may_not_shadow_a_layer_name():
    with pytest.raises(SpecError, match="already a layer name"):
        build([{"Dense": {"units": 3}}], {"Dense": {"layers": [{"Flatten": {}}]}})
