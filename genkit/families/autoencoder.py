"""Autoencoder: an encoder f and a decoder g trained so that g(f(x)) reconstructs x.

Reference: Goodfellow, Bengio & Courville, *Deep Learning*, ch. 14.

Dense or convolutional, under- or overcomplete, stacked: all are the user's choice of
layers. The objective is the reconstruction term L(x, g(f(x))) — summed binary
cross-entropy for [0, 1] data or summed squared error — plus whatever a regularised
variant adds through `penalties` (sparse, contractive) or `corrupt` (denoising): those
variants live in their own modules and subclass this one, because their train step is
this one word for word.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from genkit.errors import Problem, SpecError
from genkit.families.base import (
    GenerativeModel,
    check_output_shape,
    fit_gaussian,
    build_trunk,
    register_family,
)
from genkit.losses import reconstruction_loss
from genkit.nets.inference import predict_batches

__all__ = ["Autoencoder"]


@register_family("autoencoder")
class Autoencoder(GenerativeModel):
    """x -> encoder -> code -> decoder -> x̂, trained on the reconstruction term."""

    loss_names = ("loss", "reconstruction")

    def __init__(self, spec, data_shape, num_classes=None, **kwargs):
        super().__init__(spec, data_shape, num_classes, **kwargs)
        self.reconstruction = spec.loss.reconstruction
        self.encoder = build_trunk(spec, "encoder", data_shape, "x", data_shape)
        self.code_shape = tuple(self.encoder.output.shape[1:])
        self.decoder = build_trunk(spec, "decoder", self.code_shape, "z")
        check_output_shape(self.decoder, "decoder", data_shape)
        self.trunks = {"encoder": self.encoder, "decoder": self.decoder}
        self.latent_dim = int(np.prod(self.code_shape))
        if spec.model.latent_dim is not None and spec.model.latent_dim != self.latent_dim:
            raise SpecError(
                [
                    Problem(
                        ("model", "latent_dim"),
                        f"is {spec.model.latent_dim} but the encoder's output has {self.latent_dim} values "
                        f"(shape {list(self.code_shape)}).",
                        "Make them agree, or remove latent_dim (an autoencoder's code is its encoder's output).",
                    )
                ]
            )

    # -- the objective ---------------------------------------------------------------
    def corrupt(self, x, training):
        """The encoder's input for clean data `x` (identity; the denoising AE overrides)."""
        return x

    def penalties(self, x_in, code, training) -> dict:
        """Extra named loss terms on the code (none; sparse and contractive override)."""
        return {}

    def encode_for_loss(self, x_in, training):
        """(code, extra terms); the contractive AE overrides it to watch the Jacobian."""
        code = self.encoder(x_in, training=training)
        return code, self.penalties(x_in, code, training)

    def compute_terms(self, x, training) -> dict:
        # 1. corrupt (denoising only), 2. encode, 3. decode, 4. compare with the clean x.
        x_in = self.corrupt(x, training)
        code, terms = self.encode_for_loss(x_in, training)
        x_hat = self.decoder(code, training=training)
        return {"reconstruction": reconstruction_loss(self.reconstruction, x, x_hat), **terms}

    def train_step(self, data):
        x, _ = self.unpack(data)
        with tf.GradientTape() as tape:
            terms = self.compute_terms(x, training=True)
            loss = tf.add_n(list(terms.values()))
            scaled = self.scaled_loss(loss)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return self.record({"loss": loss, **terms})

    def test_step(self, data):
        x, _ = self.unpack(data)
        terms = self.compute_terms(x, training=False)
        return self.record({"loss": tf.add_n(list(terms.values())), **terms}, batch=tf.shape(x)[0])

    def call(self, x, training=False):
        x, _ = self.unpack(x)
        return self.decoder(self.encoder(x, training=training), training=training)

    # -- what the trainer, exporter and inspector ask -------------------------------
    def networks(self) -> dict:
        return {"encoder": self.encoder, "decoder": self.decoder}

    def preview(self, x_fixed, y_fixed=None):
        """Originals and their reconstructions in alternating rows."""
        cols = min(len(x_fixed), 8)
        x_fixed = x_fixed[: len(x_fixed) // cols * cols]  # whole rows only
        x_hat = predict_batches(self.decoder, predict_batches(self.encoder, x_fixed))
        n = len(x_fixed)
        rows = []
        for start in range(0, n, cols):
            rows += [x_fixed[start : start + cols], x_hat[start : start + cols]]
        labels = ["input", "output"] * (len(rows) // 2)
        return np.concatenate(rows), cols, labels

    # -- sampling through a fitted prior ---------------------------------------------
    def fit_prior(self, x_train) -> dict:
        """Fit the Gaussian over codes of (up to 10,000) training images that sampling draws from.

        An autoencoder has no prior of its own; decoding draws from a Gaussian fitted to
        its codes is the usual baseline, and what `genkit sample` does with its export.
        """
        codes = predict_batches(self.encoder, x_train[:10000])
        prior = fit_gaussian(codes)
        # Kept as arrays: Keras would wrap a dict attribute in a tracking type that the
        # manifest (JSON, deep-copied) must not carry.
        self.prior_mean, self.prior_scale_tril = np.asarray(prior["mean"]), np.asarray(prior["scale_tril"])
        return prior

    def sample(self, n: int, labels=None, seed: int = 0):
        """n images decoded from the fitted prior (call `fit_prior` first)."""
        if getattr(self, "prior_mean", None) is None:
            raise RuntimeError("an autoencoder samples from a Gaussian fitted to its codes: call fit_prior(x_train) first.")
        eps = np.random.default_rng(seed).standard_normal((n, self.latent_dim))
        z = self.prior_mean + eps @ self.prior_scale_tril.T  # (n, latent_dim)
        z = z.astype("float32").reshape((n, *self.code_shape))
        return predict_batches(self.decoder, z)

    def export_plan(self, x_train, y_train=None):
        # Runtime latents are flat vectors; a spatial code is reshaped inside the graph.
        z = keras.Input((self.latent_dim,), name="z")
        decoder = keras.Model(z, self.decoder(keras.layers.Reshape(self.code_shape)(z)), name="decoder")
        x = keras.Input(self.data_shape, name="x")
        encoder = keras.Model(x, keras.layers.Flatten(name="z")(self.encoder(x)), name="encoder")
        facts = {
            "latent_dim": self.latent_dim,
            "prior": self.fit_prior(x_train),
            "sampling": {"network": "decoder", "latent_input": "z", "label_input": None, "output": "x"},
            "encoding": {"network": "encoder", "image_input": "x", "label_input": None, "outputs": ["z"]},
            "networks": {"decoder": {"outputs": ["x"]}, "encoder": {"outputs": ["z"]}},
        }
        return {"decoder": decoder, "encoder": encoder}, facts

    def additions(self) -> dict:
        return {"encoder": "nothing (the code is the encoder's output)", "decoder": "nothing"}
