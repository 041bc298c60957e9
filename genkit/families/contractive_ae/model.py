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

The model mirrors the autoencoder family's (genkit/families/autoencoder/model.py) line for
line, with the encoder run under a Jacobian tape and the penalty added to the loss; what the
two share besides is in `genkit.modeling.autoencoding`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from genkit.families.contractive_ae.card import CARD
from genkit.losses import contractive_penalty, reconstruction_loss
from genkit.manifest import ExportPlan
from genkit.modeling.autoencoding import (
    build_encoder_decoder,
    code_export_plan,
    code_size,
    decode_fitted_draws,
    fit_code_prior,
    reconstruction_preview,
)
from genkit.modeling.base import GenerativeModel
from genkit.modeling.steps import scaled_loss, track, unpack

__all__ = ["ContractiveAutoencoder"]


class ContractiveAutoencoder(GenerativeModel):
    """x -> encoder -> code -> decoder -> x̂, trained on the reconstruction term + λ · ‖∂f/∂x‖²_F."""

    def __init__(self, spec, data_shape, num_classes=None, steps_per_epoch=1):
        super().__init__(spec, CARD, data_shape, num_classes)
        self.reconstruction = spec.loss.reconstruction
        self.encoder, self.decoder = build_encoder_decoder(spec, data_shape)
        self.code_shape = tuple(self.encoder.output.shape[1:])
        self.trunks = {"encoder": self.encoder, "decoder": self.decoder}
        self.latent_dim = code_size(spec, self.code_shape)
        self.prior_mean = self.prior_scale_tril = None  # set by fit_prior
        self.contractive_weight = spec.loss.contractive_weight

    # -- the objective ---------------------------------------------------------------
    def loss_terms(self, x, training) -> dict:
        # 1. encode, watching x so the inner tape gives ∂f(x)/∂x per example.
        with tf.GradientTape() as jacobian_tape:
            jacobian_tape.watch(x)
            code = self.encoder(x, training=training)
        jacobian = jacobian_tape.batch_jacobian(code, x)  # (B, *code_shape, *data_shape)
        # 2. decode, 3. compare with x, 4. penalise the Jacobian's squared Frobenius norm.
        x_hat = self.decoder(code, training=training)
        return {
            "reconstruction": reconstruction_loss(self.reconstruction, x, x_hat),
            "contractive": self.contractive_weight * contractive_penalty(jacobian),
        }

    def train_step(self, data):
        x, _ = unpack(data)
        with tf.GradientTape() as tape:
            terms = self.loss_terms(x, training=True)
            loss = terms["reconstruction"] + terms["contractive"]
            scaled = scaled_loss(loss, self.optimizer)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return track(self.trackers, {"loss": loss, **terms})

    def test_step(self, data):
        x, _ = unpack(data)
        terms = self.loss_terms(x, training=False)
        loss = terms["reconstruction"] + terms["contractive"]
        return track(self.trackers, {"loss": loss, **terms}, batch=tf.shape(x)[0])

    def call(self, inputs, training=False):
        x, _ = unpack(inputs)
        return self.decoder(self.encoder(x, training=training), training=training)

    # -- sampling through a fitted prior ---------------------------------------------
    def fit_prior(self, x_train) -> dict:
        """Fit the Gaussian over the codes of training images that `sample` draws from."""
        prior = fit_code_prior(self.encoder, x_train)
        # Kept as arrays: Keras would wrap a dict attribute in a tracking type.
        self.prior_mean, self.prior_scale_tril = np.asarray(prior["mean"]), np.asarray(prior["scale_tril"])
        return prior

    def sample(self, n: int, labels=None, seed: int = 0):
        """n images decoded from the fitted prior (call `fit_prior` first)."""
        return decode_fitted_draws(self.decoder, self.prior_mean, self.prior_scale_tril, self.code_shape, n, seed)

    # -- what the trainer, exporter and inspector ask -------------------------------
    def networks(self) -> dict:
        return {"encoder": self.encoder, "decoder": self.decoder}

    def describe(self) -> dict:
        return {"encoder": f"Jacobian penalty ||df/dx||_F^2 x {self.contractive_weight}", "decoder": "nothing"}

    def preview(self, x_fixed, y_fixed=None):
        """Originals and their reconstructions in alternating rows."""
        return reconstruction_preview(self.encoder, self.decoder, x_fixed)

    def export_plan(self, x_train, y_train=None) -> ExportPlan:
        return code_export_plan(self.encoder, self.decoder, self.data_shape, self.code_shape, self.fit_prior(x_train))
