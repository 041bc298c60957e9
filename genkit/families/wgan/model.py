"""Wasserstein GAN: a critic estimates the Wasserstein-1 distance, the generator lowers it.

Reference: Arjovsky, Chintala & Bottou, "Wasserstein GAN", ICML 2017 (Algorithm 1, weight
clipping); Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017
(Algorithm 1, gradient penalty).

By Kantorovich–Rubinstein duality W(p_data, p_G) = sup_{‖D‖_L ≤ 1} E[D(x)] − E[D(G(z))].
The critic D (no sigmoid: its output is an unbounded score) climbs that estimate for
n_critic updates, each on a fresh sub-batch of real images (`genkit.modeling.steps.split_batch`),
then the generator takes one step:

    L_critic = E[D(G(z))] − E[D(x)]  (+ λ·E[(‖∇_x̂ D(x̂)‖₂ − 1)²], x̂ = εx + (1 − ε)G(z))   gradient_penalty
             with every critic weight clipped to [−c, c] after each update                  clip
    L_G      = −E[D(G(z))]

Logged: critic_loss (with the penalty), g_loss, wasserstein = E[D(x)] − E[D(G(z))] (the
estimate, which falls as samples improve; Arjovsky et al., figure 3), gradient_penalty, and
both gradient norms. `test_step` reports the estimate on held-out images as `loss`.

The generator (with its reference batch) and the latent draws are the GAN's
(`genkit.modeling.adversarial`); the weight average, sampling, preview and export mirror
genkit/families/gan/model.py without labels. The game differs, so it is written here in full.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from genkit.families.wgan.card import CARD
from genkit.losses import gradient_penalty, wasserstein_critic_loss, wasserstein_generator_loss
from genkit.manifest import ExportPlan, SamplingFacts
from genkit.modeling.adversarial import build_generator, describe_generator, draw_latents
from genkit.modeling.base import GenerativeModel
from genkit.modeling.ema import WeightAverage
from genkit.modeling.networks import build_all, build_trunk, check_one_score
from genkit.modeling.prior import decode_prior_draws, prior_preview
from genkit.modeling.steps import (
    apply_update,
    compile_per_role,
    judge_as_one_batch,
    scaled_loss,
    split_batch,
    track,
    unpack,
)
from genkit.nets.blocks import MinibatchDiscrimination, MinibatchStdDev
from genkit.replica_seed import ReplicaSeedGenerator

__all__ = ["WGAN", "build_critic", "couples_examples"]

# Layers whose output for one image depends on the other images of its batch.
_BATCH_COUPLED = (keras.layers.BatchNormalization, MinibatchStdDev, MinibatchDiscrimination)


def couples_examples(network) -> bool:
    """Whether any layer of `network` (nested blocks included) mixes examples of a batch."""
    return any(isinstance(layer, _BATCH_COUPLED) for layer in network._flatten_layers(include_self=False, recursive=True))


def build_critic(spec, data_shape, trunks: dict):
    """The critic D on x, one unbounded score per image."""
    x = keras.Input(data_shape, name="x")
    trunk = build_trunk(spec, "critic", data_shape, "x", data_shape)
    trunks["critic"] = trunk
    check_one_score(trunk.output, "critic")
    return keras.Model(x, trunk(x), name="critic")


class WGAN(GenerativeModel):
    """The Wasserstein GAN; see the module docstring."""


    def __init__(self, spec, data_shape, num_classes=None, steps_per_epoch=1):
        super().__init__(spec, CARD, data_shape, num_classes)
        self.latent_dim = spec.model.latent_dim
        built = build_all(
            {
                "generator": lambda: build_generator(spec, self.data_shape, self.trunks),
                "critic": lambda: build_critic(spec, self.data_shape, self.trunks),
            }
        )
        self.generator = built["generator"]
        self.critic = built["critic"]
        self.critic_steps = spec.loss.critic_steps
        self.ema = WeightAverage(self.generator, spec.train.ema) if spec.train.ema else None
        # An attribute, so save_weights keeps the average with the networks and a resume continues it.
        self.ema_network = self.ema.network if self.ema is not None else None
        self.noise = ReplicaSeedGenerator(spec.seed)
        self.lipschitz = spec.loss.lipschitz
        self.clip_value = float(spec.loss.clip_value)
        self.gp_weight = float(spec.loss.gp_weight)
        self.scores_apart = not couples_examples(self.critic)

    def compile(self, optimizers: dict, jit_compile=False):
        """`optimizers`: role -> Keras optimizer (train.optimizers); Keras's own stays None."""
        super().compile(optimizer=None, jit_compile=jit_compile)
        compile_per_role(self, {"generator": self.generator, "critic": self.critic}, optimizers)

    @property
    def sampling_network(self):
        """The generator samples, previews and exports come from: the weight average when kept."""
        return self.ema_network if self.ema_network is not None else self.generator

    def _judge(self, real, fake, training):
        """The critic on real and generated images as one batch (`judge_as_one_batch`)."""
        ((real_scores, fake_scores),) = judge_as_one_batch(lambda images: self.critic(images, training=training), real, fake)
        return real_scores, fake_scores

    # -- the game ------------------------------------------------------------------------
    def train_step(self, data):
        x, _ = unpack(data)
        # 1. n_critic critic updates, each on its own sub-batch of real images.
        for x_real, _ in split_batch(x, None, self.critic_steps):
            critic_logs = self._critic_step(x_real)
        # 2. One generator update on as many latents.
        g_logs = self._generator_step(x_real)
        # 3. The generator's weight average, if kept.
        if self.ema is not None:
            self.ema.update(self.generator_optimizer.iterations)
        return track(self.trackers, {**critic_logs, **g_logs})

    def _critic_step(self, x):
        """One descent step on L_critic for a sub-batch x of real images, then the clip if chosen."""
        fake = self.generator(draw_latents(self.noise, tf.shape(x)[0], self.latent_dim), training=True)  # no gradient to G here
        logs = {}
        with tf.GradientTape() as tape:
            real_scores, fake_scores = self._judge(x, fake, training=True)
            loss = wasserstein_critic_loss(real_scores, fake_scores)
            logs["wasserstein"] = -loss
            if self.lipschitz == "gradient_penalty":
                # ε from the model's own generator: seeded, and different on every replica.
                epsilon = keras.random.uniform((tf.shape(x)[0],), seed=self.noise)
                penalty = gradient_penalty(lambda images: self.critic(images, training=True), x, fake, epsilon)
                logs["gradient_penalty"] = penalty
                loss = loss + self.gp_weight * penalty
            scaled = scaled_loss(loss, self.critic_optimizer)
        logs["critic_grad_norm"] = apply_update(self.critic_optimizer, tape, scaled, self.critic)
        if self.lipschitz == "clip":
            # Arjovsky et al., Algorithm 1 line 7: clip after every critic update, so the
            # critic stays in a compact set of functions (Lipschitz for some K).
            for weight in self.critic.trainable_variables:
                weight.assign(tf.clip_by_value(weight, -self.clip_value, self.clip_value))
        return {"critic_loss": loss, **logs}

    def _generator_step(self, x_real):
        """One descent step on L_G = −E[D(G(z))]."""
        z = draw_latents(self.noise, tf.shape(x_real)[0], self.latent_dim)
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            if self.scores_apart:
                # A critic that scores each image on its own gives the fakes the same scores
                # alone as beside real images: half the critic's work.
                fake_scores = self.critic(fake, training=True)
            else:
                # Batch statistics (BatchNormalization, minibatch features): score the fakes
                # beside real images, as the critic step does.
                _, fake_scores = self._judge(x_real, fake, training=True)
            g_loss = wasserstein_generator_loss(fake_scores)
            scaled = scaled_loss(g_loss, self.generator_optimizer)
        return {"g_loss": g_loss, "g_grad_norm": apply_update(self.generator_optimizer, tape, scaled, self.generator)}

    def test_step(self, data):
        x, _ = unpack(data)
        fake = self.sampling_network(draw_latents(self.noise, tf.shape(x)[0], self.latent_dim), training=False)
        real_scores, fake_scores = self._judge(x, fake, training=False)
        estimate = -wasserstein_critic_loss(real_scores, fake_scores)
        logs = {"loss": estimate, "wasserstein": estimate, "g_loss": wasserstein_generator_loss(fake_scores)}
        return track(self.trackers, logs, batch=tf.shape(x)[0])

    def call(self, inputs, training=False):
        """The critic's score of a batch of images."""
        x, _ = unpack(inputs)
        return self.critic(x, training=training)

    # -- sampling and what the trainer, exporter and inspector ask -------------------------
    def sample(self, n: int, labels=None, seed: int = 0):
        """n images G(z) with z ~ N(0, I); `labels` is ignored (the WGAN is unconditional)."""
        return decode_prior_draws(self.sampling_network, self.latent_dim, n, seed=seed)

    def networks(self) -> dict:
        nets = {"generator": self.generator, "critic": self.critic}
        if self.ema_network is not None:
            nets["generator_ema"] = self.ema_network
        return nets

    def describe(self) -> dict:
        if self.lipschitz == "clip":
            how = f"weights clipped to [-{self.clip_value:g}, {self.clip_value:g}]"
        else:
            how = f"gradient penalty (weight {self.gp_weight:g}) on interpolates"
        return {
            "generator": describe_generator(self.generator, self.latent_dim, None, self.ema),
            "critic": f"its output is read as the score; {how}",
        }

    def preview(self, x_fixed, y_fixed=None):
        return prior_preview(self.sampling_network, self.latent_dim, self.seed)

    def export_plan(self, x_train, y_train=None) -> ExportPlan:
        return ExportPlan(
            networks={"generator": self.sampling_network, "critic": self.critic},
            outputs={"generator": ["x"], "critic": ["score"]},
            latent_dim=self.latent_dim,
            prior={"kind": "standard_normal"},
            sampling=SamplingFacts(network="generator", latent_input="z", label_input=None, output="x"),
        )
