"""pix2pix: a conditional GAN that translates each source image x into its paired target y.

Reference: Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional Adversarial
Networks", CVPR 2017 (eq. 1-4, section 3.2 and appendix 6.1).

The generator G (the spec's network, typically a U-Net graph with skip connections) maps x to
G(x). The discriminator D sees the source beside an image, [x, y] or [x, G(x)] concatenated
along the channels, and gives one logit per patch (a PatchGAN: its receptive field covers a
patch, so it judges local texture and leaves the low frequencies to the L1 term):

    L_D = ½·BCE(D(x, y), 1) + ½·BCE(D(x, G(x)), 0)          mean over every patch (eq. 1, halved as in §3.3)
    L_G = −log D(x, G(x)) + λ·mean |y − G(x)|                   eq. 4 (non-saturating form of eq. 1; eq. 3)

Each train step makes one D update and then one G update against the updated D, each
with its own optimizer (`train.optimizers`). With `train.ema`, an exponential moving average
of G's weights (`self.ema`, its network `self.ema_network`) translates for previews,
evaluation and export. Logged: d_loss, g_loss, its two parts g_adversarial and l1, the mean
patch probabilities d_real and d_fake, and both gradient norms; `test_step` reports
`loss` = the held-out L1 error of the translation.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from genkit.families.pix2pix.card import CARD
from genkit.losses import discriminator_loss, generator_loss, mean_absolute_error
from genkit.modeling.base import GenerativeModel
from genkit.modeling.ema import WeightAverage
from genkit.modeling.networks import build_all, build_trunk, check_output_shape
from genkit.modeling.steps import apply_update, compile_per_role, judge_as_one_batch, scaled_loss, track, unpack
from genkit.modeling.translation import check_patch_scores, translation_plan, translation_preview
from genkit.nets.inference import predict_batches

__all__ = ["Pix2Pix"]


def patch_probabilities(real_logits, fake_logits) -> dict:
    """d_real, d_fake: D's mean patch probability on real and on generated pairs."""
    return {
        "d_real": ops.mean(ops.sigmoid(ops.cast(real_logits, "float32"))),
        "d_fake": ops.mean(ops.sigmoid(ops.cast(fake_logits, "float32"))),
    }


class Pix2Pix(GenerativeModel):
    """G: x -> y against a PatchGAN D(x, ·), plus λ·L1 to the paired target (Isola et al. 2017, eq. 4)."""

    directions = ("ab",)  # what `translate` does: x -> G(x)

    def __init__(self, spec, data_shape, num_classes=None, steps_per_epoch=1):
        super().__init__(spec, CARD, data_shape, num_classes)
        self.l1_weight = float(spec.loss.l1_weight)
        built = build_all(
            {"generator": lambda: self._build_generator(spec), "discriminator": lambda: self._build_discriminator(spec)}
        )
        self.generator = built["generator"]
        self.discriminator = built["discriminator"]
        check_output_shape(self.generator, "generator", data_shape)
        self.ema = WeightAverage(self.generator, spec.train.ema) if spec.train.ema else None
        # An attribute, so save_weights keeps the average with the networks and a resume continues it.
        self.ema_network = self.ema.network if self.ema else None

    # -- networks ----------------------------------------------------------------------
    def _build_generator(self, spec):
        generator = build_trunk(spec, "generator", self.data_shape, "x", self.data_shape)
        self.trunks["generator"] = generator
        return generator

    def _build_discriminator(self, spec):
        x = keras.Input(self.data_shape, name="x")
        y = keras.Input(self.data_shape, name="y")
        pair = keras.layers.Concatenate(name="x_with_y")([x, y])  # (B, H, W, 2C): D judges y as a translation of x
        trunk = build_trunk(spec, "discriminator", pair.shape[1:], "x", self.data_shape)
        self.trunks["discriminator"] = trunk
        check_patch_scores(trunk.output, "discriminator")
        return keras.Model([x, y], trunk(pair), name="discriminator")

    @property
    def sampling_network(self):
        """The generator that translates for previews, evaluation and export: the weight average when kept."""
        return self.ema_network if self.ema_network is not None else self.generator

    def compile(self, optimizers: dict, jit_compile=False):
        """`optimizers`: role -> Keras optimizer, one per network (`train.optimizers`)."""
        super().compile(optimizer=None, jit_compile=jit_compile)
        compile_per_role(self, {"generator": self.generator, "discriminator": self.discriminator}, optimizers)

    def judge(self, x, y, fake, training):
        """D's patch logits of the real pairs (x, y) and the generated pairs (x, G(x)), as one batch."""
        sources = tf.concat([x, x], axis=0)
        ((real, fake_logits),) = judge_as_one_batch(
            lambda images: self.discriminator([tf.cast(sources, images.dtype), images], training=training), y, fake
        )
        return real, fake_logits

    # -- the game ------------------------------------------------------------------------
    def train_step(self, data):
        x, y = unpack(data)  # source and target, (B, H, W, C) each
        with tf.GradientTape() as g_tape:
            fake = self.generator(x, training=True)
            # 1. One D update: real pairs toward 1, generated pairs toward 0 (no gradient to G).
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    real_logits, fake_logits = self.judge(x, y, tf.stop_gradient(fake), training=True)
                    d_loss = discriminator_loss(real_logits, fake_logits)
                    scaled = scaled_loss(d_loss, self.discriminator_optimizer)
                d_norm = apply_update(self.discriminator_optimizer, d_tape, scaled, self.discriminator)
            # 2. One G update against the updated D, plus λ times the L1 distance to the target (eq. 4).
            _, fooled = self.judge(x, y, fake, training=True)
            adversarial = generator_loss("non_saturating", fooled)
            l1 = mean_absolute_error(y, fake)
            g_loss = adversarial + self.l1_weight * l1
            scaled = scaled_loss(g_loss, self.generator_optimizer)
        g_norm = apply_update(self.generator_optimizer, g_tape, scaled, self.generator)
        # 3. The generator's weight average, if kept.
        if self.ema is not None:
            self.ema.update(self.generator_optimizer.iterations)
        return track(
            self.trackers,
            {
                "d_loss": d_loss,
                "g_loss": g_loss,
                "g_adversarial": adversarial,
                "l1": l1,
                **patch_probabilities(real_logits, fake_logits),
                "d_grad_norm": d_norm,
                "g_grad_norm": g_norm,
            },
        )

    def test_step(self, data):
        x, y = unpack(data)
        fake = self.sampling_network(x, training=False)
        real_logits, fake_logits = self.judge(x, y, fake, training=False)
        l1 = mean_absolute_error(y, fake)
        return track(
            self.trackers,
            {
                "loss": l1,
                "l1": l1,
                "d_loss": discriminator_loss(real_logits, fake_logits),
                "g_adversarial": generator_loss("non_saturating", fake_logits),
                **patch_probabilities(real_logits, fake_logits),
            },
            batch=tf.shape(x)[0],
        )

    def call(self, inputs, training=False):
        """G(x) of a batch of source images (`x` or `(x, y)`)."""
        x, _ = unpack(inputs)
        return self.sampling_network(x, training=training)

    def translate(self, x, direction: str = "ab"):
        """G(x) for source images `x` (N, H, W, C), NumPy in and out."""
        return predict_batches(self.sampling_network, np.asarray(x, "float32"))

    # -- what the trainer, evaluator, exporter and inspector ask -------------------------
    def networks(self) -> dict:
        nets = {"generator": self.generator, "discriminator": self.discriminator}
        if self.ema_network is not None:
            nets["generator_ema"] = self.ema_network
        return nets

    def describe(self) -> dict:
        average = f"; weight average (EMA {self.ema.decay}) used to translate and export" if self.ema else ""
        return {
            "generator": f"reads the source image x{average}",
            "discriminator": "reads [x, image] concatenated along the channels; its outputs are read as patch logits",
        }

    def preview(self, x_fixed, y_fixed=None):
        """Rows of 8: sources, their translations, their targets (twice, for 16 pairs)."""
        rows = []
        for start in range(0, min(len(x_fixed), 16), 8):
            x = x_fixed[start : start + 8]
            rows += [("input", x), ("output", self.translate(x))]
            if y_fixed is not None:
                rows.append(("target", y_fixed[start : start + 8]))
        return translation_preview(rows)

    def export_plan(self, x_train, y_train=None):
        return translation_plan(
            networks={"generator": self.sampling_network, "discriminator": self.discriminator},
            outputs={"generator": ["y"], "discriminator": ["logits"]},
            directions={"ab": "generator"},
            # The parity batch feeds D's second input y with values of the data's range.
            input_ranges={"discriminator": {"y": self.value_range}},
        )
