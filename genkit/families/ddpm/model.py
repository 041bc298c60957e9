"""Denoising diffusion probabilistic model, optionally class-conditional with classifier-free guidance.

Reference: Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020;
sampling with DDIM: Song, Meng & Ermon, ICLR 2021; cosine schedule: Nichol & Dhariwal,
ICML 2021; v-prediction: Salimans & Ho, ICLR 2022; guidance: Ho & Salimans,
"Classifier-Free Diffusion Guidance", 2022.

Training is Algorithm 1: for clean images x_0, draw t ~ U{0, …, T−1} and ε ~ N(0, I), form
x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε in closed form (eq. 4), and minimise

    L_simple = E ‖target − f_θ(x_t, t)‖²        target = ε, or v = √ᾱ_t ε − √(1 − ᾱ_t) x_0

(eq. 14, averaged over pixels), each example's term weighted by min(SNR_t, γ) / SNR_t (ε) or
min(SNR_t, γ) / (SNR_t + 1) (v) with `model.diffusion.min_snr_gamma` (Hang et al. 2023). The user declares the denoiser as a graph on inputs `x`
(the noisy image) and `t` (the timestep index, float32); the schedule and the sampler maths
are NumPy (`genkit.schedules`), shared with the TensorFlow-free runtime; the objective, the
denoiser's wrapping and the sampling calls are `genkit.modeling.diffusion`, shared with the
latent_diffusion family.

Conditioning is the same family with `model.condition`, not a separate one: classifier-free
guidance trains one network for p(x | y) and p(x) by replacing the label with a null class
(index num_classes) with probability `label_dropout`, so the loss, the sampler and the
export are the same whether or not a label is given — only an input is added. The family
turns the integer label into a vector (one-hot, where the null class is the zero vector, or
a learned embedding with one extra row) and feeds it to the graph as a third input `y`,
which the user adds to the time embedding. Guidance at sampling time:
ε̃ = ε_∅ + w (ε_y − ε_∅).

With `train.ema`, an exponential moving average of the denoiser's weights (`self.ema`, its
network `self.ema_network`) draws the per-epoch grids, the evaluation samples and the export.
"""

from __future__ import annotations

from itertools import pairwise

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from genkit.families.ddpm.card import CARD
from genkit.manifest import ExportPlan, SamplingFacts
from genkit.modeling.base import GenerativeModel
from genkit.modeling.diffusion import (
    build_denoiser,
    denoising_losses,
    diffusion_facts,
    draw_samples,
    drop_labels,
    noised,
    predictor,
)
from genkit.modeling.ema import WeightAverage
from genkit.modeling.networks import check_output_shape, condition_classes
from genkit.modeling.steps import scaled_loss, track, unpack
from genkit.replica_seed import ReplicaSeedGenerator
from genkit.schedules import make_schedule
from genkit.spec.schema import SampleSpec

__all__ = ["DDPM", "timestep_buckets"]

LOSS_BUCKETS = 4  # per-epoch loss by quarter of the timestep range: where the model is weak


def timestep_buckets(timesteps: int, buckets: int = LOSS_BUCKETS) -> list[tuple[int, int]]:
    """[(low, high), ...]: `buckets` consecutive ranges of timestep indices covering 0 … T − 1."""
    edges = [round(b * timesteps / buckets) for b in range(buckets + 1)]
    return list(pairwise(edges))


class DDPM(GenerativeModel):
    """A denoiser f_θ(x_t, t[, y]) trained on L_simple (Algorithm 1), sampled by DDPM or DDIM."""

    def __init__(self, spec, data_shape, num_classes=None, steps_per_epoch=1):
        super().__init__(spec, CARD, data_shape, num_classes)
        self.diffusion = spec.model.diffusion
        self.sample_options = spec.sample or SampleSpec()
        d = self.diffusion
        self.schedule = make_schedule(d.schedule, d.timesteps, beta_start=d.beta_start, beta_end=d.beta_end)
        self.condition = spec.model.condition
        self.null_class = None
        if self.conditional:
            self.num_classes = condition_classes(self.condition, num_classes)
            self.null_class = self.num_classes  # the "no label" class of classifier-free guidance
        self.denoiser = build_denoiser(spec, self.data_shape, self.condition if self.conditional else None, self.trunks)
        check_output_shape(self.denoiser, "denoiser", data_shape)
        self.ema = WeightAverage(self.denoiser, spec.train.ema) if spec.train.ema is not None else None
        # An attribute, so Keras tracks its weights: checkpoints hold the average and a
        # resumed run continues it.
        self.ema_network = self.ema.network if self.ema is not None else None
        self.noise_seed = ReplicaSeedGenerator(spec.seed)
        self.bucket_trackers = [keras.metrics.Mean(name=f"loss_t{lo}_{hi}") for lo, hi in timestep_buckets(d.timesteps)]
        # Forward-process coefficients as graph constants, the same float32 numbers the sampler reads.
        self._sqrt_ab = tf.constant(self.schedule.sqrt_alphas_cumprod)
        self._sqrt_one_minus_ab = tf.constant(self.schedule.sqrt_one_minus_alphas_cumprod)
        self._predict_fn = None

    def compile(self, optimizer, jit_compile=False):
        """Builds the optimizer on the denoiser's variables, the list `train_step` updates: a conditional
        denoiser lists its label embedding first, the model's own list later, and a checkpoint's slots
        must load back in the order they were saved (`load_with_optimizer` builds only unbuilt ones)."""
        super().compile(optimizer=optimizer, jit_compile=jit_compile)
        self.optimizer.build(self.denoiser.trainable_variables)

    @property
    def sampling_network(self):
        """The network that samples and exports: the weight average when train.ema is set."""
        return self.ema_network if self.ema_network is not None else self.denoiser

    # -- the objective (Algorithm 1) -----------------------------------------------------
    @property
    def metrics(self):
        return [*self.trackers, *self.bucket_trackers]

    def forward(self, x0, t, eps):
        """(x_t, target): x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (eq. 4) and ε or v = √ᾱ_t ε − √(1 − ᾱ_t) x_0."""
        return noised(x0, t, eps, self._sqrt_ab, self._sqrt_one_minus_ab, self.diffusion.prediction)

    def drop_labels(self, y):
        """Each label replaced by the null class with probability label_dropout (Ho & Salimans 2022)."""
        return drop_labels(y, self.diffusion.label_dropout, self.null_class, self.noise_seed)

    def compute_loss_terms(self, x0, y, training):
        """Per-example ε- (or v-) MSE at uniform random timesteps; returns (losses (B,), t (B,))."""
        return denoising_losses(
            self.denoiser,
            x0,
            y,
            diffusion=self.diffusion,
            coefficients=(self._sqrt_ab, self._sqrt_one_minus_ab),
            null_class=self.null_class,
            seed=self.noise_seed,
            training=training,
        )

    def _record(self, losses, t):
        """The batch's mean loss, and its per-example losses into the timestep buckets they fall in."""
        logs = track(self.trackers, {"loss": ops.mean(losses)}, batch=ops.shape(losses)[0])
        for tracker, (lo, hi) in zip(self.bucket_trackers, timestep_buckets(self.diffusion.timesteps)):
            inside = ops.cast(ops.logical_and(t >= lo, t < hi), "float32")
            tracker.update_state(losses, sample_weight=inside)
            logs[tracker.name] = tracker.result()
        return logs

    def train_step(self, data):
        x0, y = unpack(data)
        with tf.GradientTape() as tape:
            # 1.-4. t, ε, x_t and the per-example losses (compute_loss_terms).
            losses, t = self.compute_loss_terms(x0, y, training=True)
            scaled = scaled_loss(ops.mean(losses), self.optimizer)
        grads = tape.gradient(scaled, self.denoiser.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.denoiser.trainable_variables))
        # 5. θ̄ ← d θ̄ + (1 − d) θ after the update.
        if self.ema is not None:
            self.ema.update(self.optimizer.iterations)
        return self._record(losses, t)

    def test_step(self, data):
        x0, y = unpack(data)
        return self._record(*self.compute_loss_terms(x0, y, training=False))

    def call(self, inputs, training=False):
        return self.denoiser(inputs, training=training)

    # -- sampling ------------------------------------------------------------------------
    def _predict(self, x, t, y):
        """The sampling network on NumPy arrays, in chunks, through one traced function."""
        if self._predict_fn is None:
            self._predict_fn = predictor(self.sampling_network, self.data_shape, self.conditional)
        return self._predict_fn(x, t, y)

    def sample(
        self,
        n: int,
        labels=None,
        seed: int = 0,
        *,
        steps=None,
        sampler=None,
        eta=None,
        guidance_scale=None,
        guidance_interval=None,
        progress=None,
    ):
        """n images in [−1, 1] from the (EMA) denoiser, with the spec's `sample` settings unless given.

        Conditional models draw `labels` (an int, one per sample, or None: 0 … K−1 in turn).
        """
        y = None
        if self.conditional:
            y = np.resize(np.asarray(labels if labels is not None else np.arange(self.num_classes), "int32"), n)
        x = draw_samples(
            self.schedule,
            self._predict,
            (n, *self.data_shape),
            self.sample_options,
            diffusion=self.diffusion,
            labels=y,
            null_class=self.null_class,
            seed=seed,
            clip=self.sample_options.clip_denoised,
            steps=steps,
            sampler=sampler,
            eta=eta,
            guidance_scale=guidance_scale,
            guidance_interval=guidance_interval,
            progress=progress,
        )
        return np.clip(x, *self.value_range)

    # -- what the trainer, exporter and inspector ask -------------------------------------
    def networks(self) -> dict:
        nets = {"denoiser": self.denoiser}
        if self.ema_network is not None:
            nets["denoiser_ema"] = self.ema_network
        return nets

    def describe(self) -> dict:
        label = ""
        if self.conditional:
            c = self.condition
            size = c.num_classes if c.encoding == "onehot" else c.embedding_dim
            label = f", y (int label -> {c.encoding} vector ({size}) for the graph's input y; class {self.null_class} = no label)"
        ema = f"; EMA copy (decay {self.ema.decay}) samples and exports" if self.ema is not None else ""
        return {"denoiser": f"inputs x, t{label}; output named {self.diffusion.prediction!r}{ema}"}

    def preview(self, x_fixed, y_fixed=None):
        """Samples from the spec seed every time, so grids of successive epochs compare: 8 per row."""
        cols = 8
        if not self.conditional:
            return self.sample(4 * cols, seed=self.seed), cols, None
        labels = np.repeat(np.arange(self.num_classes, dtype="int32"), cols)
        return (
            self.sample(len(labels), labels=labels, seed=self.seed),
            cols,
            [f"label {k}" for k in range(self.num_classes)],
        )

    def export_plan(self, x_train, y_train=None):
        d, o = self.diffusion, self.sample_options
        prediction = d.prediction
        return ExportPlan(
            networks={"denoiser": self.sampling_network},
            outputs={"denoiser": [prediction]},
            sampling=SamplingFacts(
                network="denoiser",
                image_input="x",
                time_input="t",
                label_input="y" if self.conditional else None,
                output=prediction,
            ),
            diffusion=diffusion_facts(d, o, self.schedule, null_class=self.null_class, ema=self.ema is not None),
            # The parity batch draws the denoiser's timestep input over the whole schedule.
            input_ranges={"denoiser": {"t": (0.0, float(d.timesteps))}},
        )
