"""What the GAN and WGAN models share word for word: the generator on z, latent draws, its description.

The generator G(z[, y]) is the user's trunk on z (with the label's vector joined to z when the
model is conditional) and, when the trunk has VirtualBatchNormalization layers, the fixed
reference batch of `reference_batch.py` fed in front of every training call (Salimans et al.
2016, section 3.4). The games themselves (their losses, steps and opponents) are written in
each family's own model file.

Example, in a family's `__init__`:

    self.generator = build_generator(spec, self.data_shape, self.trunks)
    z = draw_latents(self.noise, n, self.latent_dim)
"""

from __future__ import annotations

import keras

from genkit.modeling.networks import build_from_latent, check_output_shape
from genkit.modeling.reference_batch import PrependReferenceBatch, with_reference_batch

__all__ = ["build_generator", "describe_generator", "draw_latents"]


def build_generator(spec, data_shape, trunks: dict, condition=None):
    """G on z (`[z, y]` with `condition`, model.condition), named "generator", outputting the data's shape.

    The trunk is recorded in `trunks["generator"]`. A generator with VBN layers is wrapped with
    the reference batch (R fixed latents drawn from the spec seed, labels cycling 0 … K − 1).
    """
    generator = build_from_latent(spec, "generator", spec.model.latent_dim, trunks, condition)
    generator = with_reference_batch(generator, spec.seed, condition.num_classes if condition is not None else None)
    check_output_shape(generator, "generator", data_shape)
    return generator


def draw_latents(noise, n, latent_dim: int):
    """z ~ N(0, I), (n, latent_dim), from the model's seeded generator `noise`."""
    return keras.random.normal((n, latent_dim), seed=noise)


def describe_generator(generator, latent_dim: int, condition=None, ema=None) -> str:
    """One line on what the family adds around the user's generator (for `genkit inspect`)."""
    label = f" + label ({condition.encoding}) joined to z" if condition is not None else ""
    reference = next((layer for layer in generator.layers if isinstance(layer, PrependReferenceBatch)), None)
    virtual = f"; reference batch of {reference.reference_size} fixed latents fed in training (VBN)" if reference else ""
    average = f"; weight average (EMA {ema.decay}) used to sample and export" if ema is not None else ""
    return f"input z ({latent_dim}){label}{virtual}{average}"
