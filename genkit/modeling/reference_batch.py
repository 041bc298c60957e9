"""The fixed reference batch a generator with `VirtualBatchNormalization` is trained with.

Salimans et al. 2016, section 3.4: virtual batch normalisation normalises every generated
example with the statistics of a reference batch chosen once at the start of training,
forwarded through the generator at its current weights on every step. `with_reference_batch`
wraps such a generator so that a training-mode call puts R fixed latents (and, for a
conditional generator, R fixed labels 0, 1, …, K − 1, 0, 1, …) in front of the caller's
batch and drops their R outputs again; the families' train steps call it like any
generator. In inference mode both added layers pass their input through, so sampling and
the ONNX export run the generator alone on the statistics its VBN layers stored.

Example, in a family's `_build_generator`:

    generator = keras.Model([z, y], trunk(h), name="generator")
    return with_reference_batch(generator, seed=spec.seed, num_classes=10)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from genkit.errors import Problem, SpecError
from genkit.nets.blocks import VirtualBatchNormalization

__all__ = ["DropReferenceBatch", "PrependReferenceBatch", "with_reference_batch"]


@keras.saving.register_keras_serializable(package="genkit")
class PrependReferenceBatch(keras.layers.Layer):
    """In training mode, puts the reference batch in front of the latents `z` (or `[z, y]`).

    The latents are N(0, I) drawn from `seed` and kept in a non-trainable weight, so a
    checkpoint or saved network carries them; the labels cycle through the classes and
    need no weight.

    Args:
        reference_size: R, the rows put in front.
        seed: seed of the reference latents.
        num_classes: K for a conditional generator (inputs `[z, y]`), else None.
    """

    def __init__(self, reference_size, seed, num_classes=None, **kwargs):
        super().__init__(**kwargs)
        self.reference_size = reference_size
        self.seed = seed
        self.num_classes = num_classes

    def build(self, input_shape):
        z_shape = input_shape[0] if self.num_classes is not None else input_shape
        shape = (self.reference_size, z_shape[-1])
        self.latents = self.add_weight(shape=shape, name="latents", initializer="zeros", trainable=False, autocast=False)
        # NumPy, as the families' `sample` draws latents: one seed gives one batch on any device.
        self.latents.assign(np.random.default_rng(self.seed).standard_normal(shape).astype("float32"))

    def call(self, inputs, training=None):
        if not training:
            return inputs
        if self.num_classes is None:
            return ops.concatenate([ops.cast(self.latents, inputs.dtype), inputs], axis=0)
        z, y = inputs
        labels = ops.cast(ops.arange(self.reference_size) % self.num_classes, y.dtype)  # (R,)
        latents = ops.cast(self.latents, z.dtype)
        return [ops.concatenate([latents, z], axis=0), ops.concatenate([labels, y], axis=0)]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        own = {"reference_size": self.reference_size, "seed": self.seed, "num_classes": self.num_classes}
        return {**super().get_config(), **own}


@keras.saving.register_keras_serializable(package="genkit")
class DropReferenceBatch(keras.layers.Layer):
    """In training mode, drops the first `reference_size` rows (the reference batch's outputs)."""

    def __init__(self, reference_size, **kwargs):
        super().__init__(**kwargs)
        self.reference_size = reference_size

    def call(self, inputs, training=None):
        return inputs[self.reference_size :] if training else inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "reference_size": self.reference_size}


def with_reference_batch(generator: keras.Model, seed: int, num_classes=None) -> keras.Model:
    """`generator` with a reference batch around it if it has VBN layers, else `generator` itself.

    Args:
        generator: the functional generator, inputs `z` or `[z, y]`, one output.
        seed: seed of the reference latents (the spec's).
        num_classes: K for a conditional generator, else None.

    Raises:
        SpecError: its VBN layers disagree on `reference_size` (rules report layers written
            in the network itself with their paths; this catches those inside YAML blocks).
    """
    vbn = [layer for layer in _all_layers(generator) if isinstance(layer, VirtualBatchNormalization)]
    sizes = sorted({layer.reference_size for layer in vbn})
    if not sizes:
        return generator
    if len(sizes) > 1:
        listed = ", ".join(f"{layer.name} ({layer.reference_size})" for layer in vbn)
        raise SpecError(
            [
                Problem(
                    ("model", "networks", "generator"),
                    f"its VirtualBatchNormalization layers use different reference_size values: {listed}; "
                    "they all normalise with the one reference batch the family feeds the generator.",
                    f"Give every one the same reference_size, e.g. {sizes[-1]}.",
                )
            ]
        )
    (size,) = sizes
    inputs = [keras.Input(t.shape[1:], dtype=t.dtype, name=t.name) for t in generator.inputs]
    inputs = inputs if num_classes is not None else inputs[0]
    prepended = PrependReferenceBatch(size, seed, num_classes, name="reference_batch")(inputs)
    outputs = DropReferenceBatch(size, name="drop_reference_batch")(generator(prepended))
    return keras.Model(inputs, outputs, name=generator.name)


def _all_layers(model):
    """Every layer of `model`, nested models (YAML blocks, the trunk) included."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
