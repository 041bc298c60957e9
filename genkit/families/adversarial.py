"""What the adversarial families (gan, cgan, wgan) share word for word: everything but the game.

The generator G(z[, y]) with the label joined to z (and, when it has VirtualBatchNormalization
layers, the fixed reference batch of `reference_batch.py` fed in front of every training call),
one optimizer per player (two time-scale updates, Heusel et al. 2017), the optional exponential moving average of G's weights
(Yazıcı et al. 2019), latent draws, sampling, the per-epoch preview, what is exported and
the training monitor. The objective — `train_step`, `test_step` and the losses — lives in
each family's own module (`gan.py`, `wgan.py`), so each reads on its own.

Batches: one batch of `data.batch_size` real images feeds one generator step. It is split
into k sub-batches (`split_batch`), one fresh sub-batch per discriminator/critic step, as
in Goodfellow et al. 2014, Algorithm 1 and Arjovsky et al. 2017, Algorithm 1 (where the
data iterator is read once per inner step); the generator step draws as many latents.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from genkit.errors import Problem, SpecError
from genkit.families.base import (
    build_from_latent,
    check_output_shape,
    condition_classes,
    decode_prior_draws,
    prior_preview,
)
from genkit.families.reference_batch import PrependReferenceBatch, with_reference_batch
from genkit.families.separate_optimizers import SeparateOptimizers, gradient_norm
from genkit.nets import LabelEmbedding
from genkit.replica_seed import ReplicaSeedGenerator
from genkit.train.ema import WeightAverage

__all__ = ["Adversarial", "check_one_score", "gradient_norm", "judge_as_one_batch", "split_batch"]


def split_batch(x, y, k: int):
    """k sub-batches [(x_i, y_i)] of ceil(B/k) examples; example j goes to sub-batch j mod k.

    Batches whose size is a multiple of k (a rule checks data.batch_size) split exactly; a
    short last batch of an epoch reuses a few examples rather than leave a sub-batch empty.
    """
    if k == 1:
        return [(x, y)]
    n = tf.shape(x)[0]
    m = (n + k - 1) // k
    parts = []
    for i in range(k):
        index = (tf.range(m) * k + i) % n  # (m,)
        parts.append((tf.gather(x, index), None if y is None else tf.gather(y, index)))
    return parts


def judge_as_one_batch(score, real, fake):
    """`score` (images -> the opponent's outputs) on real and generated images as one batch.

    Returns [(real half, fake half)] per output. One batch, so batch normalisation normalises
    both halves with the same statistics in training and, through its moving averages of that
    mixture, at inference; scored apart, a batch-normed discriminator tells the halves apart by
    their batch statistics and its held-out scores mean little.
    """
    n = tf.shape(real)[0]
    outputs = score(tf.concat([tf.cast(real, fake.dtype), fake], axis=0))  # (2n, ...)
    return [(out[:n], out[n:]) for out in tf.nest.flatten(outputs)]


def check_one_score(output, role):
    """The second player must give one number per image: (B, 1)."""
    if tuple(output.shape[1:]) != (1,):
        raise SpecError(
            [
                Problem(
                    ("model", "networks", role),
                    f"outputs shape {list(output.shape[1:])}; the {role} must give one score per image, shape [1].",
                    "End it with 'Flatten: {}' and 'Dense: {units: 1}'.",
                )
            ]
        )


class Adversarial(SeparateOptimizers):
    """Shared plumbing of GAN, cGAN and WGAN (not a family itself).

    A subclass sets `opponent` (the second network's role) and `steps_field` (the loss field
    counting its steps), builds that network in `_build_opponent`, and writes `train_step`
    and `test_step`.
    """

    conditional = False
    opponent = "discriminator"
    steps_field = "discriminator_steps"
    collapse_remedies = None  # what the monitor suggests against collapse (None: its GAN advice)

    def __init__(self, spec, data_shape, num_classes=None, **kwargs):
        super().__init__(spec, data_shape, num_classes, **kwargs)
        self.latent_dim = spec.model.latent_dim
        self.condition = spec.model.condition
        if self.conditional:
            self.num_classes = condition_classes(self.condition, num_classes)
        # The two networks do not depend on each other: report both networks' problems at once.
        problems = []
        for attr, build in (("generator", self._build_generator), (self.opponent, self._build_opponent)):
            try:
                setattr(self, attr, build(spec))
            except SpecError as err:
                problems += err.problems
        if problems:
            raise SpecError(problems)
        check_output_shape(self.generator, "generator", data_shape)
        self.steps = getattr(spec.loss, self.steps_field)
        self.average = WeightAverage(self.generator, spec.train.ema) if spec.train.ema else None
        # An attribute, so save_weights keeps the average with the networks and a resume continues it.
        self.generator_ema = self.average.network if self.average else None
        self.noise = ReplicaSeedGenerator(spec.seed)

    # -- networks ----------------------------------------------------------------------
    def label_vector(self, y, name):
        c = self.condition
        return LabelEmbedding(c.num_classes, encoding=c.encoding, embedding_dim=c.embedding_dim, name=name)(y)

    def _build_generator(self, spec):
        generator = build_from_latent(self, spec, "generator", self.label_vector if self.conditional else None)
        return with_reference_batch(generator, spec.seed, self.num_classes if self.conditional else None)

    @property
    def sampling_network(self):
        """The generator samples, previews and exports come from: the weight average when kept."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    def generator_inputs(self, z, y):
        return [z, y] if self.conditional else z

    def opponent_inputs(self, x, y):
        return [x, y] if self.conditional else x

    def judge(self, network, real, fake, y, training):
        """`network` (D or the critic) on real and generated images as one batch (`judge_as_one_batch`)."""
        labels = None if y is None else tf.concat([y, y], axis=0)
        return judge_as_one_batch(lambda images: network(self.opponent_inputs(images, labels), training=training), real, fake)

    def draw_latents(self, n):
        """z ~ N(0, I), (n, latent_dim), from the model's seeded generator."""
        return keras.random.normal((n, self.latent_dim), seed=self.noise)

    # -- one optimizer per player (SeparateOptimizers) -----------------------------------
    def players(self) -> dict:
        return {"generator": self.generator, self.opponent: getattr(self, self.opponent)}

    def updates_per_step(self, role: str) -> int:
        return self.steps if role == self.opponent else 1

    def update_average(self):
        if self.average is not None:
            self.average.update(self.generator_optimizer.iterations)

    # -- sampling ------------------------------------------------------------------------
    def sample(self, n: int, labels=None, seed: int = 0):
        """n images G(z) with z ~ N(0, I) (and the given labels when conditional)."""
        return decode_prior_draws(self.sampling_network, self.latent_dim, n, labels=labels, num_classes=self.label_classes(), seed=seed)

    # -- what the trainer, exporter and inspector ask -------------------------------------
    def networks(self) -> dict:
        nets = {"generator": self.generator, self.opponent: getattr(self, self.opponent)}
        if self.generator_ema is not None:
            nets["generator_ema"] = self.generator_ema
        return nets

    def preview(self, x_fixed, y_fixed=None):
        return prior_preview(self.sampling_network, self.latent_dim, self.seed, self.label_classes())

    def export_plan(self, x_train, y_train=None):
        label = "y" if self.conditional else None
        facts = {
            "latent_dim": self.latent_dim,
            "prior": {"kind": "standard_normal"},
            "sampling": {"network": "generator", "latent_input": "z", "label_input": label, "output": "x"},
            "encoding": None,
            "networks": {"generator": {"outputs": ["x"]}, self.opponent: {"outputs": ["score" if self.opponent == "critic" else "logit"]}},
        }
        return {"generator": self.sampling_network, self.opponent: getattr(self, self.opponent)}, facts

    def training_callbacks(self, x_fixed, y_fixed=None) -> list:
        from genkit.train.gan_monitor import GAN_REMEDIES, AdversarialMonitor

        remedies = self.collapse_remedies or GAN_REMEDIES
        return [AdversarialMonitor(x_fixed, watch_d_fake=self.opponent == "discriminator", remedies=remedies)]

    def additions(self) -> dict:
        label = f" + label ({self.condition.encoding}) joined to z" if self.conditional else ""
        average = f"; weight average (EMA {self.average.decay}) used to sample and export" if self.average else ""
        reference = next((layer for layer in self.generator.layers if isinstance(layer, PrependReferenceBatch)), None)
        virtual = f"; reference batch of {reference.reference_size} fixed latents fed in training (VBN)" if reference else ""
        return {"generator": f"input z ({self.latent_dim}){label}{virtual}{average}"}
