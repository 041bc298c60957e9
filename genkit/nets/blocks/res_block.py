"""`ResBlock`: the residual block of diffusion U-Nets, with an optional embedding injected."""

from __future__ import annotations

import keras
from keras import ops

from genkit.nets.registry import register_block

__all__ = ["ResBlock"]


@register_block
@keras.saving.register_keras_serializable(package="genkit")
class ResBlock(keras.layers.Layer):
    """out = skip(x) + conv(dropout(swish(GN(conv(swish(GN(x))) + dense(swish(emb)))))).

    The building block of a denoising U-Net: two 3x3 convolutions, each after a
    GroupNormalization and a swish, with the embedding (a timestep vector from
    `SinusoidalEmbedding`, possibly plus a class vector) projected to `filters` values and
    added to every position between them. The skip path is the identity when the channel
    count stays, else a 1x1 convolution. The second convolution starts at zero, so a fresh
    block is its skip path (as in Ho et al.'s code), which keeps deep U-Nets stable early.

    Reference:
        He et al., "Deep Residual Learning", 2016; Ho, Jain & Abbeel, "Denoising Diffusion
        Probabilistic Models", 2020, appendix B (Wide-ResNet blocks, GroupNorm, timestep
        embedding added per block).

    Args:
        filters: output channels.
        groups: GroupNormalization groups; must divide the input channels and `filters`.
        dropout: dropout rate before the second convolution (0 disables it).
        epsilon: GroupNormalization epsilon.

    Inputs:
        x: feature maps (B, H, W, C): an earlier node, or a `{concat: [up, skip]}` merge in a
            U-Net's upward path.
        emb: optional; the embedding (B, D) added inside the block: the timestep vector
            (`SinusoidalEmbedding`, then Dense layers) or, in a conditional denoiser, that vector
            plus the label vector `y`, summed by an `Add` node first (a ResBlock takes no third
            input). Left off (`from: x`), the block is a plain residual block.

    Returns:
        (B, H, W, filters).

    Example:

    ```yaml
    inputs: {x: [8, 8, 16], t: [], y: [16]}
    graph:
      - {id: tsin, layer: SinusoidalEmbedding, dim: 16, from: t}
      - {id: tvec, layer: Dense, units: 16, activation: swish, from: tsin}
      - {id: temb, layer: Add, from: [tvec, y]}                     # time + label
      - {id: h, layer: ResBlock, filters: 32, from: [x, temb]}      # (B, 8, 8, 32)
    ```
    """

    FITS = ("diffusion", "translation")

    def __init__(self, filters, groups=8, dropout=0.0, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        for key, value in (("filters", filters), ("groups", groups)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive integer; got {value!r}.")
        if filters % groups:
            raise ValueError(f"groups ({groups}) must divide filters ({filters}).")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout!r}.")
        self.filters, self.groups, self.dropout, self.epsilon = filters, groups, dropout, epsilon
        self.norm_in = keras.layers.GroupNormalization(groups, epsilon=epsilon, name="norm_in")
        self.conv_in = keras.layers.Conv2D(filters, 3, padding="same", name="conv_in")
        self.embedding_projection = keras.layers.Dense(filters, name="embedding_projection")
        self.norm_out = keras.layers.GroupNormalization(groups, epsilon=epsilon, name="norm_out")
        self.drop = keras.layers.Dropout(dropout, name="dropout")
        self.conv_out = keras.layers.Conv2D(filters, 3, padding="same", kernel_initializer="zeros", name="conv_out")
        self.skip = None

    def build(self, input_shape):
        x_shape, emb_shape = _split(input_shape)
        if len(x_shape) != 4:
            raise ValueError(f"ResBlock expects x of shape (B, H, W, C); got {tuple(x_shape)}.")
        channels = x_shape[-1]
        if channels % self.groups:
            raise ValueError(
                f"ResBlock: groups ({self.groups}) must divide the input channels ({channels}); "
                "change 'groups' or the channels of the layer before."
            )
        self.norm_in.build(x_shape)
        self.conv_in.build(x_shape)
        out_shape = (*x_shape[:-1], self.filters)
        if emb_shape is not None:
            if len(emb_shape) != 2:
                raise ValueError(f"ResBlock expects an embedding of shape (B, D); got {tuple(emb_shape)}.")
            self.embedding_projection.build(emb_shape)
        self.norm_out.build(out_shape)
        self.conv_out.build(out_shape)
        if channels != self.filters:
            self.skip = keras.layers.Conv2D(self.filters, 1, name="skip")
            self.skip.build(x_shape)

    def call(self, inputs, training=None):
        x, emb = _split(inputs)
        h = self.conv_in(ops.silu(self.norm_in(x)))
        if emb is not None:
            h = h + self.embedding_projection(ops.silu(emb))[:, None, None, :]  # (B, F) -> (B, 1, 1, F)
        h = self.conv_out(self.drop(ops.silu(self.norm_out(h)), training=training))
        return (x if self.skip is None else self.skip(x)) + h

    def compute_output_shape(self, input_shape):
        x_shape, _ = _split(input_shape)
        return (*tuple(x_shape)[:-1], self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "groups": self.groups,
            "dropout": self.dropout,
            "epsilon": self.epsilon,
        }


def _split(inputs):
    """(x, emb or None) from `[x, emb]` or `x`, for tensors and for shapes alike."""
    # A single shape is a tuple of ints/None; a list of inputs holds tensors or shapes.
    if isinstance(inputs, (list, tuple)) and inputs and not isinstance(inputs[0], (int, type(None))):
        if len(inputs) == 1:
            return inputs[0], None
        if len(inputs) != 2:
            raise ValueError(f"ResBlock expects [x, emb] or x; got {len(inputs)} inputs.")
        return inputs[0], inputs[1]
    return inputs, None
