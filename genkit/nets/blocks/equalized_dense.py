"""`EqualizedDense`: a Dense layer with the equalized learning rate of ProGAN and StyleGAN."""

from __future__ import annotations

import math

import keras
from keras import ops

from genkit.nets.registry import register_block

__all__ = ["RELU_GAIN", "EqualizedDense", "check_equalized_arguments", "he_scale"]

# He et al. 2015: sqrt(2) keeps the variance of activations through a ReLU; the default gain.
RELU_GAIN = math.sqrt(2.0)


def he_scale(fan_in: int, gain: float, lr_multiplier: float) -> float:
    """The run-time weight multiplier c = gain / sqrt(fan_in) · lr_multiplier (He et al. 2015's constant)."""
    return gain / math.sqrt(fan_in) * lr_multiplier


def check_equalized_arguments(gain, lr_multiplier) -> None:
    """ValueError unless gain and lr_multiplier are positive numbers."""
    for key, value in (("gain", gain), ("lr_multiplier", lr_multiplier)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
            raise ValueError(f"{key} must be a positive number; got {value!r}.")


@register_block
@keras.saving.register_keras_serializable(package="genkit")
class EqualizedDense(keras.layers.Layer):
    """y = act(x · (c·W) + lr_multiplier·b), W ~ N(0, 1/lr_multiplier²), c = gain/sqrt(fan_in)·lr_multiplier.

    The weights are stored at unit scale and multiplied by He's constant at run time, not at
    initialisation. Adam's step is invariant to a parameter's scale, so every weight then
    learns at the same speed whatever its layer's fan-in ("equalized learning rate"). With
    `lr_multiplier` < 1 (StyleGAN's mapping network: 0.01) the stored weights are larger by
    1/lr_multiplier and the effective learning rate of the layer is lr_multiplier times the
    optimizer's, for the bias too.

    Use it in ProGAN/StyleGAN networks trained with Adam; with the plain `Dense` layer the
    same network learns its wide layers faster than its narrow ones.

    Reference:
        Karras, Aila, Laine & Lehtinen, "Progressive Growing of GANs for Improved Quality,
        Stability, and Variation", ICLR 2018, section 4.1; Karras, Laine & Aila, "A
        Style-Based Generator Architecture for GANs", CVPR 2019, appendix C (lr_multiplier).

    Args:
        units: output features.
        activation: applied after the bias (ProGAN: leaky_relu, slope 0.2); None for linear.
        use_bias: add a learned bias.
        gain: numerator of He's constant: sqrt(2) before a (leaky) ReLU, 1 before a linear output.
        lr_multiplier: scales the layer's effective learning rate (StyleGAN's mapping network: 0.01).
        bias_initializer: the stored bias's initializer ("zeros"; StyleGAN2's style affine: "ones").

    Inputs:
        x: features (B, ..., F).

    Returns:
        (B, ..., units).

    Example:

    ```yaml
    input: [16]
    layers:
      - EqualizedDense: {units: 32, activation: leaky_relu, lr_multiplier: 0.01}     # (B, 32)
    ```
    """

    FITS = ("progan", "stylegan")

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        gain=RELU_GAIN,
        lr_multiplier=1.0,
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be a positive integer; got {units!r}.")
        check_equalized_arguments(gain, lr_multiplier)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.gain = gain
        self.lr_multiplier = lr_multiplier
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        fan_in = input_shape[-1]
        if fan_in is None:
            raise ValueError(f"EqualizedDense needs a known last dimension; got shape {tuple(input_shape)}.")
        self.scale = he_scale(fan_in, self.gain, self.lr_multiplier)
        self.kernel = self.add_weight(
            shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / self.lr_multiplier),
            name="kernel",
        )
        self.bias = (
            self.add_weight(shape=(self.units,), initializer=self.bias_initializer, name="bias")
            if self.use_bias
            else None
        )

    def call(self, inputs):
        # Scaled here, every call: the stored weight stays at unit scale, which is the point.
        outputs = ops.matmul(inputs, self.kernel * self.scale)
        if self.bias is not None:
            outputs = outputs + self.bias * self.lr_multiplier
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units,)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "gain": self.gain,
            "lr_multiplier": self.lr_multiplier,
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
