"""`SelfAttention2D`: multi-head self-attention over the positions of a feature map."""

from __future__ import annotations

import keras
from keras import ops

from genkit.nets.registry import register_block

__all__ = ["SelfAttention2D"]


@register_block
@keras.saving.register_keras_serializable(package="genkit")
class SelfAttention2D(keras.layers.Layer):
    """out = x + proj(attention(GN(x))), attending over all H·W positions.

    Use it at a U-Net's low resolutions (7x7, 14x14 for 28x28 images): each position then
    sees the whole image at once, which convolutions only reach after many layers. The
    cost grows as (H·W)², so keep it off full-resolution maps. Queries, keys and values
    come from one 1x1 projection of the group-normalised input, split into `heads` heads
    of C / heads channels each; the output projection starts at zero, so a fresh block is
    the identity.

    Reference:
        Vaswani et al., "Attention Is All You Need", 2017 (scaled dot-product attention,
        eq. 1); Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", 2020,
        appendix B (self-attention at the 16x16 resolution).

    Args:
        heads: number of attention heads; must divide the channels.
        groups: GroupNormalization groups; must divide the channels.
        epsilon: GroupNormalization epsilon.

    Inputs:
        x: feature maps (B, H, W, C) with H and W known when the network is built.

    Returns:
        (B, H, W, C).

    Example:

    ```yaml
    input: [4, 4, 16]
    layers:
      - SelfAttention2D: {heads: 4}     # (B, 4, 4, 16)
    ```
    """

    FITS = ("diffusion",)

    def __init__(self, heads=1, groups=8, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        for key, value in (("heads", heads), ("groups", groups)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive integer; got {value!r}.")
        self.heads, self.groups, self.epsilon = heads, groups, epsilon
        self.norm = keras.layers.GroupNormalization(groups, epsilon=epsilon, name="norm")
        self.qkv = None
        self.proj = None

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 4 or None in shape[1:]:
            raise ValueError(f"SelfAttention2D expects (B, H, W, C) with known H, W, C; got {shape}.")
        channels = shape[-1]
        for key in ("heads", "groups"):
            if channels % getattr(self, key):
                raise ValueError(
                    f"SelfAttention2D: {key} ({getattr(self, key)}) must divide the channels ({channels})."
                )
        self.norm.build(shape)
        self.qkv = keras.layers.Dense(3 * channels, name="qkv")
        self.qkv.build(shape)
        self.proj = keras.layers.Dense(channels, kernel_initializer="zeros", name="proj")
        self.proj.build(shape)

    def call(self, x):
        _, height, width, channels = x.shape
        positions, head_dim = height * width, channels // self.heads
        qkv = ops.reshape(self.qkv(self.norm(x)), (-1, positions, 3, self.heads, head_dim))  # (B, N, 3, h, d)
        qkv = ops.transpose(qkv, (2, 0, 3, 1, 4))  # (3, B, h, N, d)
        # One unstack rather than three slices: the slices' gradients cost 44 ms a DDPM step on CPU.
        q, k, v = ops.unstack(qkv, 3, axis=0)
        # Scaled dot-product attention (Vaswani et al. eq. 1): softmax(q kᵀ / √d) v.
        weights = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * (head_dim**-0.5), axis=-1)  # (B, h, N, N)
        out = ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3))  # (B, N, h, d)
        out = ops.reshape(out, (-1, height, width, channels))  # (B, H, W, C)
        return x + self.proj(out)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "groups": self.groups, "epsilon": self.epsilon}
