"""`NoiseInjection`: StyleGAN's per-pixel noise, scaled per channel, fed in as an input."""

from __future__ import annotations

import keras
from keras import ops

from genkit.nets.registry import register_block

__all__ = ["NoiseInjection"]


@register_block
@keras.saving.register_keras_serializable(package="genkit")
class NoiseInjection(keras.layers.Layer):
    """x + B ⊙ n: one noise image n per example, scaled by a learned factor per channel (B).

    StyleGAN adds fresh Gaussian noise after each synthesis convolution so stochastic detail
    (hair, freckles, texture) need not be made from the latent code (Karras et al. 2019,
    section 3.2). The noise is an input of the layer rather than drawn inside it: the caller
    draws it (seeded), so a network exported to ONNX has no random op in its graph and the
    runtime can feed the same noise at any batch size, or fixed noise to compare styles.
    B starts at zero, so the noise enters only as training finds it useful.

    Reference:
        Karras, Laine & Aila, "A Style-Based Generator Architecture for Generative Adversarial
        Networks", CVPR 2019, section 3.2 and figure 1(b).

    Inputs:
        x: feature maps (B, H, W, C).
        noise: a noise image (B, H, W, 1), drawn by the caller.

    Returns:
        (B, H, W, C).

    Example:

    ```yaml
    inputs: {x: [8, 8, 16], noise: [8, 8, 1]}
    graph:
      - {id: h, layer: NoiseInjection, from: [x, noise]}     # (B, 8, 8, 16)
    ```
    """

    FITS = ("stylegan",)

    def build(self, input_shape):
        x_shape, noise_shape = input_shape
        if len(x_shape) != 4 or x_shape[-1] is None or tuple(noise_shape[1:]) != (*x_shape[1:3], 1):
            raise ValueError(
                f"NoiseInjection expects [x (B, H, W, C), noise (B, H, W, 1)]; got {tuple(x_shape)} and {tuple(noise_shape)}."
            )
        self.strength = self.add_weight(shape=(x_shape[-1],), initializer="zeros", name="strength")

    def call(self, inputs):
        x, noise = inputs
        return x + ops.cast(noise, x.dtype) * self.strength

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])
