"""Sparse autoencoder: the reconstruction term plus a sparsity penalty on the code.

Reference: A. Ng, "Sparse autoencoder", CS294A lecture notes (2011); Goodfellow et al.,
*Deep Learning*, §14.2.1.

    L = L_rec(x, g(f(x))) + β · Σ_j KL(ρ ‖ ρ̂_j)     (kl; ρ̂_j = batch mean of unit j)
    L = L_rec(x, g(f(x))) + β · Σ_j |h_j|            (l1)

The KL form needs code activations in [0, 1]: end the encoder with a sigmoid. An
overcomplete code (more units than inputs) is the usual setting.

The model mirrors the autoencoder family's (genkit/families/autoencoder/model.py) line for
line, with the penalty added to the loss; what the two share besides is in
`genkit.modeling.autoencoding`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from genkit.families.sparse_ae.card import CARD
from genkit.losses import kl_sparsity_penalty, l1_sparsity_penalty, reconstruction_loss
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

__all__ = ["SparseAutoencoder", "sparsity_penalty"]


def sparsity_penalty(kind: str, code, target: float):
    """Σ_j KL(ρ ‖ ρ̂_j) over the code units (kind 'kl', ρ = target), or the batch mean of Σ_j |h_j| ('l1')."""
    return kl_sparsity_penalty(code, target) if kind == "kl" else l1_sparsity_penalty(code)


class SparseAutoencoder(GenerativeModel):
    """x -> encoder -> code h -> decoder -> x̂, trained on the reconstruction term + β · penalty(h)."""

    def __init__(self, spec, data_shape, num_classes=None, steps_per_epoch=1):
        super().__init__(spec, CARD, data_shape, num_classes)
        self.reconstruction = spec.loss.reconstruction
        self.encoder, self.decoder = build_encoder_decoder(spec, data_shape)
        self.code_shape = tuple(self.encoder.output.shape[1:])
        self.trunks = {"encoder": self.encoder, "decoder": self.decoder}
        self.latent_dim = code_size(spec, self.code_shape)
        self.prior_mean = self.prior_scale_tril = None  # set by fit_prior
        self.sparsity = spec.loss.sparsity
        self.sparsity_target = spec.loss.sparsity_target
        self.sparsity_weight = spec.loss.sparsity_weight

    # -- the objective ---------------------------------------------------------------
    def loss_terms(self, x, training) -> dict:
        # 1. encode, 2. decode, 3. compare with x, 4. penalise the code's activity.
        code = self.encoder(x, training=training)
        x_hat = self.decoder(code, training=training)
        return {
            "reconstruction": reconstruction_loss(self.reconstruction, x, x_hat),
            "sparsity": self.sparsity_weight * sparsity_penalty(self.sparsity, code, self.sparsity_target),
        }

    def train_step(self, data):
        x, _ = unpack(data)
        with tf.GradientTape() as tape:
            terms = self.loss_terms(x, training=True)
            loss = terms["reconstruction"] + terms["sparsity"]
            scaled = scaled_loss(loss, self.optimizer)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return track(self.trackers, {"loss": loss, **terms})

    def test_step(self, data):
        x, _ = unpack(data)
        terms = self.loss_terms(x, training=False)
        loss = terms["reconstruction"] + terms["sparsity"]
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
        what = f"KL(rho={self.sparsity_target}) penalty" if self.sparsity == "kl" else "L1 penalty"
        return {"encoder": f"{what} x {self.sparsity_weight} on its output", "decoder": "nothing"}

    def preview(self, x_fixed, y_fixed=None):
        """Originals and their reconstructions in alternating rows."""
        return reconstruction_preview(self.encoder, self.decoder, x_fixed)

    def export_plan(self, x_train, y_train=None) -> ExportPlan:
        return code_export_plan(self.encoder, self.decoder, self.data_shape, self.code_shape, self.fit_prior(x_train))
