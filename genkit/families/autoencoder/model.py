"""Autoencoder: an encoder f and a decoder g trained so that g(f(x)) reconstructs x.

Reference: Hinton & Salakhutdinov, Science 2006; Goodfellow, Bengio & Courville, *Deep
Learning*, ch. 14.

Dense or convolutional, under- or overcomplete, stacked: all are the user's choice of
layers. Per batch it minimises the reconstruction term

    L = L_rec(x, g(f(x)))       (summed binary cross-entropy for [0, 1] data, or summed squared error)

The code is the encoder's output as it is; sampling decodes draws from a Gaussian fitted to
the codes of the training images (`fit_prior`). The sparse, denoising and contractive
families are this one with a penalty or a corruption added, each in its own folder.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from genkit.families.autoencoder.card import CARD
from genkit.losses import reconstruction_loss
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

__all__ = ["Autoencoder"]


class Autoencoder(GenerativeModel):
    """x -> encoder -> code -> decoder -> x̂, trained on the reconstruction term."""

    def __init__(self, spec, data_shape, num_classes=None, steps_per_epoch=1):
        super().__init__(spec, CARD, data_shape, num_classes)
        self.reconstruction = spec.loss.reconstruction
        self.encoder, self.decoder = build_encoder_decoder(spec, data_shape)
        self.code_shape = tuple(self.encoder.output.shape[1:])
        self.trunks = {"encoder": self.encoder, "decoder": self.decoder}
        self.latent_dim = code_size(spec, self.code_shape)
        self.prior_mean = self.prior_scale_tril = None  # set by fit_prior

    # -- the objective ---------------------------------------------------------------
    def loss_terms(self, x, training) -> dict:
        # 1. encode, 2. decode, 3. compare with x.
        code = self.encoder(x, training=training)
        x_hat = self.decoder(code, training=training)
        return {"reconstruction": reconstruction_loss(self.reconstruction, x, x_hat)}

    def train_step(self, data):
        x, _ = unpack(data)
        with tf.GradientTape() as tape:
            terms = self.loss_terms(x, training=True)
            loss = terms["reconstruction"]
            scaled = scaled_loss(loss, self.optimizer)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return track(self.trackers, {"loss": loss, **terms})

    def test_step(self, data):
        x, _ = unpack(data)
        terms = self.loss_terms(x, training=False)
        return track(self.trackers, {"loss": terms["reconstruction"], **terms}, batch=tf.shape(x)[0])

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
        return {"encoder": "nothing (the code is the encoder's output)", "decoder": "nothing"}

    def preview(self, x_fixed, y_fixed=None):
        """Originals and their reconstructions in alternating rows."""
        return reconstruction_preview(self.encoder, self.decoder, x_fixed)

    def export_plan(self, x_train, y_train=None) -> ExportPlan:
        return code_export_plan(self.encoder, self.decoder, self.data_shape, self.code_shape, self.fit_prior(x_train))
