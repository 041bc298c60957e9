"""VirtualBatchNormalization: the layer's maths, the reference batch the GAN families feed it, rules, export."""

import keras
import numpy as np
import pytest

from genkit.errors import SpecError
from genkit.modeling.reference_batch import PrependReferenceBatch
from genkit.nets.blocks import VirtualBatchNormalization
from genkit.spec import validate_dict
from tiny import tiny_gan_spec, tiny_spec

R = 8
EPSILON = 1e-5
VBN = {"VirtualBatchNormalization": {"reference_size": R}}


def vbn_generator(reference_size=R, second_reference_size=R) -> dict:
    """The tiny generator with VBN on dense features and on feature maps."""
    return {
        "layers": [
            {"Dense": {"units": 196}},
            {"VirtualBatchNormalization": {"reference_size": reference_size}},
            {"ReLU": {}},
            {"Reshape": {"target_shape": [7, 7, 4]}},
            {"Conv2DTranspose": {"filters": 4, "kernel_size": 3, "strides": 4, "padding": "same"}},
            {"VirtualBatchNormalization": {"reference_size": second_reference_size}},
            {"ReLU": {}},
            {"Conv2D": {"filters": 1, "kernel_size": 3, "padding": "same", "activation": "tanh"}},
        ]
    }


def build(family, **overrides):
    from genkit.train import prepare

    spec = tiny_gan_spec(family, **{"model.networks.generator": vbn_generator(), **overrides})
    return prepare(validate_dict(spec), quiet=True)


def features(shape, seed=0):
    """Features with a per-channel offset and spread, so normalising them changes them."""
    rng = np.random.default_rng(seed)
    channels = shape[-1]
    return (rng.normal(size=shape) * rng.uniform(0.5, 3.0, channels) + rng.uniform(-2, 2, channels)).astype("float32")


def layer_with_random_affine(input_shape, seed=1):
    layer = VirtualBatchNormalization(R, epsilon=EPSILON)
    layer.build(input_shape)
    rng = np.random.default_rng(seed)
    layer.gamma.assign(rng.uniform(0.5, 2.0, input_shape[-1]))
    layer.beta.assign(rng.normal(size=input_shape[-1]))
    return layer


def vbn_layers(network):
    found = []
    for layer in network.layers:
        if isinstance(layer, keras.Model):
            found += vbn_layers(layer)
        elif isinstance(layer, VirtualBatchNormalization):
            found.append(layer)
    return found


def stored(network):
    return [np.array(w) for layer in vbn_layers(network) for w in (layer.reference_mean, layer.reference_mean_sq)]


# --------------------------------------------------------------------------- the layer
def test_reference_rows_are_normalised_by_the_reference_statistics_alone():
    x = features((R + 3, 5, 5, 3))
    out = np.asarray(VirtualBatchNormalization(R, epsilon=EPSILON)(x, training=True))  # γ = 1, β = 0
    reference = out[:R]
    np.testing.assert_allclose(reference.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(reference.var(axis=(0, 1, 2)), 1.0, atol=1e-4)
    assert np.abs(out[R:].mean(axis=(1, 2))).max() > 0.05  # the others are not: their own statistics count too


@pytest.mark.parametrize("shape", [(R + 4, 5, 5, 3), (R + 4, 6)], ids=["feature_maps", "dense"])
def test_other_rows_are_normalised_with_the_mixed_statistics(shape):
    x = features(shape)
    layer = layer_with_random_affine(shape)
    out = np.asarray(layer(x, training=True))
    spatial = tuple(range(1, len(shape) - 1))  # () for dense features: an example's own statistics are its values
    reference = x[:R].astype(np.float64)
    ref_mean, ref_mean_sq = reference.mean(axis=(0, *spatial)), np.square(reference).mean(axis=(0, *spatial))
    gamma, beta = np.array(layer.gamma), np.array(layer.beta)
    for row in range(R, shape[0]):
        example = x[row : row + 1].astype(np.float64)
        own_mean = example.mean(axis=spatial, keepdims=True)
        own_mean_sq = np.square(example).mean(axis=spatial, keepdims=True)
        mean = own_mean / (R + 1) + ref_mean * R / (R + 1)
        mean_sq = own_mean_sq / (R + 1) + ref_mean_sq * R / (R + 1)
        expected = (example - mean) / np.sqrt(mean_sq - mean**2 + EPSILON) * gamma + beta
        np.testing.assert_allclose(out[row : row + 1], expected, rtol=1e-4, atol=1e-4)


def test_an_example_does_not_depend_on_the_other_examples_of_its_batch():
    reference, example = features((R, 4, 4, 2), seed=0), features((1, 4, 4, 2), seed=1)
    one = np.concatenate([reference, example, features((3, 4, 4, 2), seed=2)])
    other = np.concatenate([reference, example, 5.0 + features((6, 4, 4, 2), seed=3)])

    def row_r(layer, batch):
        return np.asarray(layer(batch, training=True))[R]

    vbn = VirtualBatchNormalization(R)
    np.testing.assert_allclose(row_r(vbn, one), row_r(vbn, other), atol=1e-6)
    batch_norm = keras.layers.BatchNormalization()  # the contrast: its batch statistics mix the examples
    assert np.abs(row_r(batch_norm, one) - row_r(batch_norm, other)).max() > 0.1


def test_inference_uses_the_stored_reference_statistics():
    reference, x = features((R, 4, 4, 3), seed=0), features((5, 4, 4, 3), seed=1)
    layer = layer_with_random_affine((None, 4, 4, 3))
    trained = np.asarray(layer(np.concatenate([reference, x]), training=True))[R:]
    axes = (0, 1, 2)
    np.testing.assert_allclose(np.array(layer.reference_mean), reference.mean(axis=axes), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(layer.reference_mean_sq), np.square(reference).mean(axis=axes), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(layer(x, training=False)), trained, atol=1e-5)
    np.testing.assert_allclose(np.asarray(layer(x[:1], training=False)), trained[:1], atol=1e-5)  # alone, too


def test_config_round_trips_and_bad_sizes_are_refused():
    layer = VirtualBatchNormalization(16, epsilon=1e-3, center=False, scale=True)
    config = layer.get_config()
    assert VirtualBatchNormalization.from_config(config).get_config() == config
    assert keras.saving.get_registered_name(VirtualBatchNormalization) == "genkit>VirtualBatchNormalization"
    layer.build((None, 3))
    assert [w.name for w in layer.trainable_weights] == ["gamma"]
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="reference_size must be an integer >= 1"):
            VirtualBatchNormalization(bad)


# --------------------------------------------------------------------------- in the GAN families
@pytest.mark.parametrize("family", ["gan", "cgan", "wgan"])
def test_the_generator_trains_with_the_reference_batch_in_front(family):
    prep = build(family)
    model = prep.model
    batch = next(iter(prep.data.train_dataset(prep.spec.data.batch_size, shuffle=False)))
    trainable = [np.array(w) for w in model.generator.trainable_weights]
    stats = stored(model.generator)
    model.train_step(batch)
    assert any(not np.allclose(a, np.array(b)) for a, b in zip(trainable, model.generator.trainable_weights))
    assert all(not np.allclose(a, b) for a, b in zip(stats, stored(model.generator)))

    # A training call returns only the caller's rows, and stores the statistics of the reference
    # latents: the same as when they alone go through the bare generator.
    z = np.random.default_rng(0).standard_normal((5, 8)).astype("float32")
    y = np.arange(5, dtype="int32")
    inputs = [z, y] if family == "cgan" else z  # the conditional generator also takes labels
    assert tuple(model.generator(inputs, training=True).shape) == (5, 28, 28, 1)
    after_wrapped_call = stored(model.generator)
    reference = model.generator.get_layer("reference_batch")
    bare = model.generator.layers[-2]  # the generator the reference batch wraps
    latents = np.array(reference.latents)
    reference_labels = np.arange(R, dtype="int32") % 10
    bare([latents, reference_labels] if family == "cgan" else latents, training=True)
    for a, b in zip(after_wrapped_call, stored(model.generator)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(latents, np.random.default_rng(prep.spec.seed).standard_normal((R, 8)), rtol=1e-6)
    # Inference uses those statistics: the same images as the training call just made.
    inferred, trained = (np.asarray(model.generator(inputs, training=mode)) for mode in (False, True))
    np.testing.assert_allclose(inferred, trained, atol=1e-5)
    assert "reference batch of 8 fixed latents" in model.describe()["generator"]


def test_the_weight_average_carries_the_stored_statistics():
    prep = build("gan", **{"train.ema": 0.9})
    model = prep.model
    before = stored(model.ema_network)
    model.train_step(next(iter(prep.data.train_dataset(32, shuffle=False))))
    decay = min(0.9, 2 / 11)  # one generator update so far
    for old, average, current in zip(before, stored(model.ema_network), stored(model.generator)):
        np.testing.assert_allclose(average, decay * old + (1 - decay) * current, rtol=1e-5, atol=1e-6)
    assert model.sampling_network is model.ema_network


def test_a_generator_without_vbn_is_not_wrapped():
    from genkit.train import prepare

    prep = prepare(validate_dict(tiny_gan_spec("gan")), quiet=True)
    assert not any(isinstance(layer, PrependReferenceBatch) for layer in prep.model.generator.layers)


def test_the_generator_saves_loads_and_exports_with_parity(tmp_path):
    from genkit.export.convert import to_onnx
    from genkit.export.parity import parity_max_abs_diff

    prep = build("gan")
    model = prep.model
    model.train_step(next(iter(prep.data.train_dataset(32, shuffle=False))))
    generator = model.sampling_network
    z = np.random.default_rng(1).standard_normal((4, 8)).astype("float32")
    generator.save(tmp_path / "generator.keras")
    loaded = keras.saving.load_model(tmp_path / "generator.keras")
    for training in (False, True):  # True: the reference latents came back too
        want, got = (np.asarray(network(z, training=training)) for network in (generator, loaded))
        np.testing.assert_allclose(got, want, atol=1e-6)
    proto = to_onnx(generator, ["x"], 17)
    assert parity_max_abs_diff(generator, proto, ["x"], seed=0) < 1e-4


# --------------------------------------------------------------------------- rules
def test_vbn_outside_a_generator_is_refused_with_the_normalisation_to_use_instead():
    spec = tiny_gan_spec("gan")
    spec["model"]["networks"]["discriminator"]["layers"].insert(1, VBN)
    with pytest.raises(SpecError) as info:
        validate_dict(spec)
    (problem,) = info.value.problems
    assert problem.path == ("model", "networks", "discriminator", "layers", 1)
    assert problem.suggestion == (
        "VirtualBatchNormalization is for the generator; in the discriminator use BatchNormalization or MinibatchStdDev."
    )

    spec = tiny_gan_spec("wgan")
    spec["model"]["networks"]["critic"]["layers"].insert(1, VBN)
    with pytest.raises(SpecError, match=r"model.networks.critic.layers\[1\]: .*in the critic use LayerNormalization"):
        validate_dict(spec)

    spec = tiny_spec("autoencoder")
    spec["model"]["networks"]["decoder"]["layers"].insert(1, VBN)
    with pytest.raises(SpecError, match=r"model.networks.decoder.layers\[1\]: .*the autoencoder decoder is not"):
        validate_dict(spec)


def test_the_vbn_layers_of_a_generator_must_share_one_reference_size():
    spec = tiny_gan_spec("gan", **{"model.networks.generator": vbn_generator(8, 16)})
    with pytest.raises(SpecError) as info:
        validate_dict(spec)
    (problem,) = info.value.problems
    assert problem.path == ("model", "networks", "generator", "layers", 5, "VirtualBatchNormalization", "reference_size")
    assert "is 16 but model.networks.generator.layers[1] uses 8" in problem.message
    assert problem.suggestion == "Use reference_size: 8 here too."


def test_reference_sizes_hidden_in_yaml_blocks_must_agree_too():
    from genkit.train import prepare

    generator = vbn_generator()
    generator["layers"][5] = {"Normalised": {}}
    spec = tiny_gan_spec("gan", **{"model.networks.generator": generator})
    spec["blocks"] = {"Normalised": {"layers": [{"VirtualBatchNormalization": {"reference_size": 4}}]}}
    with pytest.raises(SpecError, match=r"model.networks.generator: its VirtualBatchNormalization layers use different"):
        prepare(validate_dict(spec), quiet=True)
