"""Wasserstein GAN: a critic estimates the Wasserstein-1 distance, the generator lowers it.

Reference: Arjovsky, Chintala & Bottou, "Wasserstein GAN", ICML 2017 (Algorithm 1, weight
clipping); Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017
(Algorithm 1, gradient penalty).

By Kantorovich–Rubinstein duality W(p_data, p_G) = sup_{‖D‖_L ≤ 1} E[D(x)] − E[D(G(z))].
The critic D (no sigmoid: its output is an unbounded score) climbs that estimate for
n_critic updates, each on a fresh sub-batch of real images (`adversarial.split_batch`),
then the generator takes one step:

    L_critic = E[D(G(z))] − E[D(x)]  (+ λ·E[(‖∇_x̂ D(x̂)‖₂ − 1)²], x̂ = εx + (1 − ε)G(z))   gradient_penalty
             with every critic weight clipped to [−c, c] after each update                  clip
    L_G      = −E[D(G(z))]

Logged: critic_loss (with the penalty), g_loss, wasserstein = E[D(x)] − E[D(G(z))] (the
estimate, which falls as samples improve; Arjovsky et al., figure 3), gradient_penalty, and
both gradient norms. `test_step` reports the estimate on held-out images as `loss`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from genkit.families.adversarial import Adversarial, check_one_score, split_batch
from genkit.families.base import build_trunk, register_family
from genkit.losses import gradient_penalty, wasserstein_critic_loss, wasserstein_generator_loss
from genkit.nets.blocks import MinibatchDiscrimination, MinibatchStdDev

# Layers whose output for one image depends on the other images of its batch.
_BATCH_COUPLED = (keras.layers.BatchNormalization, MinibatchStdDev, MinibatchDiscrimination)


def couples_examples(network) -> bool:
    """Whether any layer of `network` (nested blocks included) mixes examples of a batch."""
    return any(isinstance(layer, _BATCH_COUPLED) for layer in network._flatten_layers(include_self=False, recursive=True))

__all__ = ["WGAN"]


@register_family("wgan")
class WGAN(Adversarial):
    opponent = "critic"
    steps_field = "critic_steps"
    loss_names = ("loss", "critic_loss", "g_loss", "wasserstein", "gradient_penalty", "critic_grad_norm", "g_grad_norm")
    loss_networks = {"critic_loss": "critic", "wasserstein": "critic", "gradient_penalty": "critic", "critic_grad_norm": "critic",
                     "g_loss": "generator", "g_grad_norm": "generator"}
    collapse_remedies = (
        "a MinibatchStdDev layer in the critic, lipschitz: gradient_penalty (if clipping), more critic_steps, "
        "or a lower generator learning rate"
    )

    def __init__(self, spec, data_shape, num_classes=None, **kwargs):
        super().__init__(spec, data_shape, num_classes, **kwargs)
        self.lipschitz = spec.loss.lipschitz
        self.clip_value = float(spec.loss.clip_value)
        self.gp_weight = float(spec.loss.gp_weight)
        self.scores_apart = not couples_examples(self.critic)

    def _build_opponent(self, spec):
        x = keras.Input(self.data_shape, name="x")
        trunk = build_trunk(spec, "critic", self.data_shape, "x", self.data_shape)
        self.trunks["critic"] = trunk
        check_one_score(trunk.output, "critic")
        return keras.Model(x, trunk(x), name="critic")

    # -- the game ------------------------------------------------------------------------
    def train_step(self, data):
        x, _ = self.unpack(data)
        # 1. n_critic critic updates, each on its own sub-batch of real images.
        for x_real, _ in split_batch(x, None, self.steps):
            critic_logs = self._critic_step(x_real)
        # 2. One generator update on as many latents.
        g_logs = self._generator_step(x_real)
        # 3. The generator's weight average, if kept.
        self.update_average()
        return self.record({**critic_logs, **g_logs})

    def _critic_step(self, x):
        fake = self.generator(self.draw_latents(tf.shape(x)[0]), training=True)  # no gradient to G here
        logs = {}
        with tf.GradientTape() as tape:
            ((real_scores, fake_scores),) = self.judge(self.critic, x, fake, None, training=True)
            loss = wasserstein_critic_loss(real_scores, fake_scores)
            logs["wasserstein"] = -loss
            if self.lipschitz == "gradient_penalty":
                # ε from the model's own generator: seeded, and different on every replica.
                epsilon = keras.random.uniform((tf.shape(x)[0],), seed=self.noise)
                penalty = gradient_penalty(lambda images: self.critic(images, training=True), x, fake, epsilon)
                logs["gradient_penalty"] = penalty
                loss = loss + self.gp_weight * penalty
            scaled = self.scaled(loss, self.critic_optimizer)
        logs["critic_grad_norm"] = self.apply(self.critic_optimizer, tape, scaled, self.critic)
        if self.lipschitz == "clip":
            # Arjovsky et al., Algorithm 1 line 7: clip after every critic update, so the
            # critic stays in a compact set of functions (Lipschitz for some K).
            for weight in self.critic.trainable_variables:
                weight.assign(tf.clip_by_value(weight, -self.clip_value, self.clip_value))
        return {"critic_loss": loss, **logs}

    def _generator_step(self, x_real):
        z = self.draw_latents(tf.shape(x_real)[0])
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            if self.scores_apart:
                # A critic that scores each image on its own gives the fakes the same scores
                # alone as beside real images: half the critic's work.
                fake_scores = self.critic(fake, training=True)
            else:
                # Batch statistics (BatchNormalization, minibatch features): score the fakes
                # beside real images, as the critic step does.
                ((_, fake_scores),) = self.judge(self.critic, x_real, fake, None, training=True)
            g_loss = wasserstein_generator_loss(fake_scores)
            scaled = self.scaled(g_loss, self.generator_optimizer)
        return {"g_loss": g_loss, "g_grad_norm": self.apply(self.generator_optimizer, tape, scaled, self.generator)}

    def test_step(self, data):
        x, _ = self.unpack(data)
        fake = self.sampling_network(self.draw_latents(tf.shape(x)[0]), training=False)
        ((real_scores, fake_scores),) = self.judge(self.critic, x, fake, None, training=False)
        estimate = -wasserstein_critic_loss(real_scores, fake_scores)
        logs = {"loss": estimate, "wasserstein": estimate, "g_loss": wasserstein_generator_loss(fake_scores)}
        return self.record(logs, batch=tf.shape(x)[0])

    def call(self, inputs, training=False):
        """The critic's score of a batch of images."""
        x, _ = self.unpack(inputs)
        return self.critic(x, training=training)

    def additions(self) -> dict:
        how = f"weights clipped to [-{self.clip_value:g}, {self.clip_value:g}]" if self.lipschitz == "clip" else (
            f"gradient penalty (weight {self.gp_weight:g}) on interpolates"
        )
        return {**super().additions(), "critic": f"its output is read as the score; {how}"}
