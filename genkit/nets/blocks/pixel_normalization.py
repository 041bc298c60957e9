"""`PixelNormalization`: each position's feature vector scaled to unit average square (ProGAN's generator)."""

from __future__ import annotations

import keras
from keras import ops

from genkit.nets.registry import register_block

__all__ = ["PixelNormalization"]


@register_block
@keras.saving.register_keras_serializable(package="genkit")
class PixelNormalization(keras.layers.Layer):
    """b = a / sqrt(mean_c(a_c²) + ε), at every position independently.

    Pixelwise feature normalisation: the feature vector at each pixel is divided by its
    root mean square over the channels. It has no parameters and no batch statistics, so it
    keeps a GAN generator's signal magnitudes from escalating without coupling the examples
    of a batch. Place it after each convolution of the generator (and on z, where it puts the
    latent on the sphere of radius sqrt(latent_dim)).

    Reference:
        Karras, Aila, Laine & Lehtinen, "Progressive Growing of GANs for Improved Quality,
        Stability, and Variation", ICLR 2018, section 4.2.

    Args:
        epsilon: added to the mean square before the root (the paper: 1e-8).

    Inputs:
        x: feature maps or vectors (B, ..., C); normalised over the last axis.

    Returns:
        the same shape.

    Example:

    ```yaml
    input: [8, 8, 3]
    layers:
      - EqualizedConv2D: {filters: 16, kernel_size: 3, activation: leaky_relu}
      - PixelNormalization: {}     # (B, 8, 8, 16)
    ```
    """

    FITS = ("progan", "stylegan")

    def __init__(self, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(f"epsilon must be a positive number; got {epsilon!r}.")
        self.epsilon = epsilon

    def call(self, inputs):
        x = ops.cast(inputs, "float32")  # the mean square of float16 activations overflows
        normalised = x * ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + self.epsilon)
        return ops.cast(normalised, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
