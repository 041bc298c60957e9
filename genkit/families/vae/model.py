"""Variational autoencoder, and its conditional form: an amortised Gaussian posterior and a
decoder trained on the ELBO.

Reference: Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014; β-VAE:
Higgins et al., ICLR 2017; KL warm-up: Bowman et al., CoNLL 2016 / Sønderby et al. 2016;
conditional VAE: Sohn, Lee & Yan, "Learning Structured Output Representation using Deep
Conditional Generative Models", NeurIPS 2015.

The model adds, around the user's encoder trunk, two Dense heads for μ(x) and
log σ²(x), and samples z = μ + σ·ε with ε ~ N(0, I) (the reparameterisation trick), so
gradients flow through the sample. Per example it minimises

    L = E_q[−log p(x | z)] + β_t · KL(q(z | x) ‖ N(0, I))       (β_t ramps 0 → β)

where the first term is the summed reconstruction loss (bce: Bernoulli decoder, mse:
Gaussian decoder up to constants) and the KL term has the closed form of
`genkit.losses.kl_divergence_normal`. The negative ELBO (β = 1) is reported by
`test_step` as `neg_elbo`, in nats per example.

With `model.condition` set (the cvae family's card names this class too), a class label y
goes to both networks: tiled over the image as extra input channels of the encoder and
joined to z for the decoder (one-hot or a learned embedding, `model.condition.encoding`),
so the objective becomes

    L = E_q(z|x,y)[−log p(x | z, y)] + β_t · KL(q(z | x, y) ‖ N(0, I))

and after training `decoder(z, y)` draws class y for any z ~ N(0, I).
"""

from __future__ import annotations

import keras
import tensorflow as tf

import genkit.manifest as manifest
from genkit.families.vae.card import CARD
from genkit.losses import kl_divergence_normal, reconstruction_loss
from genkit.modeling.base import GenerativeModel
from genkit.modeling.networks import (
    build_all,
    build_from_latent,
    build_trunk,
    check_output_shape,
    condition_classes,
    label_vector,
)
from genkit.modeling.prior import decode_prior_draws, prior_preview
from genkit.modeling.steps import scaled_loss, track, unpack
from genkit.nets import ConcatCondition, Sampling

__all__ = ["VAE"]


class VAE(GenerativeModel):
    """q(z | x[, y]) as Dense heads on the encoder trunk, p(x | z[, y]) as the decoder; the ELBO.

    `steps_per_epoch` turns the KL warm-up, given in epochs, into steps.
    """

    def __init__(self, spec, data_shape, num_classes=None, steps_per_epoch=1):
        super().__init__(spec, CARD, data_shape, num_classes)
        self.reconstruction = spec.loss.reconstruction
        self.latent_dim = spec.model.latent_dim
        self.condition = spec.model.condition
        if self.conditional:
            self.num_classes = condition_classes(self.condition, num_classes)
        trunks = {}
        built = build_all(
            {
                "encoder": lambda: self._build_encoder(spec, trunks),
                "decoder": lambda: build_from_latent(spec, "decoder", self.latent_dim, trunks, self.condition),
            }
        )
        # Tracked in this order, so the weights and the optimizer's slots keep the order of
        # earlier runs' checkpoints: encoder trunk, encoder, decoder trunk, decoder.
        self.trunks["encoder"], self.encoder = trunks["encoder"], built["encoder"]
        self.trunks["decoder"], self.decoder = trunks["decoder"], built["decoder"]
        check_output_shape(self.decoder, "decoder", data_shape)
        self.sampling = Sampling(seed=spec.seed, name="sampling")
        self.kl_target = float(spec.loss.kl_weight)
        self.kl_warmup_epochs = spec.loss.kl_warmup_epochs
        self.kl_warmup_steps = self.kl_warmup_epochs * steps_per_epoch

    # -- networks ----------------------------------------------------------------------
    def _build_encoder(self, spec, trunks):
        """x (+ label channels) -> the user's trunk -> Dense heads [z_mean, z_log_var]."""
        x = keras.Input(self.data_shape, name="x")
        inputs, h = [x], x
        if self.conditional:
            y = keras.Input((), dtype="int32", name="y")
            inputs.append(y)
            # The label enters at the input: tiled over the image as extra channels.
            h = ConcatCondition(name="x_with_label")([x, label_vector(self.condition, y, "encoder_label")])
        trunk = build_trunk(spec, "encoder", h.shape[1:], "x", self.data_shape)
        trunks["encoder"] = trunk
        features = trunk(h)
        if len(features.shape) > 2:
            features = keras.layers.Flatten(name="features")(features)  # (B, ...) -> (B, n)
        z_mean = keras.layers.Dense(self.latent_dim, name="z_mean")(features)
        z_log_var = keras.layers.Dense(self.latent_dim, name="z_log_var")(features)
        return keras.Model(inputs if self.conditional else x, [z_mean, z_log_var], name="encoder")

    def _encoder_inputs(self, x, y):
        return [x, y] if self.conditional else x

    def _decoder_inputs(self, z, y):
        return [z, y] if self.conditional else z

    def _label_classes(self):
        """How many classes the networks take labels of; None when unconditional."""
        return self.num_classes if self.conditional else None

    # -- the objective -------------------------------------------------------------------
    def current_kl_weight(self):
        """β_t = β · min(1, step / warm-up steps): a per-step linear ramp (resumes with the optimizer)."""
        if self.kl_warmup_steps <= 0:
            return tf.constant(self.kl_target, tf.float32)
        step = tf.cast(self.optimizer.iterations, tf.float32)
        return self.kl_target * tf.minimum(1.0, step / float(self.kl_warmup_steps))

    def elbo_terms(self, x, y, training):
        """(reconstruction, kl): the ELBO's two terms, batch means."""
        # 1. q(z|x): mean and log-variance heads on the encoder trunk.
        z_mean, z_log_var = self.encoder(self._encoder_inputs(x, y), training=training)
        # 2. z = μ + σ·ε (reparameterisation).
        z = self.sampling([z_mean, z_log_var])
        # 3. p(x|z): decode and score the reconstruction.
        x_hat = self.decoder(self._decoder_inputs(z, y), training=training)
        reconstruction = reconstruction_loss(self.reconstruction, x, x_hat)
        # 4. KL(q(z|x) ‖ N(0, I)) in closed form.
        kl = tf.reduce_mean(kl_divergence_normal(z_mean, z_log_var))
        return reconstruction, kl

    def train_step(self, data):
        x, y = unpack(data)
        kl_weight = self.current_kl_weight()
        with tf.GradientTape() as tape:
            reconstruction, kl = self.elbo_terms(x, y, training=True)
            loss = reconstruction + kl_weight * kl
            scaled = scaled_loss(loss, self.optimizer)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        values = {"loss": loss, "reconstruction": reconstruction, "kl": kl, "neg_elbo": reconstruction + kl}
        return track(self.trackers, values, current={"kl_weight": kl_weight})  # the ramp's value, not an average

    def test_step(self, data):
        x, y = unpack(data)
        reconstruction, kl = self.elbo_terms(x, y, training=False)
        return track(
            self.trackers,
            {"loss": reconstruction + self.kl_target * kl, "reconstruction": reconstruction, "kl": kl, "neg_elbo": reconstruction + kl},
            batch=tf.shape(x)[0],
        )

    def call(self, inputs, training=False):
        x, y = unpack(inputs)
        z_mean, _ = self.encoder(self._encoder_inputs(x, y), training=training)
        return self.decoder(self._decoder_inputs(z_mean, y), training=training)

    # -- sampling ------------------------------------------------------------------------
    def sample(self, n: int, labels=None, seed: int = 0):
        """n images decoded from z ~ N(0, I) (with the given labels when conditional)."""
        return decode_prior_draws(self.decoder, self.latent_dim, n, labels=labels, num_classes=self._label_classes(), seed=seed)

    # -- what the trainer, exporter and inspector ask -------------------------------------
    def networks(self) -> dict:
        return {"encoder": self.encoder, "decoder": self.decoder}

    def describe(self) -> dict:
        label = f" + label ({self.condition.encoding})" if self.conditional else ""
        return {
            "encoder": f"input{label}; Dense heads z_mean, z_log_var ({self.latent_dim}); Sampling z = mu + sigma*eps",
            "decoder": f"input z ({self.latent_dim}){label}",
        }

    def preview(self, x_fixed, y_fixed=None):
        """Decoded prior draws from the spec seed; a row per class when conditional."""
        return prior_preview(self.decoder, self.latent_dim, self.seed, self._label_classes())

    def export_plan(self, x_train, y_train=None) -> manifest.ExportPlan:
        label = "y" if self.conditional else None
        return manifest.ExportPlan(
            networks={"decoder": self.decoder, "encoder": self.encoder},
            outputs={"decoder": ["x"], "encoder": ["z_mean", "z_log_var"]},
            latent_dim=self.latent_dim,
            prior={"kind": "standard_normal"},
            sampling=manifest.SamplingFacts(network="decoder", latent_input="z", label_input=label, output="x"),
            encoding=manifest.EncodingFacts(network="encoder", image_input="x", label_input=label, outputs=["z_mean", "z_log_var"]),
        )
