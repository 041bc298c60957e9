"""`VirtualBatchNormalization`: batch normalisation against a fixed reference batch."""

from __future__ import annotations

import keras
from keras import ops

from genkit.nets.registry import register_block

__all__ = ["VirtualBatchNormalization"]


@register_block
@keras.saving.register_keras_serializable(package="genkit")
class VirtualBatchNormalization(keras.layers.Layer):
    """Normalises each example with the statistics of a fixed reference batch and its own.

    Use it in a GAN generator instead of BatchNormalization when samples of one batch look
    alike or change together: with batch normalisation every generated image depends on
    the other latents of its batch, with VBN it depends only on its own latent and on a
    reference batch of R latents chosen once before training. The adversarial families
    (gan, cgan, wgan) draw that reference batch from the spec's seed and put it in front
    of every training-mode generator call, dropping its outputs again; a generator used for
    sampling or exported to ONNX runs this layer in inference mode on the stored statistics.

    Per channel, over the batch and spatial axes of the R reference rows, the reference
    mean μ_r and mean of squares ν_r are computed; an example's own μ_x and ν_x are over its
    spatial axes (dense features: the value itself). The example is normalised with

        μ = μ_x / (R + 1) + μ_r · R / (R + 1),   ν = ν_x / (R + 1) + ν_r · R / (R + 1)
        y = (x − μ) / sqrt(ν − μ² + ε) · γ + β

    and a reference row with μ_r and ν_r alone. In training mode the first
    `reference_size` rows of the input are the reference batch: their statistics, at the
    current weights (gradients flow through them), normalise the batch and are stored, so
    inference mode (no reference rows) uses the statistics of the last training step.

    Reference:
        Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen, "Improved Techniques for
        Training GANs", NeurIPS 2016, section 3.4 (and OpenAI's improved-gan code).

    Args:
        reference_size: R, the number of reference rows; every VirtualBatchNormalization in
            one generator must use the same R.
        epsilon: added to the variance before the square root.
        center: learn the offset β.
        scale: learn the scale γ.

    Inputs:
        x: channels-last features (B, ..., C); in training mode the first R rows are the
            reference batch (the family puts them there; inference mode uses the stored
            statistics).

    Returns:
        The normalised features, shaped like `x`.

    Example:

    ```yaml
    input: [4, 4, 8]
    layers:
      - VirtualBatchNormalization: {reference_size: 4}
      - ReLU: {}     # (B, 4, 4, 8)
    ```
    """

    FITS = ("reference_batch",)

    def __init__(self, reference_size, epsilon=1e-5, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        if isinstance(reference_size, bool) or not isinstance(reference_size, int) or reference_size < 1:
            raise ValueError(f"reference_size must be an integer >= 1; got {reference_size!r}.")
        self.reference_size = reference_size
        self.epsilon = epsilon
        self.center = center
        self.scale = scale

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"VirtualBatchNormalization expects features (B, ..., C) with known C; got shape {tuple(input_shape)}."
            )
        channels = (input_shape[-1],)

        def weight(name, initializer, trainable=True):
            return self.add_weight(
                shape=channels, name=name, initializer=initializer, trainable=trainable, autocast=False
            )

        self.gamma = weight("gamma", "ones") if self.scale else None
        self.beta = weight("beta", "zeros") if self.center else None
        # The reference statistics of the last training step, for inference and export.
        self.reference_mean = weight("reference_mean", "zeros", trainable=False)
        self.reference_mean_sq = weight("reference_mean_sq", "ones", trainable=False)
        self._spatial_axes = tuple(range(1, len(input_shape) - 1))

    def call(self, inputs, training=None):
        x = ops.cast(inputs, "float32")  # mean of squares minus squared mean cancels badly in float16
        r = self.reference_size
        if training:
            reference = x[:r]
            ref_mean = ops.mean(reference, axis=(0, *self._spatial_axes))  # (C,)
            ref_mean_sq = ops.mean(ops.square(reference), axis=(0, *self._spatial_axes))
            self.reference_mean.assign(ref_mean)
            self.reference_mean_sq.assign(ref_mean_sq)
        else:
            ref_mean, ref_mean_sq = self.reference_mean, self.reference_mean_sq
        if self._spatial_axes:
            own_mean = ops.mean(x, axis=self._spatial_axes, keepdims=True)  # (B, 1, ..., 1, C)
            own_mean_sq = ops.mean(ops.square(x), axis=self._spatial_axes, keepdims=True)
        else:
            own_mean, own_mean_sq = x, ops.square(x)
        own_weight = ops.full((ops.shape(x)[0],), 1.0 / (r + 1), dtype="float32")
        if training:
            # The reference rows are normalised by the reference statistics alone.
            own_weight = ops.where(ops.arange(ops.shape(x)[0]) < r, 0.0, own_weight)
        own_weight = ops.reshape(own_weight, (-1,) + (1,) * (len(x.shape) - 1))  # (B, 1, ..., 1)
        mean = own_weight * own_mean + (1.0 - own_weight) * ref_mean
        mean_sq = own_weight * own_mean_sq + (1.0 - own_weight) * ref_mean_sq
        # The mixture's variance is >= 0, but float rounding of ν − μ² can dip below it.
        variance = ops.maximum(mean_sq - ops.square(mean), 0.0)
        y = (x - mean) * ops.rsqrt(variance + self.epsilon)
        if self.scale:
            y = y * self.gamma
        if self.center:
            y = y + self.beta
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "reference_size": self.reference_size,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }
