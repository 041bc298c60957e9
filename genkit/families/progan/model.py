"""Progressive growing of GANs (ProGAN).

Reference: Karras, Aila, Laine & Lehtinen, "Progressive Growing of GANs for Improved Quality,
Stability, and Variation", ICLR 2018.

Both players start at a small resolution (4x4) and grow, one doubling per stage, to the data's:

    G_s(z) = toRGB_s(g_s(… g_1(g_0(z))))          D_s(x) = d_0(d_1(… d_s(fromRGB_s(x))))

with g_0 = `model.networks.generator`, d_0 = `model.networks.discriminator` and g_s, d_s, toRGB_s,
fromRGB_s the `growth` templates filled with stage s's filters. Stage s first fades in over
growth.fade_images real images, α rising linearly from 0 to 1 (section 3, figure 2):

    G(z)   = α·toRGB_s(g_s(h)) + (1 − α)·up(toRGB_{s−1}(h)),           h = g_{s−1}(… g_0(z))
    D(x)   = d_0(… d_{s−1}(α·d_s(fromRGB_s(x)) + (1 − α)·fromRGB_{s−1}(pool(x))))
    x_real = α·x_s + (1 − α)·up(pool(x_s)),   x_s = the data pooled to stage s's size  (appendix A.1)

(up: nearest-neighbour doubling; pool: 2x2 average pooling), then trains on its own for
growth.stable_images. Each train step makes one update of each player on WGAN-GP with the
drift term (appendix A.1):

    L_D = E[D(G(z))] − E[D(x)] + λ·E[(‖∇D(x̂)‖₂ − 1)²] + ε_drift·E[D(x)²]
    L_G = −E[D(G(z))]

Equalized learning rate, pixelwise normalisation and the minibatch standard deviation are
layers of the spec (EqualizedConv2D, EqualizedDense, PixelNormalization, MinibatchStdDev); the
grown networks and their parts are built and run in growing.py.

State: `images_seen` (real images shown to D) decides the phase and α; `optimizer_phase` is the
phase the optimizers' state belongs to. Both are saved with the weights, so a resumed run
continues mid fade-in exactly. Phase 0 is the first resolution alone, phase 2s − 1 fades stage
s in, phase 2s trains it alone. A phase is a Python-level choice of graph: `fit` adds the
`Grow` callback, which before each step retraces the train step when the counter has crossed a
phase boundary, and restarts both optimizers (Adam's moments and step count), as Karras et
al.'s code does whenever the trained layers change (`reset_opt_for_new_lod`).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from genkit.errors import Problem, SpecError
from genkit.families.progan.card import CARD
from genkit.families.progan.growing import (
    build_discriminator,
    build_generator,
    discriminate,
    generate,
    real_images_at,
    side_name,
    trained_parts,
)
from genkit.families.progan.growth import stage_sizes
from genkit.losses import drift_penalty, gradient_penalty, wasserstein_critic_loss, wasserstein_generator_loss
from genkit.manifest import ExportPlan, SamplingFacts
from genkit.modeling.adversarial import draw_latents
from genkit.modeling.base import GenerativeModel
from genkit.modeling.ema import WeightAverage
from genkit.modeling.networks import build_all
from genkit.modeling.prior import decode_prior_draws
from genkit.modeling.steps import compile_per_role, gradient_norm, judge_as_one_batch, scaled_loss, track, unpack
from genkit.replica_seed import ReplicaSeedGenerator

__all__ = ["Grow", "ProGAN"]


class Grow(keras.callbacks.Callback):
    """Before every step, moves the model to the phase its image counter is in (`ProGAN.follow_schedule`)."""

    def on_train_batch_begin(self, batch, logs=None):
        self.model.follow_schedule()


class ProGAN(GenerativeModel):
    """Progressive growing of GANs; see the module docstring."""

    def __init__(self, spec, data_shape, num_classes=None, steps_per_epoch=1):
        super().__init__(spec, CARD, data_shape, num_classes)
        self.latent_dim = spec.model.latent_dim
        self.growth = spec.growth
        self.sides = (
            stage_sizes(self.data_shape[0], self.growth.stages) if self.data_shape[0] == self.data_shape[1] else None
        )
        if self.sides is None:
            raise SpecError(
                [
                    Problem(
                        ("growth", "filters"),
                        f"has {self.growth.stages} entries, but {self.data_shape[0]}x{self.data_shape[1]} images do not halve {self.growth.stages - 1} times to a square of 2 or more.",
                        "Change the number of entries, or data.image_size.",
                    )
                ]
            )
        channels = self.data_shape[-1]
        built = build_all(
            {
                "generator": lambda: build_generator(spec, self.sides, channels, self.trunks),
                "discriminator": lambda: build_discriminator(spec, self.sides, channels, self.trunks),
            }
        )
        self.generator = built["generator"]
        self.discriminator = built["discriminator"]
        self.ema = WeightAverage(self.generator, spec.train.ema) if spec.train.ema else None
        # An attribute, so save_weights keeps the average with the networks and a resume continues it.
        self.ema_network = self.ema.network if self.ema is not None else None
        self.noise = ReplicaSeedGenerator(spec.seed)
        self.gp_weight = float(spec.loss.gp_weight)
        self.drift_weight = float(spec.loss.drift_weight)
        self.batch_size = spec.data.batch_size
        self.requested_exports = tuple(spec.export.onnx.networks or ())
        # Saved with the weights (the schedule's state); only the first replica's count is kept.
        counter = {
            "shape": (),
            "dtype": "int64",
            "initializer": "zeros",
            "trainable": False,
            "aggregation": "only_first_replica",
        }
        self.images_seen = self.add_weight(name="images_seen", **counter)
        self.optimizer_phase = self.add_weight(name="optimizer_phase", **counter)
        self.phase = 0  # the phase the train and test functions are traced for

    def compile(self, optimizers: dict, jit_compile=False):
        """`optimizers`: role -> Keras optimizer; each trains every part of its player."""
        super().compile(optimizer=None, jit_compile=jit_compile)
        compile_per_role(self, {"generator": self.generator, "discriminator": self.discriminator}, optimizers)
        # The optimizers' state a growth phase restarts from: arrays, not variables, so not saved.
        self.fresh_state = {
            role: [np.array(v) for v in getattr(self, f"{role}_optimizer").variables] for role in CARD.roles
        }

    def fit(self, *args, callbacks=None, **kwargs):
        """keras.Model.fit with the `Grow` callback first, whoever calls it."""
        return super().fit(*args, callbacks=[Grow(), *(callbacks or [])], **kwargs)

    # -- the schedule ----------------------------------------------------------------------
    @property
    def stage(self) -> int:
        return (self.phase + 1) // 2

    @property
    def fading(self) -> bool:
        return self.phase % 2 == 1

    def follow_schedule(self) -> None:
        """Enter the phase `images_seen` is in: restart the optimizers if their state is from another
        phase, and retrace the step functions if they were traced for another."""
        phase = self.growth.phase_at(int(self.images_seen.numpy()))
        if phase != int(self.optimizer_phase.numpy()):
            for role, state in self.fresh_state.items():
                for variable, fresh in zip(getattr(self, f"{role}_optimizer").variables, state, strict=True):
                    variable.assign(fresh)
            self.optimizer_phase.assign(phase)
        if phase != self.phase:
            self._enter(phase)
            self.make_train_function(force=True)

    def _enter(self, phase: int) -> None:
        self.phase = phase
        self.train_function = self.test_function = self.predict_function = None

    def load_own_variables(self, store):
        super().load_own_variables(store)
        self._enter(self.growth.phase_at(int(self.images_seen.numpy())))

    def alpha(self):
        """α of the fade-in from the image counter: 0 at the phase's start, 1 at its end (a tensor)."""
        into = tf.cast(self.images_seen - self.growth.phase_start(self.phase), "float32")
        return tf.clip_by_value(into / float(self.growth.fade_length(self.phase)), 0.0, 1.0)

    @property
    def sampling_network(self):
        """The generator samples, previews and exports come from: the weight average when kept."""
        return self.ema_network if self.ema_network is not None else self.generator

    # -- the game ----------------------------------------------------------------------------
    def train_step(self, data):
        x, _ = unpack(data)
        n = tf.shape(x)[0]
        # 1. α from the image counter (fade-in phases only; 1 in a stable phase).
        alpha = self.alpha() if self.fading else None
        # 2. The real images at this stage's size, blended during a fade-in as G's output is (appendix A.1).
        real = real_images_at(x, self.data_shape[0] // self.sides[self.stage], alpha)
        # 3. One discriminator update on L_D, then 4. one generator update on L_G.
        d_logs = self._discriminator_step(real, alpha)
        g_logs = self._generator_step(n, alpha)
        # 5. Count the real images shown (the schedule's clock), then 6. the generator's weight average.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.images_seen.assign_add(tf.cast(n * replicas, "int64"))
        if self.ema is not None:
            self.ema.update(self.images_seen // self.batch_size)  # updates so far; the optimizers' counts restart
        current = {"alpha": 1.0 if alpha is None else alpha, "resolution": float(self.sides[self.stage])}
        return track(self.trackers, {**d_logs, **g_logs}, current=current)

    def _critic(self, alpha, training):
        return lambda images: discriminate(self.discriminator, images, self.sides, self.stage, alpha, training)

    def _update(self, player: str, tape, scaled):
        """One step of `player`'s optimizer on the parts this phase trains (the others get no gradient)."""
        network, optimizer = getattr(self, player), getattr(self, f"{player}_optimizer")
        variables = [
            v
            for name in trained_parts(player, self.sides, self.phase)
            for v in network.get_layer(name).trainable_variables
        ]
        grads = tape.gradient(scaled, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return gradient_norm(grads, optimizer)

    def _discriminator_step(self, real, alpha):
        z = draw_latents(self.noise, tf.shape(real)[0], self.latent_dim)
        fake = generate(self.generator, z, self.sides, self.stage, alpha, training=True)  # no gradient to G here
        critic = self._critic(alpha, training=True)
        with tf.GradientTape() as tape:
            ((real_scores, fake_scores),) = judge_as_one_batch(critic, real, fake)
            wasserstein = -wasserstein_critic_loss(real_scores, fake_scores)
            epsilon = keras.random.uniform((tf.shape(real)[0],), seed=self.noise)
            penalty = gradient_penalty(critic, real, fake, epsilon)
            drift = drift_penalty(real_scores)
            loss = -wasserstein + self.gp_weight * penalty + self.drift_weight * drift
            scaled = scaled_loss(loss, self.discriminator_optimizer)
        norm = self._update("discriminator", tape, scaled)
        return {
            "d_loss": loss,
            "wasserstein": wasserstein,
            "gradient_penalty": penalty,
            "drift": drift,
            "d_grad_norm": norm,
        }

    def _generator_step(self, n, alpha):
        z = draw_latents(self.noise, n, self.latent_dim)
        with tf.GradientTape() as tape:
            fake = generate(self.generator, z, self.sides, self.stage, alpha, training=True)
            g_loss = wasserstein_generator_loss(self._critic(alpha, training=True)(fake))
            scaled = scaled_loss(g_loss, self.generator_optimizer)
        return {"g_loss": g_loss, "g_grad_norm": self._update("generator", tape, scaled)}

    def test_step(self, data):
        x, _ = unpack(data)
        n = tf.shape(x)[0]
        alpha = self.alpha() if self.fading else None
        real = real_images_at(x, self.data_shape[0] // self.sides[self.stage], alpha)
        fake = generate(
            self.sampling_network, draw_latents(self.noise, n, self.latent_dim), self.sides, self.stage, alpha
        )
        ((real_scores, fake_scores),) = judge_as_one_batch(self._critic(alpha, training=False), real, fake)
        estimate = -wasserstein_critic_loss(real_scores, fake_scores)
        logs = {"loss": estimate, "wasserstein": estimate, "g_loss": wasserstein_generator_loss(fake_scores)}
        return track(self.trackers, logs, batch=n)

    def call(self, inputs, training=False):
        """D's score of a batch of data-sized images."""
        x, _ = unpack(inputs)
        return discriminate(self.discriminator, x, self.sides, len(self.sides) - 1, training=training)

    # -- sampling and what the trainer, exporter and inspector ask -----------------------------
    def stage_generator(self, stage: int, name: str):
        """The sampling generator at `stage` with α = 1: z -> images of side sides[stage]."""
        network = self.sampling_network
        return keras.Model(network.input, network.outputs[stage], name=name)

    def sample(self, n: int, labels=None, seed: int = 0):
        """n images at the data's size, G(z) with z ~ N(0, I), clipped to the data range as the runtime's are."""
        images = decode_prior_draws(
            self.stage_generator(len(self.sides) - 1, "generator"), self.latent_dim, n, seed=seed
        )
        return np.clip(images, *self.value_range)

    def preview(self, x_fixed, y_fixed=None):
        """32 draws at the current stage (and α), enlarged to the data's size by repeating pixels."""
        images_seen = int(self.images_seen.numpy())
        stage = (self.growth.phase_at(images_seen) + 1) // 2
        side, alpha = self.sides[stage], self.growth.alpha_at(images_seen)
        z = np.random.default_rng(self.seed).standard_normal((32, self.latent_dim)).astype("float32")
        images = np.asarray(generate(self.sampling_network, z, self.sides, stage, alpha))
        factor = self.data_shape[0] // side
        images = np.clip(images.repeat(factor, axis=1).repeat(factor, axis=2), *self.value_range)
        label = side_name(side) + ("" if alpha is None else f", α {alpha:.2f}")
        return images, 8, [label] * 4

    def networks(self) -> dict:
        nets = {"generator": self.generator, "discriminator": self.discriminator}
        if self.ema_network is not None:
            nets["generator_ema"] = self.ema_network
        return nets

    def describe(self) -> dict:
        sizes = " -> ".join(side_name(s) for s in self.sides)
        average = f"; weight average (EMA {self.ema.decay}) samples and exports" if self.ema is not None else ""
        return {
            "generator": f"input z ({self.latent_dim}); the first stage, grown by growth.generator_block and to_rgb through {sizes}{average}",
            "discriminator": f"its output is the score of the last stage; grown by from_rgb and growth.discriminator_block; gradient penalty (weight {self.gp_weight:g}) and drift (weight {self.drift_weight:g})",
        }

    def export_plan(self, x_train, y_train=None) -> ExportPlan:
        """The final-size generator (and critic); the stages' generators at α = 1 when export.onnx.networks names them."""
        last = len(self.sides) - 1
        networks = {
            "generator": self.stage_generator(last, "generator"),
            "discriminator": keras.Model(
                self.discriminator.inputs[last], self.discriminator.outputs[last], name="discriminator"
            ),
        }
        for stage, side in enumerate(self.sides[:-1]):
            name = f"generator_{side_name(side)}"
            if name in self.requested_exports:
                networks[name] = self.stage_generator(stage, name)
        outputs = {name: ["x"] for name in networks} | {"discriminator": ["score"]}
        return ExportPlan(
            networks=networks,
            outputs=outputs,
            latent_dim=self.latent_dim,
            prior={"kind": "standard_normal"},
            sampling=SamplingFacts(network="generator", latent_input="z", label_input=None, output="x"),
        )
