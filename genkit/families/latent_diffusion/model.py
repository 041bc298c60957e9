"""Latent diffusion: a DDPM in the latent space of a first-stage autoencoder.

Reference: Rombach, Blattmann, Lorenz, Esser & Ommer, "High-Resolution Image Synthesis with
Latent Diffusion Models", CVPR 2022 (sections 3.1-3.2, appendix G); the diffusion maths are
Ho et al. 2020, DDIM (Song et al. 2021) and classifier-free guidance (Ho & Salimans 2022), the
same functions the ddpm family calls (`genkit.modeling.diffusion`, `genkit.schedules`).

One run, two stages:

1. First stage (the first `first_stage.epochs` epochs, inline only): an encoder E and a decoder
   D trained on

       L_AE = Σ_pixels (x − D(z))² + λ_KL · KL(q(z|x) ‖ N(0, I)),     z ~ q(z|x) = N(μ(x), σ²(x))

   (kind vae: E's last axis holds [μ, log σ²]; Rombach et al. use λ_KL = 1e-6, which only keeps
   the latents from drifting; kind autoencoder: z = E(x), no KL). Their perceptual and
   adversarial terms are left out. A reused export (`first_stage.export`) skips this stage.
2. The scale factor s = 1 / std(z), measured once on the latents of the first batch the
   denoiser trains on (as Rombach et al.'s code does, `scale_by_std`) and kept in a weight,
   so a resumed run never measures it again. It gives the latents unit variance, as the forward
   process assumes of x_0: at t = T, √ᾱ_T x_0 must vanish in the noise.
3. The denoiser, with E and D frozen: L_simple of Ho et al. (eq. 14) on x_0 = s · z,

       L = E_{t, ε} ‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t[, y])‖²

   with the label replaced by the null class with probability label_dropout when conditional.

Sampling: x_T ~ N(0, I) in latent space, DDIM or ancestral steps down to x̂_0 (never clipped:
latents are unbounded), z = x̂_0 / s, x = D(z). The export holds the denoiser and the decoder,
and the manifest's `diffusion.latent` the scale factor and latent shape, so the runtime runs the
chain with onnxruntime alone.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from genkit.errors import GenkitError
from genkit.families.latent_diffusion.card import CARD
from genkit.families.latent_diffusion.first_stage import build_first_stage, load_first_stage, spec_error
from genkit.losses import kl_divergence_normal
from genkit.manifest import ExportPlan, SamplingFacts
from genkit.modeling.base import GenerativeModel
from genkit.modeling.diffusion import build_denoiser, denoising_losses, diffusion_facts, draw_samples, predictor
from genkit.modeling.ema import WeightAverage
from genkit.modeling.networks import condition_classes
from genkit.modeling.steps import scaled_loss, track, unpack
from genkit.nets.inference import predict_batches
from genkit.replica_seed import ReplicaSeedGenerator
from genkit.schedules import make_schedule
from genkit.spec.schema import SampleSpec

__all__ = ["FollowPhase", "LatentDiffusion"]

FIRST_STAGE, DIFFUSION = "first_stage", "diffusion"


class FollowPhase(keras.callbacks.Callback):
    """Before every step, moves the model to the stage its update counter is in (`LatentDiffusion.follow_phase`)."""

    def on_train_batch_begin(self, batch, logs=None):
        self.model.follow_phase()


class LatentDiffusion(GenerativeModel):
    """A first-stage autoencoder, then a denoiser ε_θ(x_t, t[, y]) on its scaled latents; see the module docstring."""

    def __init__(self, spec, data_shape, num_classes=None, steps_per_epoch=1):
        super().__init__(spec, CARD, data_shape, num_classes)
        first = spec.first_stage
        self.diffusion = d = spec.model.diffusion
        self.sample_options = spec.sample or SampleSpec()
        self.schedule = make_schedule(d.schedule, d.timesteps, beta_start=d.beta_start, beta_end=d.beta_end)
        self.condition = spec.model.condition
        self.null_class = None
        if self.conditional:
            self.num_classes = condition_classes(self.condition, num_classes)
            self.null_class = self.num_classes  # the "no label" class of classifier-free guidance
        if first.export is None:
            self.encoder, self.decoder, self.latent_shape = build_first_stage(spec, self.data_shape)
            self.kind, self.first_stage_steps = first.kind, first.epochs * steps_per_epoch
        else:
            self.encoder, self.decoder, self.latent_shape, self.kind = load_first_stage(
                first.export, self.data_shape, self.value_range
            )
            self.first_stage_steps = 0
        self.kl_weight, self.first_stage_learning_rate = float(first.kl_weight), float(first.learning_rate)
        self.denoiser = build_denoiser(
            spec, self.latent_shape, self.condition, self.trunks, example="specs/ldm_mnist.yaml"
        )
        if tuple(self.denoiser.output.shape[1:]) != self.latent_shape:
            raise spec_error(
                ("model", "networks", "denoiser"),
                f"outputs shape {list(self.denoiser.output.shape[1:])} but the latents have shape {list(self.latent_shape)}.",
                "Make its last layer output the latent's channels.",
            )
        self.ema = WeightAverage(self.denoiser, spec.train.ema) if spec.train.ema is not None else None
        self.ema_network = self.ema.network if self.ema is not None else None  # tracked: saved and resumed
        self.noise_seed = ReplicaSeedGenerator(spec.seed)
        # Saved with the weights: the stage clock, and s (0 until measured), so a resume keeps both.
        own = {"shape": (), "initializer": "zeros", "trainable": False, "aggregation": "only_first_replica"}
        self.first_stage_updates = self.add_weight(name="first_stage_updates", dtype="int64", **own)
        self.scale_factor = self.add_weight(name="scale_factor", dtype="float32", **own)
        self._coefficients = (
            tf.constant(self.schedule.sqrt_alphas_cumprod),
            tf.constant(self.schedule.sqrt_one_minus_alphas_cumprod),
        )
        self.phase = self.phase_at(0)
        self._predict_fn = None

    def compile(self, optimizer, jit_compile=False):
        """train.optimizer trains the denoiser; the first stage has an Adam of its own (first_stage.learning_rate)."""
        super().compile(optimizer=optimizer, jit_compile=jit_compile)
        # Built on the variables each trains, so a checkpoint restores both into matching slots.
        self.optimizer.build(self.denoiser.trainable_variables)
        self.first_stage_optimizer = keras.optimizers.Adam(self.first_stage_learning_rate, name="first_stage_adam")
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            self.first_stage_optimizer = keras.optimizers.LossScaleOptimizer(self.first_stage_optimizer)
        self.first_stage_optimizer.build(self.first_stage_variables)

    @property
    def first_stage_variables(self):
        return self.encoder.trainable_variables + self.decoder.trainable_variables

    def fit(self, *args, callbacks=None, **kwargs):
        """keras.Model.fit with the `FollowPhase` callback first, whoever calls it."""
        return super().fit(*args, callbacks=[FollowPhase(), *(callbacks or [])], **kwargs)

    # -- the two stages ----------------------------------------------------------------------
    def phase_at(self, updates: int) -> str:
        return FIRST_STAGE if updates < self.first_stage_steps else DIFFUSION

    def follow_phase(self) -> None:
        """Enter the stage the counter is in, retracing the step functions when it changes."""
        phase = self.phase_at(int(self.first_stage_updates.numpy()))
        if phase != self.phase:
            self._enter(phase)
            self.make_train_function(force=True)

    def _enter(self, phase: str) -> None:
        self.phase = phase
        self.train_function = self.test_function = self.predict_function = None

    def load_own_variables(self, store):
        super().load_own_variables(store)
        self._enter(self.phase_at(int(self.first_stage_updates.numpy())))

    def posterior(self, x, training):
        """(μ, log σ²) of q(z|x) for a vae first stage, (z, None) for an autoencoder."""
        out = self.encoder(x, training=training)
        if self.kind == "autoencoder":
            return out, None
        if isinstance(out, (list, tuple)):  # a reused vae export: [z_mean, z_log_var]
            return out[0], out[1]
        mean, log_var = ops.split(out, 2, axis=-1)  # (B, ..., 2C) -> 2 x (B, ..., C)
        return mean, log_var

    def draw_latents(self, mean, log_var):
        """z = μ + σ·ε (the reparameterisation), or the code itself."""
        if log_var is None:
            return ops.cast(mean, "float32")
        eps = keras.random.normal(ops.shape(mean), seed=self.noise_seed)
        return ops.cast(mean, "float32") + ops.exp(0.5 * ops.cast(log_var, "float32")) * eps

    def first_stage_terms(self, x, training):
        """(L_AE, {reconstruction, kl}): the summed squared error and the KL of q(z|x), batch means."""
        mean, log_var = self.posterior(x, training)
        x_hat = ops.cast(self.decoder(self.draw_latents(mean, log_var), training=training), "float32")
        n = ops.shape(x)[0]
        reconstruction = ops.mean(ops.sum(ops.reshape(ops.square(ops.cast(x, "float32") - x_hat), (n, -1)), axis=1))
        kl = 0.0 * reconstruction
        if log_var is not None:
            kl = ops.mean(kl_divergence_normal(ops.reshape(mean, (n, -1)), ops.reshape(log_var, (n, -1))))
        return reconstruction + self.kl_weight * kl, {"reconstruction": reconstruction, "kl": kl}

    def scaled_latents(self, x):
        """x_0 = s · z with s = 1/std(z) measured on the first call and kept (step 2 of the docstring)."""
        z = self.draw_latents(*self.posterior(x, training=False))
        measured = 1.0 / ops.maximum(ops.std(z), 1e-8)
        self.scale_factor.assign(ops.where(self.scale_factor > 0, self.scale_factor, measured))
        return z * self.scale_factor

    def train_step(self, data):
        x, y = unpack(data)
        if self.phase == FIRST_STAGE:
            # 1. L_AE on the batch; one Adam step of the encoder and decoder.
            with tf.GradientTape() as tape:
                loss, terms = self.first_stage_terms(x, training=True)
                scaled = scaled_loss(loss, self.first_stage_optimizer)
            grads = tape.gradient(scaled, self.first_stage_variables)
            self.first_stage_optimizer.apply_gradients(zip(grads, self.first_stage_variables))
            self.first_stage_updates.assign_add(1)
            return track(self.trackers, {"loss": loss, **terms})
        # 2. The frozen first stage's latents, scaled by s (measured on the first such batch).
        x0 = self.scaled_latents(x)
        # 3. L_simple of the denoiser on them (t, ε, x_t, label dropout: genkit.modeling.diffusion).
        with tf.GradientTape() as tape:
            losses, _ = self._denoising_losses(x0, y, training=True)
            loss = ops.mean(losses)
            scaled = scaled_loss(loss, self.optimizer)
        grads = tape.gradient(scaled, self.denoiser.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.denoiser.trainable_variables))
        # 4. θ̄ ← d θ̄ + (1 − d) θ after the update.
        if self.ema is not None:
            self.ema.update(self.optimizer.iterations)
        # The first stage's terms are not measured here (its training rows hold 0); test_step measures them.
        return {**track(self.trackers, {"loss": loss}), **{t.name: t.result() for t in self.trackers[1:]}}

    def test_step(self, data):
        x, y = unpack(data)
        batch = tf.shape(x)[0]
        loss, terms = self.first_stage_terms(x, training=False)
        if self.phase == DIFFUSION:
            loss = ops.mean(self._denoising_losses(self.scaled_latents(x), y, training=False)[0])
        return track(self.trackers, {"loss": loss, **terms}, batch=batch)

    def _denoising_losses(self, x0, y, training):
        return denoising_losses(
            self.denoiser,
            x0,
            y,
            diffusion=self.diffusion,
            coefficients=self._coefficients,
            null_class=self.null_class,
            seed=self.noise_seed,
            training=training,
        )

    def call(self, inputs, training=False):
        return self.denoiser(inputs, training=training)

    # -- sampling ------------------------------------------------------------------------------
    @property
    def sampling_network(self):
        """The denoiser that samples and exports: the weight average when train.ema is set."""
        return self.ema_network if self.ema_network is not None else self.denoiser

    def measured_scale(self) -> float:
        """s, or a GenkitError when the denoiser has not trained yet (the run ended in the first stage)."""
        scale = float(self.scale_factor.numpy())
        if scale <= 0:
            raise GenkitError(
                "the denoiser has not trained yet: the run ended within the first stage (first_stage.epochs), so "
                "there is no latent scale factor. Resume it with more train.epochs."
            )
        return scale

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
        """n images: latents denoised by the (EMA) denoiser, divided by s, decoded (steps 1-3 of sampling)."""
        scale = self.measured_scale()
        y = None
        if self.conditional:
            y = np.resize(np.asarray(labels if labels is not None else np.arange(self.num_classes), "int32"), n)
        if self._predict_fn is None:
            self._predict_fn = predictor(self.sampling_network, self.latent_shape, self.conditional)
        x0 = draw_samples(
            self.schedule,
            self._predict_fn,
            (n, *self.latent_shape),
            self.sample_options,
            diffusion=self.diffusion,
            labels=y,
            null_class=self.null_class,
            seed=seed,
            clip=False,  # latents are unbounded: sample.clip_denoised applies to pixel diffusion
            steps=steps,
            sampler=sampler,
            eta=eta,
            guidance_scale=guidance_scale,
            guidance_interval=guidance_interval,
            progress=progress,
        )
        return np.clip(predict_batches(self.decoder, x0 / scale), *self.value_range)

    # -- what the trainer, exporter and inspector ask -------------------------------------------
    def networks(self) -> dict:
        nets = {"denoiser": self.denoiser, "encoder": self.encoder, "decoder": self.decoder}
        if self.ema_network is not None:
            nets["denoiser_ema"] = self.ema_network
        return nets

    def describe(self) -> dict:
        latent = "x".join(str(s) for s in self.latent_shape)
        label = f", y (int label; class {self.null_class} = no label)" if self.conditional else ""
        return {
            "encoder": f"first stage ({self.kind}): images -> latents {latent}"
            + (" (mean, log-variance halves)" if self.kind == "vae" else ""),
            "decoder": f"first stage: latents {latent} -> images",
            "denoiser": f"inputs x (latent {latent}, scaled by s), t{label}; output named {self.diffusion.prediction!r}",
        }

    def preview(self, x_fixed, y_fixed=None):
        """While the first stage trains: originals above reconstructions; then samples (a row per class)."""
        cols = 8
        if self.phase == FIRST_STAGE:
            x = x_fixed[: len(x_fixed) // cols * cols]
            mean = predict_batches(self.encoder, x)
            mean = mean[0] if isinstance(mean, list) else mean
            if self.kind == "vae" and not isinstance(self.encoder.output, list):
                mean = np.split(mean, 2, axis=-1)[0]
            x_hat = predict_batches(self.decoder, mean)
            rows = [part for i in range(0, len(x), cols) for part in (x[i : i + cols], x_hat[i : i + cols])]
            return np.concatenate(rows), cols, ["input", "output"] * (len(rows) // 2)
        if not self.conditional:
            return self.sample(4 * cols, seed=self.seed), cols, None
        labels = np.repeat(np.arange(self.num_classes, dtype="int32"), cols)
        return (
            self.sample(len(labels), labels=labels, seed=self.seed),
            cols,
            [f"label {k}" for k in range(self.num_classes)],
        )

    def export_plan(self, x_train, y_train=None) -> ExportPlan:
        d, o = self.diffusion, self.sample_options
        facts = diffusion_facts(
            d,
            o.model_copy(update={"clip_denoised": False}),
            self.schedule,
            null_class=self.null_class,
            ema=self.ema is not None,
        )
        facts["latent"] = {
            "shape": list(self.latent_shape),
            "scale_factor": self.measured_scale(),
            "decoder": "decoder",
            "latent_input": "z",
            "output": "x",
        }
        return ExportPlan(
            networks={"denoiser": self.sampling_network, "decoder": self.decoder},
            outputs={"denoiser": [d.prediction], "decoder": ["x"]},
            sampling=SamplingFacts(
                network="denoiser",
                image_input="x",
                time_input="t",
                label_input="y" if self.conditional else None,
                output=d.prediction,
            ),
            diffusion=facts,
            # Scaled latents have unit variance: the parity batch draws them from N(0, I) ("x" would be the data range).
            input_ranges={"denoiser": {"t": (0.0, float(d.timesteps)), "x": (-3.0, 3.0)}},
        )
