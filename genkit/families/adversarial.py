"""What the adversarial families (gan, cgan, wgan) share word for word: everything but the game.

The generator G(z[, y]) with the label joined to z, one optimizer per player (two time-scale
updates, Heusel et al. 2017), the optional exponential moving average of G's weights
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
import numpy as np
import tensorflow as tf

from genkit.errors import Problem, SpecError
from genkit.families.base import GenerativeModel, build_trunk, check_output_shape, condition_classes
from genkit.nets import LabelEmbedding
from genkit.train.ema import WeightAverage

__all__ = ["Adversarial", "check_one_score", "gradient_norm", "split_batch"]


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


def gradient_norm(grads, optimizer):
    """Global L2 norm of the gradients, with a mixed-precision loss scale divided out."""
    norm = tf.linalg.global_norm([g for g in grads if g is not None])
    return norm / tf.cast(optimizer.scale_loss(tf.constant(1.0)), norm.dtype)


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


class Adversarial(GenerativeModel):
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
        self.noise = keras.random.SeedGenerator(spec.seed)

    # -- networks ----------------------------------------------------------------------
    def label_vector(self, y, name):
        c = self.condition
        return LabelEmbedding(c.num_classes, encoding=c.encoding, embedding_dim=c.embedding_dim, name=name)(y)

    def _build_generator(self, spec):
        z = keras.Input((self.latent_dim,), name="z")
        inputs, h = [z], z
        if self.conditional:
            y = keras.Input((), dtype="int32", name="y")
            inputs.append(y)
            h = keras.layers.Concatenate(name="z_with_label")([z, self.label_vector(y, "generator_label")])
        trunk = build_trunk(spec, "generator", h.shape[1:], "z")
        self.trunks["generator"] = trunk
        return keras.Model(inputs if self.conditional else z, trunk(h), name="generator")

    @property
    def sampling_network(self):
        """The generator samples, previews and exports come from: the weight average when kept."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    def generator_inputs(self, z, y):
        return [z, y] if self.conditional else z

    def opponent_inputs(self, x, y):
        return [x, y] if self.conditional else x

    def judge(self, network, real, fake, y, training):
        """`network` (D or the critic) on real and generated images as one batch.

        Returns [(real half, fake half)] per output of the network. One batch, so batch
        normalisation normalises both halves with the same statistics in training and, through
        its moving averages of that mixture, at inference; scored apart, a batch-normed
        discriminator tells the halves apart by their batch statistics and its held-out
        scores mean little.
        """
        n = tf.shape(real)[0]
        images = tf.concat([tf.cast(real, fake.dtype), fake], axis=0)  # (2n, H, W, C)
        labels = None if y is None else tf.concat([y, y], axis=0)
        outputs = network(self.opponent_inputs(images, labels), training=training)
        return [(out[:n], out[n:]) for out in tf.nest.flatten(outputs)]

    def draw_latents(self, n):
        """z ~ N(0, I), (n, latent_dim), from the model's seeded generator."""
        return keras.random.normal((n, self.latent_dim), seed=self.noise)

    # -- one optimizer per player --------------------------------------------------------
    def compile(self, optimizers: dict, jit_compile=False):
        """`optimizers`: role -> Keras optimizer, for "generator" and the opponent's role.

        Keras's own `optimizer` stays None: `fit` would otherwise build it over both
        players' weights. Each optimizer is built here on its own network's weights, so a
        checkpoint restores both (iterations and moments) into matching variables.
        """
        super().compile(optimizer=None, jit_compile=jit_compile)
        mixed = keras.mixed_precision.global_policy().name == "mixed_float16"
        for role, network in (("generator", self.generator), (self.opponent, getattr(self, self.opponent))):
            optimizer = optimizers[role]
            if mixed:
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer, name=f"{role}_loss_scale")
            optimizer.build(network.trainable_variables)
            setattr(self, f"{role}_optimizer", optimizer)

    def optimizer_variables(self) -> list:
        return [
            (self.generator_optimizer, self.generator.trainable_variables),
            (getattr(self, f"{self.opponent}_optimizer"), getattr(self, self.opponent).trainable_variables),
        ]

    def updates_per_step(self, role: str) -> int:
        """Optimizer updates of `role` per train step (for learning-rate schedules)."""
        return self.steps if role == self.opponent else 1

    def scaled(self, loss, optimizer):
        """The loss to differentiate: divided over replicas, times the mixed-precision loss scale."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return optimizer.scale_loss(loss / replicas if replicas > 1 else loss)

    def apply(self, optimizer, tape, scaled_loss, network):
        """One update of `network` down the gradient of `scaled_loss` (from `scaled`, inside the
        tape); returns the gradients' norm."""
        variables = network.trainable_variables
        grads = tape.gradient(scaled_loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return gradient_norm(grads, optimizer)

    def update_average(self):
        if self.average is not None:
            self.average.update(self.generator_optimizer.iterations)

    def record(self, values: dict) -> dict:
        """Like `GenerativeModel.record`, for the named values this step has (test steps log fewer)."""
        for tracker in self.trackers:
            if tracker.name in values:
                tracker.update_state(values[tracker.name])
        return {t.name: t.result() for t in self.trackers if t.name in values}

    # -- sampling ------------------------------------------------------------------------
    def sample(self, n: int, labels=None, seed: int = 0):
        """n images G(z) with z ~ N(0, I) (and the given labels when conditional)."""
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32")
        if not self.conditional:
            return self.sampling_network.predict(z, verbose=0, batch_size=256)
        y = np.resize(np.asarray(labels if labels is not None else np.arange(self.num_classes), "int32"), n)
        return self.sampling_network.predict([z, y], verbose=0, batch_size=256)

    # -- what the trainer, exporter and inspector ask -------------------------------------
    def networks(self) -> dict:
        nets = {"generator": self.generator, self.opponent: getattr(self, self.opponent)}
        if self.generator_ema is not None:
            nets["generator_ema"] = self.generator_ema
        return nets

    def preview(self, x_fixed, y_fixed=None):
        """The same latents (seed of the spec) every epoch, so grids compare: 8 columns."""
        cols = 8
        if not self.conditional:
            return self.sample(4 * cols, seed=self.seed), cols, None
        z = np.random.default_rng(self.seed).standard_normal((cols, self.latent_dim)).astype("float32")
        z = np.tile(z, (self.num_classes, 1))  # the same z in every row: only the label changes
        y = np.repeat(np.arange(self.num_classes, dtype="int32"), cols)
        images = self.sampling_network.predict([z, y], verbose=0, batch_size=256)
        return images, cols, [f"label {k}" for k in range(self.num_classes)]

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
        return {"generator": f"input z ({self.latent_dim}){label}{average}"}
