"""EqualizedDense, EqualizedConv2D and PixelNormalization: run-time scaling, config, saving, ONNX."""

from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

from genkit.errors import SpecError
from genkit.export.convert import to_onnx
from genkit.export.parity import parity_max_abs_diff
from genkit.nets import build_network, list_blocks
from genkit.nets.blocks import EqualizedConv2D, EqualizedDense, PixelNormalization
from genkit.spec.schema import NetworkSpec

RNG = np.random.default_rng(0)


def test_the_blocks_are_listed_for_specs():
    assert {"EqualizedDense", "EqualizedConv2D", "PixelNormalization"} <= set(list_blocks())


@pytest.mark.parametrize(
    "layer",
    [
        EqualizedDense(8),
        EqualizedDense(
            4, activation="leaky_relu", use_bias=False, gain=1.0, lr_multiplier=0.01, bias_initializer="ones"
        ),
        EqualizedConv2D(6, 3),
        EqualizedConv2D(6, (1, 3), strides=2, padding="valid", activation="tanh", gain=1.0, lr_multiplier=0.5),
        PixelNormalization(),
        PixelNormalization(epsilon=1e-6),
    ],
    ids=["dense", "dense_options", "conv", "conv_options", "pixel_norm", "pixel_norm_epsilon"],
)
def test_blocks_round_trip_their_config(layer):
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    assert keras.saving.get_registered_name(type(layer)) == f"genkit>{type(layer).__name__}"


def test_equalized_dense_scales_unit_weights_by_he_constant_at_run_time():
    layer = EqualizedDense(300, lr_multiplier=0.5)
    x = RNG.normal(size=(4, 200)).astype("float32")
    out = np.asarray(layer(x))
    kernel = np.asarray(layer.kernel)
    # Stored weights N(0, 1/lr_multiplier²), not He-scaled: the scale is applied in call.
    assert abs(kernel.std() - 2.0) < 0.05
    scale = math.sqrt(2.0) / math.sqrt(200) * 0.5
    np.testing.assert_allclose(out, x @ (kernel * scale), rtol=1e-4, atol=1e-5)
    layer.bias.assign(np.full(300, 3.0, "float32"))
    np.testing.assert_allclose(np.asarray(layer(x)), x @ (kernel * scale) + 1.5, rtol=1e-4, atol=1e-5)


def test_equalized_dense_gradient_is_scaled_too():
    """d out / d W = c·x: the scale is in the graph, so a unit-scale weight gets a He-scaled gradient."""
    import tensorflow as tf

    layer = EqualizedDense(1, use_bias=False, gain=1.0)
    x = np.ones((1, 16), "float32")
    with tf.GradientTape() as tape:
        out = layer(x)
    grad = tape.gradient(out, layer.kernel)
    np.testing.assert_allclose(np.asarray(grad), np.full((16, 1), 1.0 / 4.0), rtol=1e-6)


def test_equalized_conv_equals_a_plain_conv_with_the_scaled_kernel():
    layer = EqualizedConv2D(5, 3, activation="leaky_relu", gain=1.0)
    x = RNG.normal(size=(2, 6, 6, 4)).astype("float32")
    out = np.asarray(layer(x))
    plain = keras.layers.Conv2D(5, 3, padding="same", activation="leaky_relu")
    plain.build(x.shape)
    plain.set_weights([np.asarray(layer.kernel) / math.sqrt(3 * 3 * 4), np.asarray(layer.bias)])
    np.testing.assert_allclose(out, np.asarray(plain(x)), rtol=1e-5, atol=1e-5)
    assert abs(np.asarray(layer.kernel).std() - 1.0) < 0.15


def test_equalized_conv_output_shape_follows_strides_and_padding():
    assert EqualizedConv2D(3, 3, strides=2)(np.zeros((1, 8, 8, 2), "float32")).shape == (1, 4, 4, 3)
    assert EqualizedConv2D(3, 3, padding="valid")(np.zeros((1, 8, 8, 2), "float32")).shape == (1, 6, 6, 3)
    assert EqualizedConv2D(3, 3, strides=2).compute_output_shape((None, 7, 7, 2)) == (None, 4, 4, 3)


def test_pixel_normalization_gives_unit_mean_square_per_position():
    x = RNG.normal(size=(3, 4, 4, 8)).astype("float32") * 7.0
    out = np.asarray(PixelNormalization()(x))
    np.testing.assert_allclose(np.mean(out**2, axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out, x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + 1e-8), rtol=1e-5)


@pytest.mark.parametrize(
    ("layer", "match"),
    [
        ({"EqualizedDense": {"units": 4, "lr_multiplier": 0}}, "lr_multiplier must be a positive number"),
        (
            {"EqualizedConv2D": {"filters": 4, "kernel_size": 3, "padding": "causal"}},
            "padding must be 'same' or 'valid'",
        ),
        ({"EqualizedConv2D": {"filters": 4, "kernel_size": [3, 0]}}, "kernel_size must be a positive integer"),
        ({"PixelNormalization": {"epsilon": -1.0}}, "epsilon must be a positive number"),
    ],
)
def test_bad_arguments_are_spec_errors_naming_the_layer(layer, match):
    with pytest.raises(SpecError, match=match) as info:
        build_network("net", NetworkSpec(layers=[layer]), input_shape=(4, 4, 3))
    assert info.value.problems[0].path[:4] == ("model", "networks", "net", "layers")


def _progan_like_network():
    layers = [
        {"PixelNormalization": {}},
        {"EqualizedDense": {"units": 64, "activation": "leaky_relu"}},
        {"Reshape": {"target_shape": [4, 4, 4]}},
        {"EqualizedConv2D": {"filters": 8, "kernel_size": 3, "activation": "leaky_relu"}},
        {"PixelNormalization": {}},
        {"EqualizedConv2D": {"filters": 3, "kernel_size": 1, "gain": 1.0, "lr_multiplier": 0.5}},
    ]
    return build_network("generator", NetworkSpec(layers=layers), input_shape=(6,))


# Keras's own variable saving trips NumPy 2's __array__(copy=...) deprecation; not ours.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_network_of_the_blocks_saves_and_loads(tmp_path):
    model = _progan_like_network()
    z = RNG.normal(size=(5, 6)).astype("float32")
    model.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras")
    np.testing.assert_array_equal(np.asarray(loaded(z)), np.asarray(model(z)))


def test_network_of_the_blocks_exports_to_onnx_with_parity():
    model = _progan_like_network()
    names = ["images"]
    assert parity_max_abs_diff(model, to_onnx(model, names, 17), names, seed=0) < 1e-5
