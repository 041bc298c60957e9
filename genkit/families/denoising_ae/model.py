"""Denoising autoencoder: reconstruct the clean x from a corrupted copy x̃ ~ C(x̃ | x).

Reference: Vincent et al., "Extracting and composing robust features with denoising
autoencoders", ICML 2008; Goodfellow et al., *Deep Learning*, §14.5.

    L = L_rec(x, g(f(x̃)))

Corruption is drawn afresh at every step (`genkit.data.corruption`): masking noise sets each
input value to the range's low end with probability ν; Gaussian noise adds N(0, σ²) and
clips to the range. Held-out batches are corrupted too, so the validation loss measures the
task trained for: denoising.

The model mirrors the autoencoder family's (genkit/families/autoencoder/model.py) line for
line, with the encoder fed x̃; what the two share besides is in `genkit.modeling.autoencoding`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from genkit.data.corruption import gaussian_noise, mask_noise
from genkit.families.denoising_ae.card import CARD
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
from genkit.replica_seed import ReplicaSeedGenerator

__all__ = ["DenoisingAutoencoder"]


class DenoisingAutoencoder(GenerativeModel):
    """x̃ ~ C(x̃ | x) -> encoder -> code -> decoder -> x̂, trained to reconstruct the clean x."""

    def __init__(self, spec, data_shape, num_classes=None, steps_per_epoch=1):
        super().__init__(spec, CARD, data_shape, num_classes)
        self.reconstruction = spec.loss.reconstruction
        self.encoder, self.decoder = build_encoder_decoder(spec, data_shape)
        self.code_shape = tuple(self.encoder.output.shape[1:])
        self.trunks = {"encoder": self.encoder, "decoder": self.decoder}
        self.latent_dim = code_size(spec, self.code_shape)
        self.prior_mean = self.prior_scale_tril = None  # set by fit_prior
        self.corruption = spec.loss.corruption
        self.masking_rate = spec.loss.masking_rate
        self.noise_stddev = spec.loss.noise_stddev
        # Its state advances on every draw (and is saved with the weights): fresh noise each step.
        self.noise_seed = ReplicaSeedGenerator(spec.seed)

    # -- the objective ---------------------------------------------------------------
    def corrupt(self, x):
        """x̃: `x` with masking or Gaussian noise, inside the data's value range."""
        low, high = self.value_range
        if self.corruption == "masking":
            return mask_noise(x, self.masking_rate, seed=self.noise_seed, low=low)
        return gaussian_noise(x, self.noise_stddev, low=low, high=high, seed=self.noise_seed)

    def loss_terms(self, x, training) -> dict:
        # 1. corrupt, 2. encode x̃, 3. decode, 4. compare with the clean x.
        x_noisy = self.corrupt(x)
        code = self.encoder(x_noisy, training=training)
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
        """Fit the Gaussian over the codes of (clean) training images that `sample` draws from."""
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
        what = (
            f"masking noise (nu={self.masking_rate})"
            if self.corruption == "masking"
            else f"Gaussian noise (sigma={self.noise_stddev})"
        )
        return {"encoder": f"{what} on its input while training", "decoder": "nothing"}

    def preview(self, x_fixed, y_fixed=None):
        """Clean originals and their reconstructions in alternating rows."""
        return reconstruction_preview(self.encoder, self.decoder, x_fixed)

    def export_plan(self, x_train, y_train=None) -> ExportPlan:
        return code_export_plan(self.encoder, self.decoder, self.data_shape, self.code_shape, self.fit_prior(x_train))
