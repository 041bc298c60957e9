"""`MinibatchDiscrimination`: features that compare each example with the rest of its batch."""

from __future__ import annotations

import keras
from keras import ops

from genkit.nets.registry import register_block

__all__ = ["MinibatchDiscrimination"]


@register_block
@keras.saving.register_keras_serializable(package="genkit")
class MinibatchDiscrimination(keras.layers.Layer):
    """Appends, for each example, how close it is to the other examples of the batch.

    Use it before the last layer of a GAN discriminator, on a feature vector (Flatten
    first), against mode collapse: the discriminator sees whole batches, so a generator
    whose samples are near-copies of each other is easy to tell apart.

    A learned tensor T maps the features f(x_i) ∈ R^A to `num_kernels` rows
    M_i ∈ R^{num_kernels × kernel_dim}; for each kernel b,

        o(x_i)_b = Σ_{j ≠ i} exp(−‖M_{i,b} − M_{j,b}‖₁)

    and the output is [f(x_i), o(x_i)]. (The paper's sum includes j = i, a constant 1.)

    Reference:
        Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen, "Improved Techniques for
        Training GANs", NeurIPS 2016, section 3.2.

    Args:
        num_kernels: B in the paper, the number of closeness features appended.
        kernel_dim: C in the paper, the size of each kernel's projection.

    Inputs:
        x: features (B, A); Flatten feature maps first.

    Returns:
        (B, A + num_kernels).

    Example:

    ```yaml
    input: [4, 4, 8]
    layers:
      - Flatten: {}
      - MinibatchDiscrimination: {num_kernels: 8, kernel_dim: 4}     # (B, 136)
    ```
    """

    FITS = ("adversarial",)

    def __init__(self, num_kernels, kernel_dim=5, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_kernels", num_kernels), ("kernel_dim", kernel_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}.")
        self.num_kernels = num_kernels
        self.kernel_dim = kernel_dim

    def build(self, input_shape):
        _check_rank(input_shape)
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.num_kernels * self.kernel_dim), initializer="glorot_uniform", name="kernel"
        )

    def call(self, inputs):
        m = ops.matmul(inputs, self.kernel)
        m = ops.reshape(m, (-1, self.num_kernels, self.kernel_dim))  # (B, kernels, dim)
        diffs = ops.expand_dims(m, 1) - ops.expand_dims(m, 0)  # (B, B, kernels, dim)
        closeness = ops.exp(-ops.sum(ops.abs(diffs), axis=-1))  # (B, B, kernels); 1 on the diagonal
        o = ops.sum(closeness, axis=1) - 1.0  # (B, kernels): the self term exp(0) removed
        return ops.concatenate([inputs, ops.cast(o, inputs.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        _check_rank(input_shape)
        features = None if input_shape[-1] is None else input_shape[-1] + self.num_kernels
        return (input_shape[0], features)

    def get_config(self):
        return {**super().get_config(), "num_kernels": self.num_kernels, "kernel_dim": self.kernel_dim}


def _check_rank(shape):
    if len(tuple(shape)) != 2:
        raise ValueError(f"MinibatchDiscrimination expects feature vectors (B, A); got shape {tuple(shape)}. Add Flatten before it.")
