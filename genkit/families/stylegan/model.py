"""StyleGAN: a mapping network turns z into styles w that modulate a synthesis network, a discriminator judges.

References: Karras, Laine & Aila, "A Style-Based Generator Architecture for Generative
Adversarial Networks", CVPR 2019 (mapping network, constant input, noise, style mixing,
truncation); Karras, Laine, Aittala, Hellsten, Lehtinen & Aila, "Analyzing and Improving the
Image Quality of StyleGAN", CVPR 2020 (weight demodulation, skip generator, lazy
regularisation, path-length penalty); Mescheder, Geiger & Nowozin, ICML 2018 (R1).

The generator is two networks:

    w = f(z)                    mapping network: the spec's `mapping` MLP (equalized, lr × 0.01)
    x = g(ws, n)                synthesis network (`synthesis.py`): ws = (w_0 … w_{L'−1}), one style
                                per layer; n the per-layer noise images, drawn outside it

In training ws holds one w for every layer, or, with probability p (style.mixing_probability),
w = f(z) for the layers before a random crossover k and w₂ = f(z₂) from k on (style mixing,
2019 section 3.1). The losses are the non-saturating logistic ones, with R1 on real images:

    L_D = E[softplus(D(g(ws)))] + E[softplus(−D(x))] + (γ/2)·E‖∇_x D(x)‖² · r      every r-th step
    L_G = E[softplus(−D(g(ws)))]  + w_pl·E[(‖J_wᵀ y‖₂ − a)²] · r_pl                 every r_pl-th step

(lazy regularisation, 2020 section 3.1: a penalty computed every r-th step only is weighted by
r). Both players use one optimizer each: the mapping role's trains mapping and synthesis
together, as StyleGAN's G optimizer does. The moving average w_avg ← β·w_avg + (1 − β)·mean f(z)
is kept for the truncation trick w' = w_avg + ψ(w − w_avg), which the runtime applies
(`genkit sample --truncation`); the exported manifest holds w_avg.

Logged per step: d_loss, g_loss, d_real = mean σ(D(x)), d_fake = mean σ(D(g(ws))), r1_penalty
and path_length_penalty (means over the steps that computed them), both gradient norms.
`test_step` reports `loss` = log 2 − L_D/2, the JSD bound of genkit's GAN family.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from genkit.errors import Problem, SpecError
from genkit.families.stylegan.card import CARD
from genkit.families.stylegan.synthesis import build_synthesis, synthesis_layout
from genkit.losses import (
    discriminator_loss,
    generator_loss,
    js_divergence_lower_bound,
    path_length_penalty,
    r1_penalty,
)
from genkit.manifest import ExportPlan, SamplingFacts, StyleFacts, StyleNoiseFacts
from genkit.modeling.adversarial import draw_latents
from genkit.modeling.base import GenerativeModel
from genkit.modeling.ema import WeightAverage
from genkit.modeling.networks import build_all, build_from_latent, build_trunk, check_one_score
from genkit.modeling.steps import compile_per_role, gradient_norm, judge_as_one_batch, scaled_loss, track, unpack
from genkit.nets.inference import predict_batches
from genkit.replica_seed import ReplicaSeedGenerator

__all__ = ["StyleGAN", "mix_styles"]


def mix_styles(w, w_mixed, crossover, num_ws: int):
    """ws (B, num_ws, w_dim): `w` for the layers before `crossover`, `w_mixed` from it on (num_ws: no mixing)."""
    before = ops.arange(num_ws)[None, :, None] < crossover  # (1, num_ws, 1)
    return ops.where(before, w[:, None, :], w_mixed[:, None, :])


class _Generator:
    """The variables the generator's optimizer trains: mapping and synthesis, as StyleGAN's one G."""

    def __init__(self, mapping, synthesis):
        self.trainable_variables = mapping.trainable_variables + synthesis.trainable_variables


class StyleGAN(GenerativeModel):
    """The style-based GAN; see the module docstring."""

    def __init__(self, spec, data_shape, num_classes=None, steps_per_epoch=1):
        super().__init__(spec, CARD, data_shape, num_classes)
        self.latent_dim = spec.model.latent_dim
        self.layout = synthesis_layout(spec.style, self.data_shape)  # SpecError on a size that does not fit
        built = build_all({"mapping": lambda: self._build_mapping(spec), "discriminator": lambda: self._build_discriminator(spec)})
        # Keras tracks networks in assignment order, which orders the saved random states: keep it.
        self.mapping = built["mapping"]
        self.w_dim = self.mapping.output.shape[-1]
        self.synthesis = build_synthesis(spec.style, self.w_dim, self.data_shape)
        self.discriminator = built["discriminator"]
        # Training state saved with the weights, so a resumed run continues them exactly; under a
        # tf.distribute strategy each replica's update (from its own batch) is averaged.
        state = {"initializer": "zeros", "trainable": False, "aggregation": "mean"}
        self.w_avg = self.add_weight(shape=(self.w_dim,), name="w_avg", **state)
        self.path_length_mean = self.add_weight(shape=(), name="path_length_mean", **state)
        self.ema = None
        if spec.train.ema:
            self.ema = [WeightAverage(self.mapping, spec.train.ema), WeightAverage(self.synthesis, spec.train.ema)]
        # Attributes, so save_weights keeps the averages with the networks and a resume continues them.
        self.mapping_ema = self.ema[0].network if self.ema else None
        self.synthesis_ema = self.ema[1].network if self.ema else None
        self.noise = ReplicaSeedGenerator(spec.seed)
        self.mixing_probability = float(spec.style.mixing_probability)
        self.w_avg_decay = float(spec.style.w_avg_decay)
        self.loss_options = spec.loss

    def _build_mapping(self, spec):
        mapping = build_from_latent(spec, "mapping", self.latent_dim, self.trunks)
        if len(mapping.output.shape) != 2:
            raise SpecError(
                [Problem(("model", "networks", "mapping"), f"outputs shape {list(mapping.output.shape[1:])}; w must be a vector.", "End it with a Dense or EqualizedDense layer.")]
            )
        return mapping

    def _build_discriminator(self, spec):
        x = keras.Input(self.data_shape, name="x")
        trunk = build_trunk(spec, "discriminator", self.data_shape, "x", self.data_shape)
        self.trunks["discriminator"] = trunk
        check_one_score(trunk.output, "discriminator")
        return keras.Model(x, trunk(x), name="discriminator")

    def compile(self, optimizers: dict, jit_compile=False):
        """`optimizers`: role -> Keras optimizer; the mapping role's trains mapping and synthesis."""
        super().compile(optimizer=None, jit_compile=jit_compile)
        networks = {"mapping": _Generator(self.mapping, self.synthesis), "discriminator": self.discriminator}
        compile_per_role(self, networks, optimizers)

    @property
    def generator_optimizer(self):
        return self.mapping_optimizer

    # -- what the generator is fed -------------------------------------------------------
    def _styles(self, batch, training=True):
        """(ws, w): per-layer styles, two latents' with probability p switching at a random layer, and f(z)."""
        num_ws = self.layout.num_ws
        w = self.mapping(draw_latents(self.noise, batch, self.latent_dim), training=training)
        w_mixed = self.mapping(draw_latents(self.noise, batch, self.latent_dim), training=training)
        mixing = keras.random.uniform((), seed=self.noise) < self.mixing_probability
        crossover = ops.where(mixing, keras.random.randint((), 1, num_ws, seed=self.noise), num_ws)
        return mix_styles(w, w_mixed, crossover, num_ws), w

    def _noise_images(self, batch):
        """One N(0, I) noise image per synthesis convolution, (B, r, r, 1) each."""
        return [keras.random.normal((batch, r, r, 1), seed=self.noise) for r in self.layout.noise_sizes]

    def _track_lazy(self, name, value, due):
        """A penalty computed on some steps only enters its epoch mean on those steps."""
        tracker = next(t for t in self.trackers if t.name == name)
        tracker.update_state(value, sample_weight=ops.cast(due, "float32"))
        return tracker.result()

    # -- the game ------------------------------------------------------------------------
    def train_step(self, data):
        x, _ = unpack(data)
        batch = tf.shape(x)[0]
        # 1. One discriminator update on L_D, with R1 on the lazy steps.
        d_logs, lazy = self._discriminator_step(x)
        # 2. One generator update on L_G (path-length penalty on its lazy steps); w_avg follows f(z).
        g_logs, g_lazy = self._generator_step(batch)
        # 3. The weight averages of mapping and synthesis, if kept.
        if self.ema is not None:
            for average in self.ema:
                average.update(self.generator_optimizer.iterations)
        return track(self.trackers, {**d_logs, **g_logs}, current={**lazy, **g_lazy})

    def _discriminator_step(self, x):
        """One descent step on L_D for real images x (+ (γ/2)·r·R1 when this step is a multiple of r)."""
        options = self.loss_options
        batch = tf.shape(x)[0]
        ws, _ = self._styles(batch)
        fake = self.synthesis([ws, *self._noise_images(batch)], training=True)  # no gradient to G here
        due = tf.logical_and(options.r1_gamma > 0, self.discriminator_optimizer.iterations % options.r1_interval == 0)
        with tf.GradientTape() as tape:
            ((real_logits, fake_logits),) = judge_as_one_batch(lambda images: self.discriminator(images, training=True), x, fake)
            # softplus(D(G(z))) + softplus(−D(x)): twice genkit's halved GAN loss.
            d_loss = 2.0 * discriminator_loss(real_logits, fake_logits)
            loss_scale = self.discriminator_optimizer.scale_loss(1.0)  # 1 unless mixed_float16
            r1 = tf.cond(due, lambda: r1_penalty(lambda images: self.discriminator(images, training=True), x, loss_scale), lambda: 0.0)
            loss = d_loss + 0.5 * options.r1_gamma * options.r1_interval * r1
            scaled = scaled_loss(loss, self.discriminator_optimizer)
        variables = self.discriminator.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.discriminator_optimizer.apply_gradients(zip(grads, variables))
        logs = {
            "loss": js_divergence_lower_bound(real_logits, fake_logits),
            "d_loss": d_loss,
            "d_real": ops.mean(ops.sigmoid(ops.cast(real_logits, "float32"))),
            "d_fake": ops.mean(ops.sigmoid(ops.cast(fake_logits, "float32"))),
            "d_grad_norm": gradient_norm(grads, self.discriminator_optimizer),
        }
        return logs, {"r1_penalty": self._track_lazy("r1_penalty", r1, due)}

    def _generator_step(self, batch):
        """One descent step on L_G (+ w_pl·r_pl·path-length penalty when this step is a multiple of r_pl)."""
        options = self.loss_options
        due = tf.logical_and(options.path_length_weight > 0, self.generator_optimizer.iterations % options.path_length_interval == 0)
        generator = _Generator(self.mapping, self.synthesis)
        with tf.GradientTape() as tape:
            ws, w = self._styles(batch)
            noise = self._noise_images(batch)
            fake = self.synthesis([ws, *noise], training=True)
            g_loss = generator_loss("non_saturating", self.discriminator(fake, training=True))

            def synthesize(styles):
                return self.synthesis([styles, *noise], training=True)

            def penalty():
                directions = keras.random.normal(tf.shape(fake), seed=self.noise)
                return path_length_penalty(synthesize, ws, directions, self.path_length_mean, options.path_length_decay)

            pl, pl_mean = tf.cond(due, penalty, lambda: (0.0, tf.identity(self.path_length_mean)))
            loss = g_loss + options.path_length_weight * options.path_length_interval * pl
            scaled = scaled_loss(loss, self.generator_optimizer)
        variables = generator.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.generator_optimizer.apply_gradients(zip(grads, variables))
        self.path_length_mean.assign(pl_mean)
        # w_avg ← β·w_avg + (1 − β)·mean f(z), from the unmixed styles (StyleGAN2's mapping network does it in its forward pass).
        self.w_avg.assign(self.w_avg_decay * self.w_avg + (1.0 - self.w_avg_decay) * ops.mean(ops.cast(w, "float32"), axis=0))
        logs = {"g_loss": g_loss, "g_grad_norm": gradient_norm(grads, self.generator_optimizer)}
        return logs, {"path_length_penalty": self._track_lazy("path_length_penalty", pl, due)}

    def test_step(self, data):
        x, _ = unpack(data)
        batch = tf.shape(x)[0]
        w = self.sampling_networks[0](draw_latents(self.noise, batch, self.latent_dim), training=False)
        ws = ops.repeat(w[:, None, :], self.layout.num_ws, axis=1)  # (B, num_ws, w_dim): no mixing
        fake = self.sampling_networks[1]([ws, *self._noise_images(batch)], training=False)
        ((real_logits, fake_logits),) = judge_as_one_batch(lambda images: self.discriminator(images, training=False), x, fake)
        values = {
            "loss": js_divergence_lower_bound(real_logits, fake_logits),
            "d_loss": 2.0 * discriminator_loss(real_logits, fake_logits),
            "g_loss": generator_loss("non_saturating", fake_logits),
            "d_real": ops.mean(ops.sigmoid(ops.cast(real_logits, "float32"))),
            "d_fake": ops.mean(ops.sigmoid(ops.cast(fake_logits, "float32"))),
        }
        return track(self.trackers, values, batch=batch)

    def call(self, inputs, training=False):
        """D's logit of a batch of images."""
        x, _ = unpack(inputs)
        return self.discriminator(x, training=training)

    # -- sampling and what the trainer, exporter and inspector ask -------------------------
    @property
    def sampling_networks(self):
        """(mapping, synthesis) that samples, previews and exports come from: the weight averages when kept."""
        return (self.mapping_ema, self.synthesis_ema) if self.ema else (self.mapping, self.synthesis)

    def sample(self, n: int, labels=None, seed: int = 0):
        """n images g(f(z), n), clipped to the data range; z and the noise drawn as `genkit.runtime.style` draws them."""
        mapping, synthesis = self.sampling_networks
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((n, self.latent_dim)).astype("float32")
        noise = [rng.standard_normal((n, r, r, 1)).astype("float32") for r in self.layout.noise_sizes]
        w = predict_batches(mapping, z)
        ws = np.repeat(w[:, None, :], self.layout.num_ws, axis=1)
        return np.clip(predict_batches(synthesis, [ws, *noise]), *self.value_range)

    def networks(self) -> dict:
        nets = {"mapping": self.mapping, "synthesis": self.synthesis, "discriminator": self.discriminator}
        if self.ema:
            nets.update(mapping_ema=self.mapping_ema, synthesis_ema=self.synthesis_ema)
        return nets

    def describe(self) -> dict:
        o = self.loss_options
        average = f"; weight averages (EMA {self.ema[0].decay}) sample and export" if self.ema else ""
        r1 = f"R1 (γ {o.r1_gamma:g}, every {o.r1_interval} steps)" if o.r1_gamma > 0 else "no R1 penalty"
        return {
            "mapping": f"input z ({self.latent_dim}) -> w ({self.w_dim}), tracked mean w_avg for truncation{average}",
            "synthesis": f"built from `style`: constant {self.layout.resolutions[0]}px -> {self.data_shape[0]}px, "
            f"{self.layout.num_ws} styles, {len(self.layout.noise_sizes)} noise inputs, mixing p = {self.mixing_probability:g}",
            "discriminator": f"its output is read as the logit; {r1}",
        }

    def preview(self, x_fixed, y_fixed=None):
        return self.sample(32, seed=self.seed), 8, None

    def export_plan(self, x_train, y_train=None) -> ExportPlan:
        mapping, synthesis = self.sampling_networks
        layout = self.layout
        style = StyleFacts(
            mapping="mapping",
            latent_input="z",
            w_output="w",
            synthesis="synthesis",
            ws_input="ws",
            noise_inputs=[StyleNoiseFacts(name=f"noise_{k}", shape=[r, r, 1]) for k, r in enumerate(layout.noise_sizes)],
            output="x",
            w_dim=self.w_dim,
            num_ws=layout.num_ws,
            w_avg=[float(v) for v in ops.convert_to_numpy(self.w_avg)],
            coarse=list(layout.coarse),
            fine=[i for i in range(layout.num_ws) if i not in layout.coarse],
        )
        return ExportPlan(
            networks={"mapping": mapping, "synthesis": synthesis, "discriminator": self.discriminator},
            outputs={"mapping": ["w"], "synthesis": ["x"], "discriminator": ["logit"]},
            latent_dim=self.latent_dim,
            prior={"kind": "standard_normal"},
            sampling=SamplingFacts(network="synthesis", latent_input="ws", output="x"),
            style=style,
        )
