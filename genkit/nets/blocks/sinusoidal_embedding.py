"""`SinusoidalEmbedding`: a diffusion timestep (or any scalar) as a vector of sines and cosines."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from genkit.nets.registry import register_block

__all__ = ["SinusoidalEmbedding"]


@register_block
@keras.saving.register_keras_serializable(package="genkit")
class SinusoidalEmbedding(keras.layers.Layer):
    """Maps scalars t of shape (B,) or (B, 1) to vectors [sin(t·ω_k), cos(t·ω_k)] of shape (B, dim).

    Use it as the first node on a denoiser's timestep input: every later block (a
    `ResBlock`) reads the network's noise level from this vector. The frequencies are
    ω_k = max_period^(−k / (dim/2)) for k = 0 … dim/2 − 1, so the fastest component turns
    once per unit of t and the slowest once per 2π·max_period; the layer has no weights.
    A learned projection (Dense layers with a swish) usually follows it.

    Reference:
        Vaswani et al., "Attention Is All You Need", 2017, section 3.5; used for timesteps by
        Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", 2020, appendix B.

    Args:
        dim: size of the output vector; an even integer >= 2.
        max_period: the longest period, 10000 as in the papers.

    Inputs:
        t: float (or integer) scalars (B,) or (B, 1), e.g. a denoiser's timestep input
            `t: []` (indices 0 … T − 1).

    Returns:
        (B, dim).

    Example:

    ```yaml
    inputs: {t: []}
    graph:
      - {id: temb, layer: SinusoidalEmbedding, dim: 32, from: t}     # (B, 32)
    ```
    """

    FITS = ("diffusion",)

    def __init__(self, dim, max_period=10000.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2 or dim % 2:
            raise ValueError(f"dim must be an even integer >= 2; got {dim!r}.")
        if isinstance(max_period, bool) or not isinstance(max_period, (int, float)) or max_period <= 1:
            raise ValueError(f"max_period must be a number > 1; got {max_period!r}.")
        self.dim = dim
        self.max_period = max_period

    def call(self, t):
        if len(t.shape) == 2:
            t = ops.squeeze(t, axis=-1)  # (B, 1) -> (B,)
        half = self.dim // 2
        # Frequencies in float64 NumPy, stored once as a float32 constant of the graph.
        frequencies = np.exp(-math.log(self.max_period) * np.arange(half, dtype=np.float64) / half)
        angles = ops.expand_dims(ops.cast(t, self.compute_dtype), -1) * ops.convert_to_tensor(
            frequencies.astype("float32"), dtype=self.compute_dtype
        )  # (B, dim/2)
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)  # (B, dim)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
            raise ValueError(f"SinusoidalEmbedding expects t of shape (B,) or (B, 1); got {shape}.")
        return (shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "max_period": self.max_period}
