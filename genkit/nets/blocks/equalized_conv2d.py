"""`EqualizedConv2D`: a 2-D convolution with the equalized learning rate of ProGAN and StyleGAN."""

from __future__ import annotations

import keras
from keras import ops

from genkit.nets.blocks.equalized_dense import RELU_GAIN, check_equalized_arguments, he_scale
from genkit.nets.registry import register_block

__all__ = ["EqualizedConv2D"]


@register_block
@keras.saving.register_keras_serializable(package="genkit")
class EqualizedConv2D(keras.layers.Layer):
    """y = act(conv(x, c·W) + lr_multiplier·b), W ~ N(0, 1/lr_multiplier²), c = gain/sqrt(k·k·C_in)·lr_multiplier.

    The convolutional twin of `EqualizedDense`: the kernel is stored at unit scale and
    multiplied by He's constant (fan-in = kernel height · width · input channels) at run
    time, so Adam moves every layer's weights at the same relative speed.

    Reference:
        Karras, Aila, Laine & Lehtinen, "Progressive Growing of GANs for Improved Quality,
        Stability, and Variation", ICLR 2018, section 4.1.

    Args:
        filters: output channels.
        kernel_size: an integer or (height, width).
        strides: an integer or (height, width) (ProGAN downsamples with average pooling instead).
        padding: "same" or "valid".
        activation: applied after the bias (ProGAN: leaky_relu, slope 0.2); None for linear.
        use_bias: add a learned bias.
        gain: numerator of He's constant: sqrt(2) before a (leaky) ReLU, 1 before a linear output (toRGB).
        lr_multiplier: scales the layer's effective learning rate.
        bias_initializer: the stored bias's initializer.

    Inputs:
        x: feature maps (B, H, W, C).

    Returns:
        (B, H', W', filters).

    Example:

    ```yaml
    input: [8, 8, 3]
    layers:
      - EqualizedConv2D: {filters: 16, kernel_size: 3, activation: leaky_relu}
      - EqualizedConv2D: {filters: 3, kernel_size: 1, gain: 1.0}     # toRGB: (B, 8, 8, 3)
    ```
    """

    FITS = ("progan", "stylegan")

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="same",
        activation=None,
        use_bias=True,
        gain=RELU_GAIN,
        lr_multiplier=1.0,
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(f"filters must be a positive integer; got {filters!r}.")
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid'; got {padding!r}.")
        check_equalized_arguments(gain, lr_multiplier)
        self.filters = filters
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = padding
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.gain = gain
        self.lr_multiplier = lr_multiplier
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"EqualizedConv2D expects (B, H, W, C) with C known; got {tuple(input_shape)}.")
        channels = input_shape[-1]
        self.scale = he_scale(self.kernel_size[0] * self.kernel_size[1] * channels, self.gain, self.lr_multiplier)
        self.kernel = self.add_weight(
            shape=(*self.kernel_size, channels, self.filters),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / self.lr_multiplier),
            name="kernel",
        )
        self.bias = (
            self.add_weight(shape=(self.filters,), initializer=self.bias_initializer, name="bias")
            if self.use_bias
            else None
        )

    def call(self, inputs):
        # Scaled here, every call: the stored kernel stays at unit scale, which is the point.
        outputs = ops.conv(inputs, self.kernel * self.scale, strides=self.strides, padding=self.padding)
        if self.bias is not None:
            outputs = outputs + self.bias * self.lr_multiplier
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        sizes = []
        for size, kernel, stride in zip((height, width), self.kernel_size, self.strides):
            if size is None:
                sizes.append(None)
            elif self.padding == "same":
                sizes.append(-(-size // stride))
            else:
                sizes.append((size - kernel) // stride + 1)
        return (batch, *sizes, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "gain": self.gain,
            "lr_multiplier": self.lr_multiplier,
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


def _pair(value, key: str) -> tuple:
    """(a, b) from an integer or a pair of positive integers."""
    pair = (
        (value, value)
        if isinstance(value, int) and not isinstance(value, bool)
        else tuple(value)
        if isinstance(value, (list, tuple))
        else ()
    )
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in pair):
        raise ValueError(f"{key} must be a positive integer or a pair of them; got {value!r}.")
    return pair
