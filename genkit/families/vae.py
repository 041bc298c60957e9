"""Variational autoencoder: an amortised Gaussian posterior and a decoder trained on the ELBO.

Reference: Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014; β-VAE:
Higgins et al., ICLR 2017; KL warm-up: Bowman et al., CoNLL 2016 / Sønderby et al. 2016.

The family adds, around the user's encoder trunk, two Dense heads for μ(x) and
log σ²(x), and samples z = μ + σ·ε with ε ~ N(0, I) (the reparameterisation trick), so
gradients flow through the sample. Per example it minimises

    L = E_q[−log p(x | z)] + β_t · KL(q(z | x) ‖ N(0, I))       (β_t ramps 0 → β)

where the first term is the summed reconstruction loss (bce: Bernoulli decoder, mse:
Gaussian decoder up to constants) and the KL term has the closed form of
`genkit.losses.kl_divergence_normal`. The negative ELBO (β = 1) is reported by
`test_step` as `neg_elbo`, in nats per example.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from genkit.errors import SpecError
from genkit.families.base import (
    GenerativeModel,
    build_from_latent,
    build_trunk,
    check_output_shape,
    condition_classes,
    decode_prior_draws,
    prior_preview,
    register_family,
)
from genkit.losses import kl_divergence_normal, reconstruction_loss
from genkit.nets import ConcatCondition, LabelEmbedding, Sampling

__all__ = ["VAE"]


@register_family("vae")
class VAE(GenerativeModel):
    conditional = False
    loss_names = ("loss", "reconstruction", "kl", "neg_elbo")
    loss_networks = {"kl": "encoder"}

    def __init__(self, spec, data_shape, num_classes=None, **kwargs):
        super().__init__(spec, data_shape, num_classes, **kwargs)
        self.reconstruction = spec.loss.reconstruction
        self.latent_dim = spec.model.latent_dim
        self.condition = spec.model.condition
        if self.conditional:
            self.num_classes = condition_classes(self.condition, num_classes)
        # Encoder and decoder do not depend on each other: report both networks' problems at once.
        problems = []
        for attr, build in (("encoder", self._build_encoder), ("decoder", self._build_decoder)):
            try:
                setattr(self, attr, build(spec))
            except SpecError as err:
                problems += err.problems
        if problems:
            raise SpecError(problems)
        check_output_shape(self.decoder, "decoder", data_shape)
        self.sampling = Sampling(seed=spec.seed, name="sampling")
        self.kl_target = float(spec.loss.kl_weight)
        self.kl_warmup_epochs = spec.loss.kl_warmup_epochs
        self.kl_warmup_steps = 0  # set by configure_schedule once the epoch length is known

    # -- networks ----------------------------------------------------------------------
    def _label_vector(self, y, name):
        c = self.condition
        return LabelEmbedding(c.num_classes, encoding=c.encoding, embedding_dim=c.embedding_dim, name=name)(y)

    def _build_encoder(self, spec):
        x = keras.Input(self.data_shape, name="x")
        inputs, h = [x], x
        if self.conditional:
            y = keras.Input((), dtype="int32", name="y")
            inputs.append(y)
            # The label enters at the input: tiled over the image as extra channels.
            h = ConcatCondition(name="x_with_label")([x, self._label_vector(y, "encoder_label")])
        trunk = build_trunk(spec, "encoder", h.shape[1:], "x", self.data_shape)
        self.trunks["encoder"] = trunk
        features = trunk(h)
        if len(features.shape) > 2:
            features = keras.layers.Flatten(name="features")(features)
        z_mean = keras.layers.Dense(self.latent_dim, name="z_mean")(features)
        z_log_var = keras.layers.Dense(self.latent_dim, name="z_log_var")(features)
        return keras.Model(inputs if self.conditional else x, [z_mean, z_log_var], name="encoder")

    def _build_decoder(self, spec):
        return build_from_latent(self, spec, "decoder", self._label_vector if self.conditional else None)

    def _encoder_inputs(self, x, y):
        return [x, y] if self.conditional else x

    def _decoder_inputs(self, z, y):
        return [z, y] if self.conditional else z

    # -- the objective -------------------------------------------------------------------
    def configure_schedule(self, steps_per_epoch: int) -> None:
        self.kl_warmup_steps = self.kl_warmup_epochs * steps_per_epoch

    def current_kl_weight(self):
        """β_t = β · min(1, step / warm-up steps): a per-step linear ramp (resumes with the optimizer)."""
        if self.kl_warmup_steps <= 0:
            return tf.constant(self.kl_target, tf.float32)
        step = tf.cast(self.optimizer.iterations, tf.float32)
        return self.kl_target * tf.minimum(1.0, step / float(self.kl_warmup_steps))

    def compute_terms(self, x, y, training):
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
        x, y = self.unpack(data)
        kl_weight = self.current_kl_weight()
        with tf.GradientTape() as tape:
            reconstruction, kl = self.compute_terms(x, y, training=True)
            loss = reconstruction + kl_weight * kl
            scaled = self.scaled_loss(loss)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        logs = self.record({"loss": loss, "reconstruction": reconstruction, "kl": kl, "neg_elbo": reconstruction + kl})
        return {**logs, "kl_weight": kl_weight}  # the ramp's current value, not an average

    def test_step(self, data):
        x, y = self.unpack(data)
        reconstruction, kl = self.compute_terms(x, y, training=False)
        return self.record(
            {"loss": reconstruction + self.kl_target * kl, "reconstruction": reconstruction, "kl": kl, "neg_elbo": reconstruction + kl},
            batch=tf.shape(x)[0],
        )

    def call(self, inputs, training=False):
        x, y = self.unpack(inputs)
        z_mean, _ = self.encoder(self._encoder_inputs(x, y), training=training)
        return self.decoder(self._decoder_inputs(z_mean, y), training=training)

    # -- sampling ------------------------------------------------------------------------
    def sample(self, n: int, labels=None, seed: int = 0):
        """n images decoded from z ~ N(0, I) (with the given labels when conditional)."""
        return decode_prior_draws(self.decoder, self.latent_dim, n, labels=labels, num_classes=self.label_classes(), seed=seed)

    # -- what the trainer, exporter and inspector ask -------------------------------------
    def networks(self) -> dict:
        return {"encoder": self.encoder, "decoder": self.decoder}

    def preview(self, x_fixed, y_fixed=None):
        return prior_preview(self.decoder, self.latent_dim, self.seed, self.label_classes())

    def export_plan(self, x_train, y_train=None):
        label = "y" if self.conditional else None
        facts = {
            "latent_dim": self.latent_dim,
            "prior": {"kind": "standard_normal"},
            "sampling": {"network": "decoder", "latent_input": "z", "label_input": label, "output": "x"},
            "encoding": {"network": "encoder", "image_input": "x", "label_input": label, "outputs": ["z_mean", "z_log_var"]},
            "networks": {"decoder": {"outputs": ["x"]}, "encoder": {"outputs": ["z_mean", "z_log_var"]}},
        }
        return {"decoder": self.decoder, "encoder": self.encoder}, facts

    def additions(self) -> dict:
        label = f" + label ({self.condition.encoding})" if self.conditional else ""
        return {
            "encoder": f"input{label}; Dense heads z_mean, z_log_var ({self.latent_dim}); Sampling z = mu + sigma*eps",
            "decoder": f"input z ({self.latent_dim}){label}",
        }
