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
with its own optimizer (`train.optimizers`). Logged: d_loss, g_loss, its two parts
g_adversarial and l1, the mean patch probabilities d_real and d_fake, and both gradient
norms; `test_step` reports `loss` = the held-out L1 error of the translation.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from genkit.errors import Problem, SpecError
from genkit.families.adversarial import judge_as_one_batch
from genkit.families.base import build_trunk, check_output_shape, register_family
from genkit.families.separate_optimizers import SeparateOptimizers
from genkit.losses import discriminator_loss, generator_loss, mean_absolute_error
from genkit.nets.inference import predict_batches
from genkit.train.ema import WeightAverage

__all__ = ["Pix2Pix", "check_patch_scores", "translation_facts", "translation_preview"]


def check_patch_scores(output, role):
    """A patch discriminator gives one score per patch: shape (h, w, 1), or (1,) for the whole image."""
    if not output.shape[1:] or output.shape[-1] != 1:
        raise SpecError(
            [
                Problem(
                    ("model", "networks", role),
                    f"outputs shape {list(output.shape[1:])}; the {role} must give one score per patch, shape [h, w, 1] "
                    "(or [1] for the whole image).",
                    "End it with e.g. 'Conv2D: {filters: 1, kernel_size: 4, padding: same}'.",
                )
            ]
        )


def translation_preview(rows: list, cols: int = 8):
    """(images, columns, row labels) of named rows [(label, images (N, H, W, C))], N ≤ cols each."""
    return np.concatenate([images[:cols] for _, images in rows]), cols, [label for label, _ in rows]


def translation_facts(directions: dict, networks: dict) -> dict:
    """Manifest facts of a translation export: direction -> {network, input, output}; nothing to sample."""
    return {
        "latent_dim": None,
        "prior": None,
        "sampling": None,
        "encoding": None,
        "translation": {d: {"network": net, "input": "x", "output": "y"} for d, net in directions.items()},
        "networks": networks,
    }


@register_family("pix2pix")
class Pix2Pix(SeparateOptimizers):
    directions = ("ab",)  # what `translate` does: x -> G(x)
    loss_names = ("loss", "d_loss", "g_loss", "g_adversarial", "l1", "d_real", "d_fake", "d_grad_norm", "g_grad_norm")
    # Which network each loss trains (for guards that name the network behind a bad loss).
    loss_networks = {
        **{key: "discriminator" for key in ("d_loss", "d_real", "d_fake", "d_grad_norm")},
        **{key: "generator" for key in ("g_loss", "g_adversarial", "l1", "g_grad_norm")},
    }

    def __init__(self, spec, data_shape, num_classes=None, **kwargs):
        super().__init__(spec, data_shape, num_classes, **kwargs)
        self.l1_weight = float(spec.loss.l1_weight)
        problems = []
        for build in (self._build_generator, self._build_discriminator):
            try:
                build(spec)
            except SpecError as err:
                problems += err.problems
        if problems:
            raise SpecError(problems)
        check_output_shape(self.generator, "generator", data_shape)
        self.average = WeightAverage(self.generator, spec.train.ema) if spec.train.ema else None
        # An attribute, so save_weights keeps the average with the networks and a resume continues it.
        self.generator_ema = self.average.network if self.average else None

    # -- networks ----------------------------------------------------------------------
    def _build_generator(self, spec):
        self.generator = build_trunk(spec, "generator", self.data_shape, "x", self.data_shape)
        self.trunks["generator"] = self.generator

    def _build_discriminator(self, spec):
        x = keras.Input(self.data_shape, name="x")
        y = keras.Input(self.data_shape, name="y")
        pair = keras.layers.Concatenate(name="x_with_y")([x, y])  # (B, H, W, 2C): D judges y as a translation of x
        trunk = build_trunk(spec, "discriminator", pair.shape[1:], "x", self.data_shape)
        self.trunks["discriminator"] = trunk
        check_patch_scores(trunk.output, "discriminator")
        self.discriminator = keras.Model([x, y], trunk(pair), name="discriminator")

    def players(self) -> dict:
        return {"generator": self.generator, "discriminator": self.discriminator}

    @property
    def sampling_network(self):
        """The generator that translates for previews, evaluation and export: the weight average when kept."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    def judge(self, x, y, fake, training):
        """D's patch logits of the real pairs (x, y) and the generated pairs (x, G(x)), as one batch."""
        sources = tf.concat([x, x], axis=0)
        ((real, fake_logits),) = judge_as_one_batch(lambda images: self.discriminator([tf.cast(sources, images.dtype), images], training=training), y, fake)
        return real, fake_logits

    # -- the game ------------------------------------------------------------------------
    def train_step(self, data):
        x, y = self.unpack(data)  # source and target, (B, H, W, C) each
        with tf.GradientTape() as g_tape:
            fake = self.generator(x, training=True)
            # 1. One D update: real pairs toward 1, generated pairs toward 0 (no gradient to G).
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    real_logits, fake_logits = self.judge(x, y, tf.stop_gradient(fake), training=True)
                    d_loss = discriminator_loss(real_logits, fake_logits)
                    scaled = self.scaled(d_loss, self.discriminator_optimizer)
                d_norm = self.apply(self.discriminator_optimizer, d_tape, scaled, self.discriminator)
            # 2. One G update against the updated D, plus λ times the L1 distance to the target (eq. 4).
            _, fooled = self.judge(x, y, fake, training=True)
            adversarial = generator_loss("non_saturating", fooled)
            l1 = mean_absolute_error(y, fake)
            g_loss = adversarial + self.l1_weight * l1
            scaled = self.scaled(g_loss, self.generator_optimizer)
        g_norm = self.apply(self.generator_optimizer, g_tape, scaled, self.generator)
        # 3. The generator's weight average, if kept.
        if self.average is not None:
            self.average.update(self.generator_optimizer.iterations)
        return self.record(
            {
                "d_loss": d_loss,
                "g_loss": g_loss,
                "g_adversarial": adversarial,
                "l1": l1,
                **self._scores(real_logits, fake_logits),
                "d_grad_norm": d_norm,
                "g_grad_norm": g_norm,
            }
        )

    def test_step(self, data):
        x, y = self.unpack(data)
        fake = self.sampling_network(x, training=False)
        real_logits, fake_logits = self.judge(x, y, fake, training=False)
        l1 = mean_absolute_error(y, fake)
        return self.record(
            {
                "loss": l1,
                "l1": l1,
                "d_loss": discriminator_loss(real_logits, fake_logits),
                "g_adversarial": generator_loss("non_saturating", fake_logits),
                **self._scores(real_logits, fake_logits),
            }
        )

    @staticmethod
    def _scores(real_logits, fake_logits) -> dict:
        return {
            "d_real": ops.mean(ops.sigmoid(ops.cast(real_logits, "float32"))),
            "d_fake": ops.mean(ops.sigmoid(ops.cast(fake_logits, "float32"))),
        }

    def call(self, inputs, training=False):
        """G(x) of a batch of source images (`x` or `(x, y)`)."""
        x, _ = self.unpack(inputs)
        return self.sampling_network(x, training=training)

    # -- what the trainer, evaluator, exporter and inspector ask -------------------------
    def translate(self, x, direction: str = "ab"):
        """G(x) for source images `x` (N, H, W, C), NumPy in and out."""
        return predict_batches(self.sampling_network, np.asarray(x, "float32"))

    def networks(self) -> dict:
        nets = dict(self.players())
        if self.generator_ema is not None:
            nets["generator_ema"] = self.generator_ema
        return nets

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
        facts = translation_facts({"ab": "generator"}, {"generator": {"outputs": ["y"]}, "discriminator": {"outputs": ["logits"]}})
        return {"generator": self.sampling_network, "discriminator": self.discriminator}, facts

    def export_input_ranges(self) -> dict:
        return {"discriminator": {"y": self.value_range}}

    def additions(self) -> dict:
        average = f"; weight average (EMA {self.average.decay}) used to translate and export" if self.average else ""
        return {
            "generator": f"reads the source image x{average}",
            "discriminator": "reads [x, image] concatenated along the channels; its outputs are read as patch logits",
        }
