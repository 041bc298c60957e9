"""`ModulatedConv2D`: StyleGAN2's style-modulated convolution, written so any batch size exports."""

from __future__ import annotations

import math

import keras
from keras import ops

from genkit.nets.blocks.equalized_dense import EqualizedDense
from genkit.nets.registry import register_block

__all__ = ["ModulatedConv2D"]


@register_block
@keras.saving.register_keras_serializable(package="genkit")
class ModulatedConv2D(keras.layers.Layer):
    """A convolution whose input channels are scaled by a style s = A(w), then demodulated.

    StyleGAN2 (Karras et al. 2020, section 2.2, eq. 1-3) modulates the weights per example,
    w'_ijk = s_i · w_ijk, and demodulates each output channel j by
    d_j = 1 / sqrt(Σ_{i,k} w'_ijk² + ε), which restores unit output variance without
    normalising the activations (AdaIN's cause of the "droplet" artifacts). Modulating the
    weights per example needs a grouped convolution with one kernel per example, which an
    ONNX graph cannot express for a free batch size. This layer computes the same thing in the
    paper's non-fused form instead:

        x' = x ⊙ s                       scale each input channel by the example's style
        y  = conv(x', c·W)               one plain convolution with the shared weights
        y' = y ⊙ d,  d_j = 1/sqrt(Σ_i s_i² Σ_k (c·W_ijk)² + ε)      (from weights and style only)

    so the graph is an ordinary Conv between two broadcast multiplications. The weights are
    stored at unit scale and multiplied by c = 1/sqrt(k·k·C_in) at run time (equalized learning
    rate); the style affine A is an `EqualizedDense` whose bias starts at 1, so a fresh layer
    starts unmodulated.

    Use it in style-based generators (the stylegan family builds its synthesis network from
    it); with `demodulate=False` and kernel 1 it is StyleGAN2's toRGB layer.

    Reference:
        Karras, Laine, Aittala, Hellsten, Lehtinen & Aila, "Analyzing and Improving the Image
        Quality of StyleGAN", CVPR 2020, section 2.2 and appendix B.

    Args:
        filters: output channels.
        kernel_size: odd positive integer (the padding is "same").
        demodulate: divide each output channel by d_j (False: toRGB).
        use_bias: add a learned bias after the (de)modulation.
        epsilon: ε inside the demodulation's square root.

    Inputs:
        x: feature maps (B, H, W, C_in).
        w: the latent style (B, w_dim).

    Returns:
        (B, H, W, filters).

    Example:

    ```yaml
    inputs: {x: [8, 8, 16], w: [32]}
    graph:
      - {id: h, layer: ModulatedConv2D, filters: 8, kernel_size: 3, from: [x, w]}
      - {id: rgb, layer: ModulatedConv2D, filters: 3, kernel_size: 1, demodulate: false, from: [h, w]}     # toRGB: (B, 8, 8, 3)
    ```
    """

    FITS = ("stylegan",)

    def __init__(self, filters, kernel_size=3, demodulate=True, use_bias=True, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(f"filters must be a positive integer; got {filters!r}.")
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd positive integer; got {kernel_size!r}.")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(f"epsilon must be a positive number; got {epsilon!r}.")
        self.filters = filters
        self.kernel_size = kernel_size
        self.demodulate = bool(demodulate)
        self.use_bias = bool(use_bias)
        self.epsilon = epsilon

    def build(self, input_shape):
        x_shape, w_shape = input_shape
        if len(x_shape) != 4 or x_shape[-1] is None or len(w_shape) != 2 or w_shape[-1] is None:
            raise ValueError(
                f"ModulatedConv2D expects [x (B, H, W, C), w (B, w_dim)] with C and w_dim known; "
                f"got {tuple(x_shape)} and {tuple(w_shape)}."
            )
        channels = x_shape[-1]
        self.scale = 1.0 / math.sqrt(self.kernel_size * self.kernel_size * channels)
        self.affine = EqualizedDense(channels, gain=1.0, bias_initializer="ones", name="affine")
        self.affine.build(w_shape)
        self.kernel = self.add_weight(
            shape=(self.kernel_size, self.kernel_size, channels, self.filters),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            name="kernel",
        )
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias") if self.use_bias else None

    def call(self, inputs):
        x, w = inputs
        styles = self.affine(w)  # s: (B, C_in)
        kernel = self.kernel * self.scale  # (k, k, C_in, F)
        y = ops.conv(x * styles[:, None, None, :], kernel, padding="same")  # (B, H, W, F)
        if self.demodulate:
            # Σ_i s_i² Σ_k W_ijk² as one matrix product: (B, C_in) @ (C_in, F) -> (B, F).
            energy = ops.matmul(ops.square(styles), ops.sum(ops.square(kernel), axis=(0, 1)))
            y = y * ops.rsqrt(energy + self.epsilon)[:, None, None, :]
        if self.bias is not None:
            y = y + self.bias
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])[:-1] + (self.filters,)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "demodulate": self.demodulate,
            "use_bias": self.use_bias,
            "epsilon": self.epsilon,
        }
