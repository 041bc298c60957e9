"""`ConcatCondition`: append a condition vector to features of any spatial layout."""

from __future__ import annotations

import keras
from keras import ops

from genkit.nets.registry import register_block

__all__ = ["ConcatCondition"]


@register_block
@keras.saving.register_keras_serializable(package="genkit")
class ConcatCondition(keras.layers.Layer):
    """Concatenates a (B, D) condition vector to features on their last axis.

    Use it to feed a label (from `LabelEmbedding`) or any per-example vector to a network:
    for vectors (B, F) it is a plain concatenation to (B, F + D); for feature maps
    (B, H, W, C) it repeats the vector at every position and concatenates on channels, giving
    (B, H, W, C + D). This is how a conditional VAE gives the label to a convolutional
    encoder. Any rank >= 2 works the same way (the vector is repeated over the middle axes).

    Inputs:
        features: (B, ..., C): feature maps or vectors.
        cond: (B, D): the condition vector, e.g. the label vector `y` a conditional denoiser's
            graph receives.

    Returns:
        (B, ..., C + D).

    Example:

    ```yaml
    inputs: {x: [8, 8, 4], y: [10]}
    graph:
      - {id: h, layer: ConcatCondition, from: [x, y]}     # (B, 8, 8, 14)
    ```
    """

    FITS = ("conditional",)

    def call(self, inputs):
        features, cond = _unpack(inputs)
        rank = len(features.shape)
        for _ in range(rank - 2):
            cond = ops.expand_dims(cond, axis=1)  # (B, D) -> (B, 1, ..., 1, D)
        if rank > 2:
            # Repeat the vector over the spatial axes by broadcasting against ones shaped
            # (B, H, W, 1): exact (x * 1 == x), shape-dynamic, and a plain Mul in ONNX.
            cond = cond * ops.ones_like(features[..., :1])  # (B, H, W, D)
        return ops.concatenate([features, ops.cast(cond, features.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        features, cond = _unpack(input_shape)
        features, cond = tuple(features), tuple(cond)
        if len(features) < 2:
            raise ValueError(f"ConcatCondition expects features of rank >= 2 (B, ..., C); got shape {features}.")
        if len(cond) != 2:
            raise ValueError(f"ConcatCondition expects a condition vector of shape (B, D); got shape {cond}.")
        channels = None if features[-1] is None or cond[-1] is None else features[-1] + cond[-1]
        return features[:-1] + (channels,)

    def get_config(self):
        return super().get_config()


def _unpack(inputs):
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
        raise ValueError("ConcatCondition expects a list [features, cond].")
    return inputs[0], inputs[1]
