"""The export's speed rewrites: fused group normalisation, checked against Keras on the final file."""

import collections

import keras
import numpy as np
import onnx
import pytest

from genkit.export.convert import to_onnx
from genkit.export.fuse import fuse_group_norms
from genkit.export.parity import parity_max_abs_diff
from genkit.nets import build_network
from genkit.spec.schema import NetworkSpec

from tiny import tiny_unet

DECOMPOSED = {"ReduceMean", "Sqrt", "Reciprocal", "Neg"}  # what tf2onnx's group-norm pattern is made of


def randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])


def op_counts(proto) -> collections.Counter:
    return collections.Counter(node.op_type for node in proto.graph.node)


def group_norms(model) -> int:
    return sum(isinstance(layer, keras.layers.GroupNormalization) for layer in _layers(model))


def _layers(layer):
    yield layer
    for child in getattr(layer, "_layers", []):
        yield from _layers(child)


@pytest.fixture(scope="module")
def unet():
    net = build_network("denoiser", NetworkSpec(**tiny_unet()))
    randomize(net)
    return net


@pytest.mark.parametrize("opset", [17, 18])  # 18: ReduceMean takes its axes as an input
def test_every_group_norm_of_the_unet_becomes_one_instance_norm_and_parity_holds(unet, opset):
    proto = to_onnx(unet, ["out"], opset=opset)
    ops = op_counts(proto)
    assert group_norms(unet) == 7  # 3 ResBlocks x 2 + the attention block's
    assert ops["InstanceNormalization"] == 7
    assert not DECOMPOSED & set(ops), ops  # no leftover of the decomposed pattern
    onnx.checker.check_model(proto)
    assert parity_max_abs_diff(unet, proto, ["out"], seed=0, ranges={"t": (0.0, 100.0)}) <= 1e-4


@pytest.mark.parametrize("center, scale", [(True, False), (False, True), (False, False)])
def test_group_norm_without_offset_or_scale_is_fused_too(center, scale):
    x = keras.Input((6, 5, 8), name="x")
    y = keras.layers.GroupNormalization(4, center=center, scale=scale, epsilon=1e-3, name="gn")(x)
    model = keras.Model(x, keras.layers.Activation("swish", name="out")(y))
    randomize(model, seed=1)
    proto = to_onnx(model, ["out"], opset=17)
    assert op_counts(proto)["InstanceNormalization"] == 1
    assert not DECOMPOSED & set(op_counts(proto))
    assert parity_max_abs_diff(model, proto, ["out"], seed=0) <= 1e-4


def test_a_graph_without_group_norms_is_left_as_it_is():
    x = keras.Input((4, 4, 8), name="x")
    model = keras.Model(x, keras.layers.LayerNormalization(name="out")(x))
    proto = to_onnx(model, ["out"], opset=17)
    before = proto.SerializeToString()
    assert fuse_group_norms(proto) == 0
    assert proto.SerializeToString() == before


def test_runtime_sessions_run_every_graph_optimisation(tmp_path):
    import onnxruntime as ort

    from genkit.runtime.providers import make_session

    x = keras.Input((4, 4, 8), name="x")
    model = keras.Model(x, keras.layers.GroupNormalization(2, name="out")(x))
    path = tmp_path / "gn.onnx"
    path.write_bytes(to_onnx(model, ["out"], opset=17).SerializeToString())
    session, _ = make_session(path, provider="cpu")
    assert session.get_session_options().graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_sessions_take_one_thread_on_a_busy_machine_and_the_default_on_an_idle_one(monkeypatch):
    from genkit.runtime import providers

    monkeypatch.delenv(providers.THREADS_ENV, raising=False)
    cores = len(providers.os.sched_getaffinity(0))
    monkeypatch.setattr(providers.os, "getloadavg", lambda: (cores + 0.5, 0.0, 0.0))
    assert providers.intra_op_threads() == 1
    monkeypatch.setattr(providers.os, "getloadavg", lambda: (cores - 0.5, 0.0, 0.0))
    assert providers.intra_op_threads() == 0  # onnxruntime's default: one per core


def test_genkit_ort_threads_sets_the_count_and_a_bad_value_is_a_clear_error(monkeypatch, tmp_path):
    from genkit.errors import GenkitError
    from genkit.runtime import providers

    x = keras.Input((4, 4, 8), name="x")
    path = tmp_path / "gn.onnx"
    path.write_bytes(
        to_onnx(keras.Model(x, keras.layers.Activation("relu", name="out")(x)), ["out"], 17).SerializeToString()
    )
    monkeypatch.setenv(providers.THREADS_ENV, "3")
    session, _ = providers.make_session(path, provider="cpu")
    assert session.get_session_options().intra_op_num_threads == 3
    monkeypatch.setenv(providers.THREADS_ENV, "two")
    with pytest.raises(GenkitError, match=r"GENKIT_ORT_THREADS=two is not a thread count; expected an integer >= 0"):
        providers.make_session(path, provider="cpu")
