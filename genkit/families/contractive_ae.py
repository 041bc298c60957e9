"""Contractive autoencoder: penalise the encoder's sensitivity to its input.

Reference: Rifai et al., "Contractive auto-encoders: explicit invariance during feature
extraction", ICML 2011; Goodfellow et al., *Deep Learning*, §14.7.

    L = L_rec(x, g(f(x))) + λ · ‖∂f(x)/∂x‖²_F

The Jacobian is computed exactly with a nested `GradientTape.batch_jacobian`, for any
encoder. Cost: one backward pass per code unit (vectorised by `pfor`), i.e. a step costs
roughly (latent size + 2) times a plain autoencoder step, and memory grows with
latent size × input size per example. Keep the code small (tens of units). With
BatchNormalization in the encoder the per-example Jacobian ignores the coupling of
examples through batch statistics.
"""

from __future__ import annotations

import tensorflow as tf

from genkit.families.autoencoder import Autoencoder
from genkit.families.base import register_family
from genkit.losses import contractive_penalty

__all__ = ["ContractiveAutoencoder"]


@register_family("contractive_ae")
class ContractiveAutoencoder(Autoencoder):
    loss_names = ("loss", "reconstruction", "contractive")
    loss_networks = {"contractive": "encoder"}

    def __init__(self, spec, data_shape, num_classes=None, **kwargs):
        super().__init__(spec, data_shape, num_classes, **kwargs)
        self.contractive_weight = spec.loss.contractive_weight

    def encode_for_loss(self, x_in, training):
        with tf.GradientTape() as jacobian_tape:
            jacobian_tape.watch(x_in)
            code = self.encoder(x_in, training=training)
        jacobian = jacobian_tape.batch_jacobian(code, x_in)  # (B, *code_shape, *data_shape)
        return code, {"contractive": self.contractive_weight * contractive_penalty(jacobian)}

    def additions(self) -> dict:
        return {"encoder": f"Jacobian penalty ||df/dx||_F^2 x {self.contractive_weight}", "decoder": "nothing"}
