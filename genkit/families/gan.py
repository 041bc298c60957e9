"""Generative adversarial network: a generator G and a discriminator D playing a minimax game.

Reference: Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014 (Algorithm 1);
DCGAN networks: Radford, Metz & Chintala, ICLR 2016; feature matching and one-sided
label smoothing: Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016.

D outputs one logit l(x), D(x) = σ(l(x)). Each train step makes k discriminator updates,
each on a fresh sub-batch of real images (see `adversarial.split_batch`), then one
generator update:

    L_D = ½·BCE(D(x), 1 − s) + ½·BCE(D(G(z)), 0)              (eq. 1, halved; s: smoothing)
    L_G = −log D(G(z))   non_saturating  | log(1 − D(G(z)))  minimax
        | −exp(l(G(z)))  max_likelihood                          (`genkit.losses.generator_loss`)
        (+ w·‖mean f(x) − mean f(G(z))‖² with feature matching on D's layer f; or that term alone)

Logged per step: d_loss, g_loss, d_real = mean D(x), d_fake = mean D(G(z)) (from the last
discriminator update), and both players' gradient norms. `test_step` reports, on held-out
images and fresh latents, `loss` = log 2 − L_D(s = 0), the lower bound on JSD(p_data ‖ p_G)
that the current D gives (Goodfellow et al. 2014, Theorem 1): near log 2 when D separates
the two perfectly, near 0 (or below) when it cannot.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from genkit.errors import Problem, SpecError, did_you_mean
from genkit.families.adversarial import Adversarial, check_one_score, split_batch
from genkit.families.base import build_trunk, register_family
from genkit.losses import discriminator_loss, feature_matching_loss, generator_loss, js_divergence_lower_bound

__all__ = ["GAN", "trunk_with_features"]


def trunk_with_features(trunk, layer_name: str):
    """The discriminator trunk as a model returning [its output, the output of `layer_name`]."""
    names = [layer.name for layer in trunk.layers]
    if layer_name not in names:
        raise SpecError(
            [
                Problem(
                    ("loss", "feature_matching", "layer"),
                    f"got {layer_name!r}; the discriminator has no layer of that name (its layers: {', '.join(names[1:])}).",
                    did_you_mean(layer_name, names) or "Give the layer a 'name:' in the spec and use it here.",
                )
            ]
        )
    return keras.Model(trunk.input, [trunk.output, trunk.get_layer(layer_name).output], name="discriminator_with_features")


@register_family("gan")
class GAN(Adversarial):
    loss_names = ("loss", "d_loss", "g_loss", "d_real", "d_fake", "feature_matching", "d_grad_norm", "g_grad_norm")
    loss_networks = {"d_loss": "discriminator", "d_real": "discriminator", "d_fake": "discriminator", "d_grad_norm": "discriminator",
                     "g_loss": "generator", "feature_matching": "generator", "g_grad_norm": "generator"}

    def __init__(self, spec, data_shape, num_classes=None, **kwargs):
        super().__init__(spec, data_shape, num_classes, **kwargs)
        self.feature_matching = spec.loss.feature_matching
        self.generator_loss_kind = spec.loss.generator_loss
        self.label_smoothing = float(spec.loss.label_smoothing)

    # -- the discriminator ---------------------------------------------------------------
    def _discriminator_input(self):
        """(inputs, tensor the trunk reads); cgan adds the label here."""
        x = keras.Input(self.data_shape, name="x")
        return [x], x

    def _build_opponent(self, spec):
        inputs, h = self._discriminator_input()
        trunk = build_trunk(spec, "discriminator", h.shape[1:], "x", self.data_shape)
        self.trunks["discriminator"] = trunk
        check_one_score(trunk.output, "discriminator")
        return self._wrap_trunk(trunk, inputs, h, spec.loss.feature_matching)

    def _wrap_trunk(self, trunk, inputs, h, feature_matching):
        """The discriminator on `inputs`; with feature matching also a twin returning (logit, f(x))."""
        inputs = inputs if len(inputs) > 1 else inputs[0]
        self.discriminator_features = None
        if feature_matching is None:
            return keras.Model(inputs, trunk(h), name="discriminator")
        logit, features = trunk_with_features(trunk, feature_matching.layer)(h)
        self.discriminator_features = keras.Model(inputs, [logit, features], name="discriminator_features")
        return keras.Model(inputs, logit, name="discriminator")

    # -- the game ------------------------------------------------------------------------
    def train_step(self, data):
        x, y = self.unpack(data)
        # 1. k discriminator updates, each on its own sub-batch of real images (Algorithm 1, inner loop).
        for x_real, y_real in split_batch(x, y, self.steps):
            d_logs = self._discriminator_step(x_real, y_real)
        # 2. One generator update on as many latents (labels and real features: the last sub-batch's).
        g_logs = self._generator_step(x_real, y_real)
        # 3. The generator's weight average, if kept.
        self.update_average()
        return self.record({**d_logs, **g_logs})

    def _discriminator_step(self, x, y):
        z = self.draw_latents(tf.shape(x)[0])
        fake = self.generator(self.generator_inputs(z, y), training=True)  # no gradient to G here
        with tf.GradientTape() as tape:
            ((real_logits, fake_logits),) = self.judge(self.discriminator, x, fake, y, training=True)
            d_loss = discriminator_loss(real_logits, fake_logits, self.label_smoothing)
            scaled = self.scaled(d_loss, self.discriminator_optimizer)
        norm = self.apply(self.discriminator_optimizer, tape, scaled, self.discriminator)
        return {**self._scores(real_logits, fake_logits), "d_loss": d_loss, "d_grad_norm": norm}

    def _generator_step(self, x_real, y):
        z = self.draw_latents(tf.shape(x_real)[0])
        fm = self.feature_matching
        logs = {}
        with tf.GradientTape() as tape:
            fake = self.generator(self.generator_inputs(z, y), training=True)
            if fm is None:
                ((_, fake_logits),) = self.judge(self.discriminator, x_real, fake, y, training=True)
                g_loss = generator_loss(self.generator_loss_kind, fake_logits)
            else:
                (_, fake_logits), (real_features, fake_features) = self.judge(
                    self.discriminator_features, x_real, fake, y, training=True
                )
                matching = fm.weight * feature_matching_loss(tf.stop_gradient(real_features), fake_features)
                logs["feature_matching"] = matching
                g_loss = matching if fm.combine == "replace" else generator_loss(self.generator_loss_kind, fake_logits) + matching
            scaled = self.scaled(g_loss, self.generator_optimizer)
        logs["g_grad_norm"] = self.apply(self.generator_optimizer, tape, scaled, self.generator)
        return {"g_loss": g_loss, **logs}

    def test_step(self, data):
        x, y = self.unpack(data)
        z = self.draw_latents(tf.shape(x)[0])
        fake = self.sampling_network(self.generator_inputs(z, y), training=False)
        ((real_logits, fake_logits),) = self.judge(self.discriminator, x, fake, y, training=False)
        return self.record(
            {
                **self._scores(real_logits, fake_logits),
                "d_loss": discriminator_loss(real_logits, fake_logits),
                "g_loss": generator_loss(self.generator_loss_kind, fake_logits),
            },
            batch=tf.shape(x)[0],
        )

    @staticmethod
    def _scores(real_logits, fake_logits) -> dict:
        """The JSD bound (`loss`), D(x) and D(G(z)) averaged over the batch."""
        return {
            "loss": js_divergence_lower_bound(real_logits, fake_logits),
            "d_real": ops.mean(ops.sigmoid(ops.cast(real_logits, "float32"))),
            "d_fake": ops.mean(ops.sigmoid(ops.cast(fake_logits, "float32"))),
        }

    def call(self, inputs, training=False):
        """D's logit of a batch of images (`x` or `(x, y)`)."""
        x, y = self.unpack(inputs)
        return self.discriminator(self.opponent_inputs(x, y), training=training)

    def additions(self) -> dict:
        fm = self.feature_matching
        matched = f"; features of layer {fm.layer!r} matched by the generator ({fm.combine})" if fm else ""
        return {**super().additions(), "discriminator": f"its output is read as the logit{matched}"}
