"""Generative adversarial network: a generator G and a discriminator D playing a minimax game.

One model serves two cards: `gan`, and `cgan` (the class label given to both players), told
apart by `model.condition` only.

References: Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014 (Algorithm 1);
DCGAN networks: Radford, Metz & Chintala, ICLR 2016; feature matching and one-sided label
smoothing: Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016; conditional
GAN: Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014; projection
discriminator: Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018, eq. (3).

D outputs one logit l(x), D(x) = σ(l(x)). Each train step makes k discriminator updates,
each on a fresh sub-batch of real images (`genkit.modeling.steps.split_batch`), then one
generator update:

    L_D = ½·BCE(D(x), 1 − s) + ½·BCE(D(G(z)), 0)              (eq. 1, halved; s: smoothing)
    L_G = −log D(G(z))   non_saturating  | log(1 − D(G(z)))  minimax
        | −exp(l(G(z)))  max_likelihood                          (`genkit.losses.generator_loss`)
        (+ w·‖mean f(x) − mean f(G(z))‖² with feature matching on D's layer f; or that term alone)

With `model.condition` the generator reads [z, e_G(y)] (the label one-hot or a learned
embedding joined to z) and D is told the label as `loss.discriminator_conditioning` says:

    input       D(x, y) = trunk([x, e_D(y)])  with e_D(y) tiled over the image as channels
    projection  l(x, y) = ψ(φ(x)) + ⟨V_y, φ(x)⟩  with φ(x) the input of the trunk's final
                Dense(1) layer ψ and V a learned class embedding of φ's size

Fakes are drawn with the real sub-batch's labels, so both sides of D see the same class mix.

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

from genkit.augment import diff_augment
from genkit.errors import Problem, SpecError, did_you_mean
from genkit.losses import discriminator_loss, feature_matching_loss, generator_loss, js_divergence_lower_bound
from genkit.manifest import ExportPlan, SamplingFacts
from genkit.modeling.adversarial import build_generator, describe_generator, draw_latents
from genkit.modeling.base import GenerativeModel
from genkit.modeling.ema import WeightAverage
from genkit.modeling.networks import build_all, build_trunk, check_one_score, condition_classes, label_vector
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
from genkit.nets import ConcatCondition, LabelEmbedding
from genkit.replica_seed import ReplicaSeedGenerator
from genkit.spec.card import card

__all__ = ["GAN", "build_discriminator", "build_projection_discriminator", "trunk_with_features"]


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


def build_discriminator(spec, data_shape, trunks: dict, condition=None):
    """(D, its feature-matching twin or None): D on x, or on [x, y] with the label tiled as channels.

    The twin shares D's layers and returns (logit, f(x)) for `loss.feature_matching`.
    """
    x = keras.Input(data_shape, name="x")
    inputs, h = x, x
    if condition is not None:
        y = keras.Input((), dtype="int32", name="y")
        inputs, h = [x, y], ConcatCondition(name="x_with_label")([x, label_vector(condition, y, "discriminator_label")])
    trunk = build_trunk(spec, "discriminator", h.shape[1:], "x", data_shape)
    trunks["discriminator"] = trunk
    check_one_score(trunk.output, "discriminator")
    fm = spec.loss.feature_matching
    if fm is None:
        return keras.Model(inputs, trunk(h), name="discriminator"), None
    logit, features = trunk_with_features(trunk, fm.layer)(h)
    twin = keras.Model(inputs, [logit, features], name="discriminator_features")
    return keras.Model(inputs, logit, name="discriminator"), twin


def build_projection_discriminator(spec, data_shape, trunks: dict, condition):
    """(D, its feature-matching twin or None) with l(x, y) = ψ(φ(x)) + ⟨V_y, φ(x)⟩ (Miyato & Koyama 2018)."""
    x = keras.Input(data_shape, name="x")
    y = keras.Input((), dtype="int32", name="y")
    trunk = build_trunk(spec, "discriminator", data_shape, "x", data_shape)
    trunks["discriminator"] = trunk
    check_one_score(trunk.output, "discriminator")
    head = trunk.layers[-1]
    if not isinstance(head, keras.layers.Dense) or len(head.input.shape) != 2:
        raise SpecError(
            [
                Problem(
                    ("model", "networks", "discriminator"),
                    f"ends in {type(head).__name__} on shape {list(head.input.shape[1:])}; the projection "
                    "discriminator needs a final 'Dense: {units: 1}' on a feature vector phi(x).",
                    "End the discriminator with Flatten (or a Dense layer) and then 'Dense: {units: 1}'.",
                )
            ]
        )
    # One view of the trunk giving ψ(φ(x)) and φ(x) (and f(x) for feature matching).
    outputs = [trunk.output, head.input]
    fm = spec.loss.feature_matching
    if fm is not None:
        outputs.append(trunk_with_features(trunk, fm.layer).outputs[1])
    psi, phi, *features = keras.Model(trunk.input, outputs, name="discriminator_with_phi")(x)
    embedded = LabelEmbedding(
        condition.num_classes, encoding="embedding", embedding_dim=phi.shape[-1], name="class_projection"
    )(y)  # V_y, (B, dim φ)
    logit = keras.layers.Add(name="logit")([psi, keras.layers.Dot(axes=1, name="projection")([embedded, phi])])
    twin = keras.Model([x, y], [logit, features[0]], name="discriminator_features") if fm else None
    return keras.Model([x, y], logit, name="discriminator"), twin


def _scores(real_logits, fake_logits) -> dict:
    """The JSD bound (`loss`), D(x) and D(G(z)) averaged over the batch."""
    return {
        "loss": js_divergence_lower_bound(real_logits, fake_logits),
        "d_real": ops.mean(ops.sigmoid(ops.cast(real_logits, "float32"))),
        "d_fake": ops.mean(ops.sigmoid(ops.cast(fake_logits, "float32"))),
    }


class GAN(GenerativeModel):
    """The GAN (and, with `model.condition`, the conditional GAN); see the module docstring."""

    def __init__(self, spec, data_shape, num_classes=None, steps_per_epoch=1):
        # The card the spec names (gan or cgan): its logs name the trackers, its name the model.
        super().__init__(spec, card(spec.model.family), data_shape, num_classes)
        self.latent_dim = spec.model.latent_dim
        self.condition = spec.model.condition  # None: unconditional
        if self.conditional:
            self.num_classes = condition_classes(self.condition, num_classes)
        self.conditioning = spec.loss.discriminator_conditioning if self.conditional else None
        build_d = build_projection_discriminator if self.conditioning == "projection" else build_discriminator
        built = build_all(
            {
                "generator": lambda: build_generator(spec, self.data_shape, self.trunks, self.condition),
                "discriminator": lambda: build_d(spec, self.data_shape, self.trunks, self.condition),
            }
        )
        # Keras tracks networks in assignment order, which orders the saved random states: keep it.
        self.generator = built["generator"]
        self.discriminator_features = built["discriminator"][1]  # (logit, f(x)) for feature matching, or None
        self.discriminator = built["discriminator"][0]
        self.discriminator_steps = spec.loss.discriminator_steps
        self.ema = WeightAverage(self.generator, spec.train.ema) if spec.train.ema else None
        # An attribute, so save_weights keeps the average with the networks and a resume continues it.
        self.ema_network = self.ema.network if self.ema is not None else None
        self.noise = ReplicaSeedGenerator(spec.seed)
        self.feature_matching = spec.loss.feature_matching
        self.generator_loss_kind = spec.loss.generator_loss
        self.label_smoothing = float(spec.loss.label_smoothing)
        self.augment_policies = tuple(spec.loss.diff_augment)
        self.augment_fill = float(spec.data.range[0])  # the background of the data's range
        self.r1_gamma = float(spec.loss.r1_gamma)

    def compile(self, optimizers: dict, jit_compile=False):
        """`optimizers`: role -> Keras optimizer (train.optimizers); Keras's own stays None."""
        super().compile(optimizer=None, jit_compile=jit_compile)
        compile_per_role(self, {"generator": self.generator, "discriminator": self.discriminator}, optimizers)

    @property
    def sampling_network(self):
        """The generator samples, previews and exports come from: the weight average when kept."""
        return self.ema_network if self.ema_network is not None else self.generator

    @property
    def _label_classes(self):
        """K when the networks take labels, else None."""
        return self.num_classes if self.conditional else None

    def _with_label(self, inputs, y):
        """A network's inputs: `inputs`, or `[inputs, y]` when conditional."""
        return [inputs, y] if self.conditional else inputs

    def _judge(self, network, real, fake, y, training):
        """`network` (D or its twin) on real and generated images as one batch (`judge_as_one_batch`)."""
        labels = tf.concat([y, y], axis=0) if self.conditional else None  # (2B,)
        return judge_as_one_batch(lambda images: network(self._with_label(images, labels), training=training), real, fake)

    def _augment(self, images):
        """`images` through loss.diff_augment's transforms (training only; D's held-out scores see them plain)."""
        return diff_augment(images, self.augment_policies, self.noise, fill=self.augment_fill)

    # -- the game ------------------------------------------------------------------------
    def train_step(self, data):
        x, y = unpack(data)
        # 1. k discriminator updates, each on its own sub-batch of real images (Algorithm 1, inner loop).
        for x_real, y_real in split_batch(x, y, self.discriminator_steps):
            d_logs = self._discriminator_step(x_real, y_real)
        # 2. One generator update on as many latents (labels and real features: the last sub-batch's).
        g_logs = self._generator_step(x_real, y_real)
        # 3. The generator's weight average, if kept.
        if self.ema is not None:
            self.ema.update(self.generator_optimizer.iterations)
        return track(self.trackers, {**d_logs, **g_logs})

    def _discriminator_step(self, x, y):
        """One descent step on L_D (eq. 1) for a sub-batch x of real images."""
        z = draw_latents(self.noise, tf.shape(x)[0], self.latent_dim)
        fake = self.generator(self._with_label(z, y), training=True)  # no gradient to G here
        x, fake = self._augment(tf.cast(x, fake.dtype)), self._augment(fake)  # cast: R1 differentiates by x
        logs = {}
        with tf.GradientTape() as tape:
            with tf.GradientTape(watch_accessed_variables=False) as input_tape:
                input_tape.watch(x)
                ((real_logits, fake_logits),) = self._judge(self.discriminator, x, fake, y, training=True)
                real_sum = tf.reduce_sum(tf.cast(real_logits, "float32"))  # ∂Σ/∂x_i = ∂l(x_i)/∂x_i
            d_loss = discriminator_loss(real_logits, fake_logits, self.label_smoothing)
            if self.r1_gamma > 0:
                # R1 (Mescheder et al. 2018): γ/2 · E‖∇ₓ l(x)‖² on the real images.
                slope = input_tape.gradient(real_sum, x)
                logs["r1"] = 0.5 * self.r1_gamma * tf.reduce_mean(tf.reduce_sum(tf.square(slope), axis=[1, 2, 3]))
                d_loss = d_loss + logs["r1"]
            scaled = scaled_loss(d_loss, self.discriminator_optimizer)
        norm = apply_update(self.discriminator_optimizer, tape, scaled, self.discriminator)
        return {**_scores(real_logits, fake_logits), "d_loss": d_loss, "d_grad_norm": norm, **logs}

    def _generator_step(self, x_real, y):
        """One descent step on L_G, with the fakes judged beside `x_real` (batch statistics, feature matching)."""
        z = draw_latents(self.noise, tf.shape(x_real)[0], self.latent_dim)
        fm = self.feature_matching
        logs = {}
        x_real = self._augment(x_real)
        with tf.GradientTape() as tape:
            fake = self._augment(self.generator(self._with_label(z, y), training=True))  # G learns through the transforms
            if fm is None:
                ((_, fake_logits),) = self._judge(self.discriminator, x_real, fake, y, training=True)
                g_loss = generator_loss(self.generator_loss_kind, fake_logits)
            else:
                (_, fake_logits), (real_features, fake_features) = self._judge(
                    self.discriminator_features, x_real, fake, y, training=True
                )
                matching = fm.weight * feature_matching_loss(tf.stop_gradient(real_features), fake_features)
                logs["feature_matching"] = matching
                g_loss = matching if fm.combine == "replace" else generator_loss(self.generator_loss_kind, fake_logits) + matching
            scaled = scaled_loss(g_loss, self.generator_optimizer)
        logs["g_grad_norm"] = apply_update(self.generator_optimizer, tape, scaled, self.generator)
        return {"g_loss": g_loss, **logs}

    def test_step(self, data):
        x, y = unpack(data)
        z = draw_latents(self.noise, tf.shape(x)[0], self.latent_dim)
        fake = self.sampling_network(self._with_label(z, y), training=False)
        ((real_logits, fake_logits),) = self._judge(self.discriminator, x, fake, y, training=False)
        values = {
            **_scores(real_logits, fake_logits),
            "d_loss": discriminator_loss(real_logits, fake_logits),
            "g_loss": generator_loss(self.generator_loss_kind, fake_logits),
        }
        return track(self.trackers, values, batch=tf.shape(x)[0])

    def call(self, inputs, training=False):
        """D's logit of a batch of images (`x` or `(x, y)`)."""
        x, y = unpack(inputs)
        return self.discriminator(self._with_label(x, y), training=training)

    # -- sampling and what the trainer, exporter and inspector ask -------------------------
    def sample(self, n: int, labels=None, seed: int = 0):
        """n images G(z) with z ~ N(0, I) (and the given labels, or 0 … K−1 in turn, when conditional)."""
        return decode_prior_draws(self.sampling_network, self.latent_dim, n, labels=labels, num_classes=self._label_classes, seed=seed)

    def networks(self) -> dict:
        nets = {"generator": self.generator, "discriminator": self.discriminator}
        if self.ema_network is not None:
            nets["generator_ema"] = self.ema_network
        return nets

    def describe(self) -> dict:
        fm = self.feature_matching
        matched = f"; features of layer {fm.layer!r} matched by the generator ({fm.combine})" if fm else ""
        discriminator = f"its output is read as the logit{matched}"
        if self.conditioning == "input":
            discriminator = f"label ({self.condition.encoding}) tiled over the image as input channels; {discriminator}"
        elif self.conditioning == "projection":
            discriminator = f"projection logit += <V_y, phi(x)> (phi: input of the final Dense; V learned); {discriminator}"
        return {
            "generator": describe_generator(self.generator, self.latent_dim, self.condition, self.ema),
            "discriminator": discriminator,
        }

    def preview(self, x_fixed, y_fixed=None):
        return prior_preview(self.sampling_network, self.latent_dim, self.seed, self._label_classes)

    def export_plan(self, x_train, y_train=None) -> ExportPlan:
        label = "y" if self.conditional else None
        return ExportPlan(
            networks={"generator": self.sampling_network, "discriminator": self.discriminator},
            outputs={"generator": ["x"], "discriminator": ["logit"]},
            latent_dim=self.latent_dim,
            prior={"kind": "standard_normal"},
            sampling=SamplingFacts(network="generator", latent_input="z", label_input=label, output="x"),
        )

