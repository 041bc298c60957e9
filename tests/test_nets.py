"""genkit.nets: the layer registry, the blocks, and networks built from specs."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

from genkit.errors import SpecError
from genkit.nets import (
    ConcatCondition,
    LabelEmbedding,
    Sampling,
    build_network,
    count_params,
    get_layer_class,
    list_blocks,
    list_layers,
    register_block,
    summarize,
)
from genkit.spec.schema import NetworkSpec

NET = ("model", "networks", "net")

ENCODER = [
    {"Conv2D": {"filters": 32, "kernel_size": 3, "activation": "relu"}},
    {"MaxPooling2D": {"pool_size": 2}},
    {"Conv2D": {"filters": 64, "kernel_size": 3, "activation": "relu"}},
    {"MaxPooling2D": {"pool_size": 2}},
    {"Conv2D": {"filters": 64, "kernel_size": 3, "activation": "relu"}},
    {"Flatten": {}},
    {"Dense": {"units": 49, "activation": "relu"}},
]
DECODER = [
    {"Reshape": {"target_shape": [7, 7, 1]}},
    {"Conv2DTranspose": {"filters": 64, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"}},
    {"BatchNormalization": None},
    {"Conv2DTranspose": {"filters": 64, "kernel_size": [3, 3], "strides": 2, "padding": "same", "activation": "relu"}},
    {"BatchNormalization": {}},
    {"Conv2DTranspose": {"filters": 32, "kernel_size": 3, "padding": "same", "activation": "relu"}},
    {"Conv2D": {"filters": 1, "kernel_size": 3, "padding": "same", "activation": "sigmoid"}},
]


def problems(spec: NetworkSpec, **kwargs) -> list:
    """The problems build_network reports for `spec` (fails if it builds)."""
    with pytest.raises(SpecError) as info:
        build_network("net", spec, **kwargs)
    return info.value.problems


def graph(nodes, **kwargs) -> NetworkSpec:
    return NetworkSpec(graph=nodes, **kwargs)


# --------------------------------------------------------------------------- registry
def test_registry_lists_keras_layers_and_genkit_blocks():
    names = list_layers()
    assert names == sorted(names)
    for name in ("Conv2D", "Dense", "BatchNormalization", "LeakyReLU", "Reshape", "GroupNormalization"):
        assert get_layer_class(name) is getattr(keras.layers, name)
    assert set(list_blocks()) >= {"Sampling", "LabelEmbedding", "ConcatCondition"}
    assert get_layer_class("Sampling") is Sampling
    # Layers that would run code or need Python objects are not nameable.
    assert "Lambda" not in names and "InputLayer" not in names


def test_unknown_layer_name_suggests_the_closest():
    with pytest.raises(SpecError, match="Did you mean 'Conv2D'") as info:
        get_layer_class("Conv2d", ("here",))
    assert info.value.problems[0].path == ("here",)


def test_register_block_refuses_a_class_that_cannot_round_trip():
    class NotSerialisable(keras.layers.Layer):
        def __init__(self, size=3, **kwargs):
            super().__init__(**kwargs)
            self.size = size

    with pytest.raises(TypeError, match="register_keras_serializable"):
        register_block(NotSerialisable)

    @keras.saving.register_keras_serializable(package="genkit")
    class NoConfig(keras.layers.Layer):
        def __init__(self, size=3, **kwargs):
            super().__init__(**kwargs)
            self.size = size

    with pytest.raises(TypeError, match="get_config"):
        register_block(NoConfig)


# --------------------------------------------------------------------------- layer lists
def test_classic_conv_autoencoder_has_the_known_parameter_counts():
    encoder = build_network("encoder", NetworkSpec(layers=ENCODER), input_shape=(28, 28, 1))
    decoder = build_network("decoder", NetworkSpec(layers=DECODER), input_shape=(49,))
    totals = [a + b for a, b in zip(count_params(encoder), count_params(decoder))]
    assert totals == [140_850, 140_594]
    assert encoder.output.shape == (None, 49)
    assert decoder.output.shape == (None, 28, 28, 1)
    assert encoder.name == "encoder" and encoder.input.name == "x"


def test_layer_names_are_readable_unique_and_repeatable():
    first = build_network("encoder", NetworkSpec(layers=ENCODER), input_shape=(28, 28, 1))
    second = build_network("encoder", NetworkSpec(layers=ENCODER), input_shape=(28, 28, 1))
    names = [layer.name for layer in first.layers]
    assert names == [layer.name for layer in second.layers]
    assert names[:4] == ["x", "conv2d", "max_pooling2d", "conv2d_1"]
    assert len(set(names)) == len(names)


def test_summary_lists_every_layer_and_the_totals():
    model = build_network("decoder", NetworkSpec(layers=DECODER), input_shape=(49,))
    text = summarize(model)
    assert "conv2d_transpose_1" in text and "BatchNormalization" in text and "(None, 28, 28, 1)" in text
    assert text.splitlines()[-1] == "total 56,833 params (56,577 trainable)"


def test_spec_input_is_used_and_must_agree_with_the_family():
    spec = NetworkSpec(input=[28, 28, 1], layers=ENCODER)
    assert build_network("encoder", spec).input.shape == (None, 28, 28, 1)
    assert build_network("encoder", spec, input_shape=(28, 28, 1)).output.shape == (None, 49)
    (problem,) = problems(spec, input_shape=(32, 32, 3))
    assert problem.path == NET + ("input",)
    assert "[28, 28, 1]" in problem.message and "[32, 32, 3]" in problem.message


def test_missing_input_shape_is_an_error():
    (problem,) = problems(NetworkSpec(layers=ENCODER))
    assert "needs an input shape" in problem.message


def test_bad_layer_items_are_reported_together():
    # The schema accepts any list item, so the builder's own, more helpful message is what the user sees.
    spec = NetworkSpec(
        layers=[
            "Flatten",
            {"Conv2d": {"filters": 3, "kernel_size": 3}},
            {"Conv2D": {"filter": 8, "kernel_size": 3}},
            {"Conv2D": {"filters": 8, "kernel_size": 3, "padding": "sam"}},
            {"Dense": {"units": 4}, "Flatten": {}},
            {"Dense": 32},
        ]
    )
    found = problems(spec, input_shape=(8, 8, 1))
    by_path = {p.path: p for p in found}
    layers = NET + ("layers",)
    assert len(found) == 6
    assert "'- Flatten: {}'" in by_path[layers + (0,)].suggestion
    assert "Did you mean 'Conv2D'" in by_path[layers + (1, "Conv2d")].suggestion
    keyword = by_path[layers + (2, "Conv2D", "filter")]
    assert "'filter'" in keyword.message and "'filters'" in keyword.suggestion
    assert "sam" in by_path[layers + (3, "Conv2D", "padding")].message
    assert "one-key mapping" in by_path[layers + (4,)].message
    assert "must be a mapping" in by_path[layers + (5, "Dense")].message


def test_bad_activation_points_at_the_keyword_and_suggests_a_name():
    (problem,) = problems(NetworkSpec(layers=[{"Dense": {"units": 2, "activation": "relux"}}]), input_shape=(4,))
    assert problem.path == NET + ("layers", 0, "Dense", "activation")
    assert "relux" in problem.message and "'relu'" in problem.suggestion


def test_missing_required_keyword_is_named():
    (problem,) = problems(NetworkSpec(layers=[{"Dense": {}}]), input_shape=(4,))
    assert problem.path == NET + ("layers", 0, "Dense") and "'units'" in problem.message


def test_per_layer_input_shape_is_refused():
    (problem,) = problems(NetworkSpec(layers=[{"Dense": {"units": 2, "input_shape": [4]}}]), input_shape=(4,))
    assert problem.path == NET + ("layers", 0, "Dense", "input_shape")


def test_shape_error_while_calling_shows_the_input_shape():
    spec = NetworkSpec(layers=[{"Dense": {"units": 49}}, {"Reshape": {"target_shape": [5, 5]}}])
    (problem,) = problems(spec, input_shape=(10,))
    assert problem.path == NET + ("layers", 1, "Reshape")
    assert "(None, 49)" in problem.message and "\x1b" not in problem.message


# --------------------------------------------------------------------------- graphs
UNET_LIKE = [
    {"id": "t1", "layer": "Reshape", "target_shape": [1], "from": "t"},
    # Stand-in for SinusoidalEmbedding until that block exists.
    {"id": "temb", "layer": "Dense", "units": 16, "from": "t1"},
    {"id": "h0", "layer": "Conv2D", "filters": 8, "kernel_size": 3, "padding": "same", "from": "x"},
    {"id": "d1", "layer": "ConcatCondition", "from": ["h0", "temb"]},
    {"id": "p1", "layer": "AveragePooling2D", "pool_size": 2, "from": "d1"},
    {"id": "mid", "layer": "Conv2D", "filters": 24, "kernel_size": 3, "padding": "same", "from": "p1"},
    {"id": "u1", "layer": "UpSampling2D", "from": "mid"},
    # The ddpm_mnist.yaml form: a merge inside a `from` list.
    {"id": "e1", "layer": "ConcatCondition", "from": [{"concat": ["u1", "d1"]}, "temb"]},
    {"id": "c1", "layer": "Conv2D", "filters": 8, "kernel_size": 1, "from": "e1"},
    {"id": "out", "layer": "Conv2D", "filters": 1, "kernel_size": 1, "from": {"add": ["c1", "h0"]}},
]


def test_graph_with_two_inputs_skips_and_merges_builds():
    model = build_network("denoiser", graph(UNET_LIKE, inputs={"x": [8, 8, 1], "t": []}))
    assert [i.name for i in model.inputs] == ["x", "t"]
    assert model.inputs[1].shape == (None,)  # [] is one scalar per example
    assert model.output.shape == (None, 8, 8, 1)
    assert model.get_layer("e1_concat").output.shape == (None, 8, 8, 48)  # u1 (24) + d1 (8 + 16)
    out = model({"x": np.zeros((2, 8, 8, 1), "float32"), "t": np.ones((2,), "float32")})
    assert out.shape == (2, 8, 8, 1)


def test_graph_inputs_may_come_from_the_family_and_must_agree():
    spec = graph(UNET_LIKE)
    model = build_network("denoiser", spec, inputs={"x": (8, 8, 1), "t": ()})
    assert model.output.shape == (None, 8, 8, 1)
    found = problems(graph(UNET_LIKE, inputs={"x": [8, 8, 1], "t": []}), inputs={"x": (16, 16, 1), "t": ()})
    assert found[0].path == NET + ("inputs", "x") and "[16, 16, 1]" in found[0].message


def test_graph_outputs_can_be_several_ids():
    nodes = [
        {"id": "h", "layer": "Dense", "units": 8, "from": "x"},
        {"id": "mean", "layer": "Dense", "units": 2, "from": "h"},
        {"id": "log_var", "layer": "Dense", "units": 2, "from": "h"},
    ]
    model = build_network("encoder", graph(nodes, input=[4], output=["mean", "log_var"]))
    assert [tuple(o.shape) for o in model.outputs] == [(None, 2), (None, 2)]


def _graph_problems(nodes, **kwargs):
    return problems(graph(nodes, inputs={"x": [8, 8, 1], "t": []}, **kwargs))


def test_unknown_from_id_suggests_earlier_ids():
    nodes = [dict(node) for node in UNET_LIKE]
    nodes[3]["from"] = ["h0", "tmb"]
    (problem,) = _graph_problems(nodes)
    assert problem.path == NET + ("graph", 3, "from", 1)
    assert "'tmb'" in problem.message and "'temb'" in problem.suggestion


def test_a_node_used_before_it_is_defined_says_order_matters():
    nodes = [
        {"id": "a", "layer": "Dense", "units": 2, "from": "b"},
        {"id": "b", "layer": "Dense", "units": 2, "from": "a"},
    ]
    (problem,) = problems(graph(nodes, input=[3]))
    assert problem.path == NET + ("graph", 0, "from")
    assert "defined later" in problem.message and "cycles" in problem.message


def test_duplicate_id_and_missing_layer_are_reported_together():
    nodes = [
        {"id": "h", "layer": "Dense", "units": 2, "from": "x"},
        {"id": "h", "layer": "Dense", "units": 2, "from": "x"},
        {"id": "k", "units": 2, "from": "h"},
    ]
    found = problems(graph(nodes, input=[3]))
    paths = {p.path: p.message for p in found}
    assert "already used by node 0" in paths[NET + ("graph", 1, "id")]
    assert "no 'layer'" in paths[NET + ("graph", 2)]


def test_unused_nodes_are_errors():
    nodes = [
        {"id": "h", "layer": "Dense", "units": 2, "from": "x"},
        {"id": "side", "layer": "Dense", "units": 2, "from": "x"},
        {"id": "out", "layer": "Dense", "units": 2, "from": "h"},
    ]
    (problem,) = problems(graph(nodes, input=[3]))
    assert problem.path == NET + ("graph", 1) and "'side'" in problem.message and "never used" in problem.message


def test_concat_shape_mismatch_shows_both_shapes():
    nodes = [
        {"id": "a", "layer": "Conv2D", "filters": 4, "kernel_size": 1, "from": "x"},
        {"id": "b", "layer": "MaxPooling2D", "from": "a"},
        {"id": "c", "layer": "Identity", "from": {"concat": ["a", "b"]}},
    ]
    (problem,) = problems(graph(nodes, input=[8, 8, 1]))
    assert problem.path == NET + ("graph", 2, "from", "concat")
    assert "(None, 8, 8, 4)" in problem.message and "(None, 4, 4, 4)" in problem.message


def test_graph_keyword_errors_point_at_the_node():
    nodes = [{"id": "h", "layer": "Conv2D", "filter": 4, "kernel_size": 1, "from": "x"}]
    (problem,) = problems(graph(nodes, input=[8, 8, 1]))
    assert problem.path == NET + ("graph", 0, "filter") and "'filters'" in problem.suggestion


# --------------------------------------------------------------------------- blocks
@pytest.mark.parametrize(
    "layer",
    [
        Sampling(seed=3),
        LabelEmbedding(num_classes=10),
        LabelEmbedding(num_classes=10, encoding="embedding", embedding_dim=4),
        ConcatCondition(),
    ],
    ids=["sampling", "onehot", "embedding", "concat_condition"],
)
def test_blocks_round_trip_their_config(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert keras.saving.get_registered_name(type(layer)) == f"genkit>{type(layer).__name__}"


def test_sampling_with_given_noise_is_the_reparameterisation():
    rng = np.random.default_rng(0)
    mean, log_var, eps = (rng.normal(size=(5, 3)).astype("float32") for _ in range(3))
    z = keras.ops.convert_to_numpy(Sampling()([mean, log_var, eps]))
    np.testing.assert_allclose(z, mean + np.exp(0.5 * log_var) * eps, rtol=1e-6, atol=1e-6)


def test_sampling_draws_with_the_right_mean_and_variance():
    n = 20_000
    mean = np.full((n, 2), [1.0, -2.0], "float32")
    log_var = np.full((n, 2), np.log([4.0, 0.25]), "float32")
    z = keras.ops.convert_to_numpy(Sampling(seed=0)([mean, log_var]))
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(z.var(axis=0), [4.0, 0.25], rtol=0.05)


def test_label_embedding_onehot_is_one_hot():
    labels = np.array([0, 3, 9, 3])
    out = keras.ops.convert_to_numpy(LabelEmbedding(num_classes=10)(labels))
    np.testing.assert_array_equal(out, np.eye(10, dtype="float32")[labels])
    column = keras.ops.convert_to_numpy(LabelEmbedding(num_classes=10)(labels[:, None]))
    np.testing.assert_array_equal(column, out)


def test_label_embedding_learned_vectors_have_embedding_dim():
    layer = LabelEmbedding(num_classes=10, encoding="embedding", embedding_dim=4)
    out = keras.ops.convert_to_numpy(layer(np.array([[1], [2]])))
    assert out.shape == (2, 4) and count_params(keras.Sequential([keras.Input(()), layer]))[0] == 40


def test_label_embedding_rejects_bad_arguments_through_the_builder():
    nodes = [{"id": "e", "layer": "LabelEmbedding", "num_classes": 10, "encoding": "embeding", "from": "y"}]
    (problem,) = problems(graph(nodes, inputs={"y": []}))
    assert problem.path == NET + ("graph", 0, "encoding")


def test_concat_condition_concatenates_vectors_and_tiles_over_maps():
    cond = np.arange(6, dtype="float32").reshape(2, 3)
    flat = ConcatCondition()([np.zeros((2, 5), "float32"), cond])
    assert flat.shape == (2, 8)
    maps = keras.ops.convert_to_numpy(ConcatCondition()([np.zeros((2, 4, 6, 1), "float32"), cond]))
    assert maps.shape == (2, 4, 6, 4)
    np.testing.assert_array_equal(maps[:, 2, 5, 1:], cond)  # the vector at every position
    symbolic = ConcatCondition()([keras.Input((4, 6, 1)), keras.Input((3,))])
    assert symbolic.shape == (None, 4, 6, 4)


# --------------------------------------------------------------------------- save and export
CVAE_ENCODER = [
    {"id": "onehot", "layer": "LabelEmbedding", "num_classes": 3, "from": "y"},
    {"id": "learned", "layer": "LabelEmbedding", "num_classes": 3, "encoding": "embedding", "embedding_dim": 2,
     "from": "y"},
    {"id": "label", "layer": "Concatenate", "from": ["onehot", "learned"]},
    {"id": "xy", "layer": "ConcatCondition", "from": ["x", "label"]},
    {"id": "conv", "layer": "Conv2D", "filters": 4, "kernel_size": 3, "strides": 2, "activation": "relu", "from": "xy"},
    {"id": "flat", "layer": "Flatten", "from": "conv"},
    {"id": "h", "layer": "ConcatCondition", "from": ["flat", "label"]},
    {"id": "mean", "layer": "Dense", "units": 4, "from": "h"},
    {"id": "log_var", "layer": "Dense", "units": 4, "from": "h"},
    {"id": "z", "layer": "Sampling", "seed": 1, "from": ["mean", "log_var", "eps"]},
]


@pytest.fixture(scope="module")
def cvae_encoder():
    spec = graph(CVAE_ENCODER, inputs={"x": [6, 6, 1], "y": [], "eps": [4]}, output=["z", "mean"])
    model = build_network("encoder", spec)
    rng = np.random.default_rng(1)
    feed = {
        "x": rng.uniform(size=(3, 6, 6, 1)).astype("float32"),
        "y": np.array([0, 2, 1], "int32"),
        "eps": rng.normal(size=(3, 4)).astype("float32"),
    }
    return model, feed


# Keras's own variable saving trips NumPy 2's __array__(copy=...) deprecation; not ours.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_model_with_every_block_saves_and_loads(cvae_encoder, tmp_path):
    model, feed = cvae_encoder
    file = tmp_path / "encoder.keras"
    model.save(file)
    loaded = keras.saving.load_model(file)
    for before, after in zip(model(feed), loaded(feed)):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(before), keras.ops.convert_to_numpy(after))


def test_model_with_every_block_exports_to_onnx(cvae_encoder):
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    model, feed = cvae_encoder
    signature = [
        tf.TensorSpec((None, 6, 6, 1), tf.float32, name="x"),
        tf.TensorSpec((None,), tf.int32, name="y"),
        tf.TensorSpec((None, 4), tf.float32, name="eps"),
    ]

    @tf.function(input_signature=signature)
    def forward(x, y, eps):
        z, mean = model({"x": x, "y": y, "eps": eps})
        return {"z": z, "mean": mean}

    proto, _ = tf2onnx.convert.from_function(forward, input_signature=signature, opset=17)
    # Noise enters as an input; a random op inside the graph would not load in onnxruntime.
    assert not [node.op_type for node in proto.graph.node if "Random" in node.op_type]
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    assert sorted(i.name for i in session.get_inputs()) == ["eps", "x", "y"]
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))
    want = model(feed)
    np.testing.assert_allclose(got["z"], keras.ops.convert_to_numpy(want[0]), atol=1e-4)
    np.testing.assert_allclose(got["mean"], keras.ops.convert_to_numpy(want[1]), atol=1e-4)


def test_predict_batches_matches_predict_for_sequential_multi_output_and_multi_input_models():
    import keras

    from genkit.nets.inference import predict_batches

    x = np.random.default_rng(0).standard_normal((300, 4)).astype("float32")
    sequential = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])  # never called before
    np.testing.assert_allclose(predict_batches(sequential, x, batch_size=128), sequential.predict(x, verbose=0), atol=1e-6)

    a, b = keras.Input((4,)), keras.Input((4,))
    two = keras.Model([a, b], [keras.layers.Add()([a, b]), keras.layers.Dense(2)(a)])
    got = predict_batches(two, [x, 2 * x], batch_size=100)
    want = two.predict([x, 2 * x], verbose=0)
    assert isinstance(got, list) and len(got) == 2
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-6)
