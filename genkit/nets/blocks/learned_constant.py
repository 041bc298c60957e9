"""`LearnedConstant`: a learned tensor repeated for every example (StyleGAN's 4x4 input)."""

from __future__ import annotations

import keras
from keras import ops

from genkit.nets.registry import register_block

__all__ = ["LearnedConstant"]


@register_block
@keras.saving.register_keras_serializable(package="genkit")
class LearnedConstant(keras.layers.Layer):
    """A learned constant of shape `shape`, one copy per example of the input's batch.

    StyleGAN's synthesis network starts from a learned 4x4 constant instead of the latent
    code: everything that varies between images enters through the styles and the noise
    (Karras et al. 2019, section 2, "we found it beneficial to replace the input layer with a
    learned constant"). The input only gives the batch size, so the graph broadcasts the
    constant for whatever batch it is run on.

    Reference:
        Karras, Laine & Aila, "A Style-Based Generator Architecture for Generative Adversarial
        Networks", CVPR 2019, section 2 and table 1 (D).

    Args:
        shape: the constant's shape without the batch axis, e.g. [4, 4, 512].

    Inputs:
        x: any tensor (B, ...); only its batch size is read.

    Returns:
        (B, *shape).

    Example:

    ```yaml
    input: [16]
    layers:
      - LearnedConstant: {shape: [4, 4, 8]}     # (B, 4, 4, 8)
    ```
    """

    FITS = ("stylegan",)

    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(shape, (list, tuple)) or not shape or any(
            isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape
        ):
            raise ValueError(f"shape must be a list of positive integers such as [4, 4, 512]; got {shape!r}.")
        self.shape = tuple(shape)

    def build(self, input_shape):
        # N(0, 1), as StyleGAN2's official code initialises it.
        self.constant = self.add_weight(shape=self.shape, initializer=keras.initializers.RandomNormal(stddev=1.0), name="constant")

    def call(self, inputs):
        return ops.broadcast_to(self.constant[None], (ops.shape(inputs)[0], *self.shape))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.shape)

    def get_config(self):
        return {**super().get_config(), "shape": list(self.shape)}
