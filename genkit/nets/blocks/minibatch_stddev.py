"""`MinibatchStdDev`: a discriminator feature that says how varied the batch is."""

from __future__ import annotations

import keras
from keras import ops

from genkit.nets.registry import register_block

__all__ = ["MinibatchStdDev"]


@register_block
@keras.saving.register_keras_serializable(package="genkit")
class MinibatchStdDev(keras.layers.Layer):
    """Appends the average across-batch standard deviation of the features as one more channel.

    Use it near the end of a GAN discriminator (before its last convolutions or Dense
    layers) against mode collapse: a generator whose samples look alike gives a batch of
    low spread, which the discriminator can now see and punish.

    The examples are split into groups of `group_size` consecutive examples; within each
    group the standard deviation of every feature at every position is taken over the
    group's members and averaged to one number, which is appended to each member as a
    constant channel (feature maps) or one more feature (vectors). Consecutive groups keep a
    batch of real images followed by as many generated ones (how genkit's GAN families call
    their discriminator) in separate groups whenever the half batch is a multiple of
    `group_size`, so the spread of generated images is measured among themselves.

    Reference:
        Karras, Aila, Laine & Lehtinen, "Progressive Growing of GANs for Improved Quality,
        Stability, and Variation", ICLR 2018, section 3.

    Args:
        group_size: examples per group (StyleGAN's default, 4); `None` (the paper's
            original form) makes the whole batch one group, as does a batch whose size is
            not a multiple of `group_size`.
        epsilon: added to the variance before the square root, keeping its gradient finite.

    Inputs:
        x: features (B, H, W, C) or (B, F).

    Returns:
        (B, H, W, C + 1) or (B, F + 1).

    Example:

    ```yaml
    input: [8, 8, 16]
    layers:
      - MinibatchStdDev: {group_size: 4}     # (B, 8, 8, 17)
    ```
    """

    FITS = ("adversarial",)

    def __init__(self, group_size=4, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        if group_size is not None and (isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 2):
            raise ValueError(f"group_size must be null or an integer >= 2; got {group_size!r}.")
        self.group_size = group_size
        self.epsilon = epsilon

    def call(self, inputs):
        x = ops.cast(inputs, "float32")  # the variance of float16 activations underflows
        batch = ops.shape(x)[0]
        size = batch if self.group_size is None else ops.where(batch % self.group_size == 0, self.group_size, batch)
        grouped = ops.reshape(x, (-1, size, *x.shape[1:]))  # (B/G, G, ...): consecutive examples
        variance = ops.var(grouped, axis=1)  # (B/G, ...), over each group's members
        stddev = ops.sqrt(variance + self.epsilon)
        per_group = ops.mean(ops.reshape(stddev, (ops.shape(stddev)[0], -1)), axis=1)  # (B/G,)
        per_example = ops.reshape(ops.tile(ops.expand_dims(per_group, 1), (1, size)), (-1,))  # (B,)
        # (B, 1, ..., 1) broadcast against ones shaped like one channel: a constant feature map.
        per_example = ops.reshape(per_example, (-1,) + (1,) * (len(x.shape) - 1))
        channel = per_example * ops.ones_like(x[..., :1])
        return ops.concatenate([inputs, ops.cast(channel, inputs.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise ValueError(f"MinibatchStdDev expects features (B, ..., C); got shape {input_shape}.")
        channels = None if input_shape[-1] is None else input_shape[-1] + 1
        return input_shape[:-1] + (channels,)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size, "epsilon": self.epsilon}
