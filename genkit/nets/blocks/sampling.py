"""`Sampling`: the VAE reparameterisation trick as a layer."""

from __future__ import annotations

import keras
from keras import ops

from genkit.nets.registry import register_block
from genkit.replica_seed import ReplicaSeedGenerator

__all__ = ["Sampling"]


@register_block
@keras.saving.register_keras_serializable(package="genkit")
class Sampling(keras.layers.Layer):
    """Draws z ~ N(mean, exp(log_var)) as z = mean + exp(0.5 * log_var) * eps.

    Use it after the mean and log-variance heads of a VAE encoder. Writing the draw as a
    deterministic function of (mean, log_var) and independent noise eps ~ N(0, I) lets the
    gradient reach the encoder.

    Called on `[mean, log_var]` it draws eps itself. Called on `[mean, log_var, eps]` it uses
    the given noise instead: do that in any graph exported to ONNX, because random ops inside
    an exported graph do not convert, so the noise has to be an input.

    Reference:
        Kingma & Welling, "Auto-Encoding Variational Bayes", 2014, section 2.4.

    Args:
        seed: integer seed of the layer's noise generator (`keras.random.SeedGenerator`);
            `None` draws different noise in every run.

    Inputs:
        mean: the mean head's output, typically (B, latent_dim).
        log_var: the log-variance head's output, the same shape.
        eps: optional; noise of the same shape, for graphs exported to ONNX (else the layer
            draws it).

    Returns:
        z, with the shape of `mean`.

    Example:

    ```yaml
    inputs: {mean: [4], log_var: [4]}
    graph:
      - {id: z, layer: Sampling, seed: 1, from: [mean, log_var]}     # (B, 4)
    ```
    """

    FITS = ()  # the VAE families add it after their mean and log-variance heads

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = ReplicaSeedGenerator(seed)

    def call(self, inputs):
        mean, log_var, eps = _unpack(inputs)
        if eps is None:
            eps = keras.random.normal(ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
        # exp(0.5 * log_var) is the standard deviation; the encoder predicts log_var so that
        # the variance stays positive without a constraint.
        return mean + ops.exp(0.5 * log_var) * eps

    def compute_output_shape(self, input_shape):
        shapes = list(input_shape)
        if len(shapes) not in (2, 3):
            raise ValueError(f"Sampling expects [mean, log_var] or [mean, log_var, eps]; got {len(shapes)} inputs.")
        if any(tuple(s) != tuple(shapes[0]) for s in shapes[1:]):
            raise ValueError(f"Sampling expects inputs of one shape; got {[tuple(s) for s in shapes]}.")
        return tuple(shapes[0])

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def _unpack(inputs):
    if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
        raise ValueError("Sampling expects a list [mean, log_var] or [mean, log_var, eps].")
    mean, log_var = inputs[0], inputs[1]
    eps = inputs[2] if len(inputs) == 3 else None
    return mean, log_var, eps
