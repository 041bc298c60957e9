"""Diffusion blocks: SinusoidalEmbedding, ResBlock, SelfAttention2D — maths, config, saving, ONNX."""

import math

import keras
import numpy as np
import pytest

from genkit.errors import SpecError
from genkit.export.convert import to_onnx
from genkit.export.parity import parity_max_abs_diff
from genkit.nets import build_network, list_blocks
from genkit.nets.blocks import ResBlock, SelfAttention2D, SinusoidalEmbedding
from genkit.spec.schema import NetworkSpec
from tiny import tiny_unet

BLOCKS = {
    "SinusoidalEmbedding": (SinusoidalEmbedding, {"dim": 8, "max_period": 100.0}),
    "ResBlock": (ResBlock, {"filters": 8, "groups": 2, "dropout": 0.1, "epsilon": 1e-3}),
    "SelfAttention2D": (SelfAttention2D, {"heads": 2, "groups": 2, "epsilon": 1e-3}),
}


def randomize(model, seed=0):
    """Random weights everywhere, so zero-initialised layers matter in comparisons."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])


def test_blocks_are_registered_for_specs():
    assert {"SinusoidalEmbedding", "ResBlock", "SelfAttention2D"} <= set(list_blocks())


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_get_config_returns_the_constructor_arguments_and_rebuilds_the_block(name):
    cls, kwargs = BLOCKS[name]
    layer = cls(**kwargs, name="b")
    config = layer.get_config()
    assert {k: config[k] for k in kwargs} == kwargs
    assert cls.from_config(config).get_config() == config


def test_sinusoidal_embedding_is_sines_then_cosines_of_geometric_frequencies():
    t = np.array([0.0, 1.0, 37.0, 999.0], np.float32)
    got = np.asarray(SinusoidalEmbedding(dim=6)(t))
    freqs = np.array([10000.0 ** (-k / 3) for k in range(3)])
    expected = np.concatenate([np.sin(t[:, None] * freqs), np.cos(t[:, None] * freqs)], axis=1)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert SinusoidalEmbedding(dim=6)(t[:, None]).shape == (4, 6)
    with pytest.raises(ValueError, match="even integer"):
        SinusoidalEmbedding(dim=5)


def test_a_fresh_res_block_is_its_skip_path():
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 8)).astype("float32")
    emb = np.ones((2, 3), "float32")
    same = ResBlock(8, groups=4)
    np.testing.assert_allclose(np.asarray(same([x, emb])), x, atol=1e-6)  # identity skip, zero last conv
    wider = ResBlock(16, groups=4)
    out = np.asarray(wider([x, emb]))
    np.testing.assert_allclose(out, np.asarray(wider.skip(x)), atol=1e-6)  # 1x1 conv skip
    assert out.shape == (2, 4, 4, 16)


def test_res_block_adds_the_projected_embedding_between_its_convolutions():
    block = ResBlock(4, groups=2)
    x = np.zeros((1, 3, 3, 4), "float32")
    block([x, np.zeros((1, 2), "float32")])
    rng = np.random.default_rng(1)
    block.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in block.get_weights()])
    a = np.asarray(block([x + 0.3, np.zeros((1, 2), "float32")]))
    b = np.asarray(block([x + 0.3, np.ones((1, 2), "float32")]))
    assert np.abs(a - b).max() > 1e-3  # the embedding changes the output
    no_embedding = np.asarray(block(x + 0.3))
    assert no_embedding.shape == a.shape


def test_res_block_refuses_groups_that_do_not_divide_the_channels():
    with pytest.raises(ValueError, match=r"groups \(8\) must divide filters \(12\)"):
        ResBlock(12)
    with pytest.raises(ValueError, match=r"must divide the input channels \(6\)"):
        ResBlock(8)(np.zeros((1, 2, 2, 6), "float32"))


def test_self_attention_matches_scaled_dot_product_attention_in_numpy():
    layer = SelfAttention2D(heads=2, groups=1)
    x = np.random.default_rng(2).standard_normal((2, 3, 3, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(layer(x)), x, atol=1e-6)  # zero output projection: identity
    rng = np.random.default_rng(3)
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()])
    gamma, beta, w_qkv, b_qkv, w_out, b_out = [np.asarray(w, np.float64) for w in layer.get_weights()]
    h = x.reshape(2, 9, 4).astype(np.float64)
    mean, var = h.mean(axis=(1, 2), keepdims=True), h.var(axis=(1, 2), keepdims=True)  # one group
    h = (h - mean) / np.sqrt(var + 1e-5) * gamma + beta
    q, k, v = np.split(h @ w_qkv + b_qkv, 3, axis=-1)
    heads = []
    for i in range(2):
        sl = slice(2 * i, 2 * i + 2)
        scores = q[..., sl] @ np.swapaxes(k[..., sl], 1, 2) / math.sqrt(2)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        heads.append((weights / weights.sum(-1, keepdims=True)) @ v[..., sl])
    expected = x.reshape(2, 9, 4) + np.concatenate(heads, -1) @ w_out + b_out
    np.testing.assert_allclose(np.asarray(layer(x)).reshape(2, 9, 4), expected, atol=1e-4)


def test_self_attention_refuses_heads_that_do_not_divide_the_channels():
    with pytest.raises(ValueError, match=r"heads \(3\) must divide the channels \(4\)"):
        SelfAttention2D(heads=3, groups=1)(np.zeros((1, 2, 2, 4), "float32"))


@pytest.fixture(scope="module")
def unet():
    """The tests' YAML U-Net (every block), built from a spec with no Python of its own."""
    net = build_network("denoiser", NetworkSpec(**tiny_unet()))
    randomize(net)
    return net


def test_a_unet_is_written_in_yaml_and_saves_and_loads_as_keras(unet, tmp_path):
    assert [t.name for t in unet.inputs] == ["x", "t"]
    path = tmp_path / "unet.keras"
    unet.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(4).standard_normal((3, 28, 28, 1)).astype("float32")
    t = np.array([0.0, 10.0, 99.0], "float32")
    np.testing.assert_allclose(np.asarray(loaded([x, t])), np.asarray(unet([x, t])), atol=1e-5)


def test_the_unet_exports_to_onnx_with_parity(unet):
    proto = to_onnx(unet, ["out"], opset=17)
    diff = parity_max_abs_diff(unet, proto, ["out"], seed=0, ranges={"t": (0.0, 100.0)})
    assert diff <= 1e-4


def test_a_misused_block_in_a_graph_is_reported_at_its_node():
    spec = tiny_unet()
    spec["graph"][2]["groups"] = 3  # d1: 8 filters
    with pytest.raises(SpecError) as info:
        build_network("denoiser", NetworkSpec(**spec))
    assert any(p.path[:2] == ("model", "networks") and 2 in p.path for p in info.value.problems), info.value
