"""Variational autoencoder, and its conditional form: an amortised Gaussian posterior and a
decoder trained on the ELBO.

Reference: Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014; β-VAE:
Higgins et al., ICLR 2017; KL warm-up: Bowman et al., CoNLL 2016 / Sønderby et al. 2016;
conditional VAE: Sohn, Lee & Yan, "Learning Structured Output Representation using Deep
Conditional Generative Models", NeurIPS 2015.

The model adds, around the user's encoder trunk, two Dense heads for μ(x) and
log σ²(x), and samples z = μ + σ·ε with ε ~ N(0, I) (the reparameterisation trick), so
gradients flow through the sample. Per example it minimises

    L = E_q[−log p(x | z)] + β_t · KL(q(z | x) ‖ N(0, I))       (β_t ramps 0 → β)

where the first term is the summed reconstruction loss (bce: Bernoulli decoder, mse:
Gaussian decoder up to constants) and the KL term has the closed form of
`genkit.losses.kl_divergence_normal`. The negative ELBO (β = 1) is reported by
`test_step` as `neg_elbo`, in nats per example.

β-TCVAE (Chen, Li, Grosse & Duvenaud, "Isolating sources of disentanglement in VAEs",
NeurIPS 2018; `loss.total_correlation_weight` β_TC). Averaged over the data, the KL term is
(their eq. 2)

    E_p(x) KL(q(z|x) ‖ p(z)) = I_q(z; x) + KL(q(z) ‖ Π_j q(z_j)) + Σ_j KL(q(z_j) ‖ p(z_j))
                               mutual info   total correlation     dimension-wise KL

and only the total correlation (TC) penalises statistically dependent latents. The model
keeps the closed-form KL and re-weights TC alone:

    L = E_q[−log p(x | z)] + t · (β · KL + (β_TC − β) · TC)        (t: the warm-up, 0 → 1)

so the three terms carry β, β_TC and β (the paper's α = γ = 1 at β = 1). TC, I and the
dimension-wise KL are estimated on each batch by minibatch-weighted sampling
(`genkit.losses.kl_decomposition`) and logged.

Annealed capacity (Burgess et al., "Understanding disentangling in β-VAE", 2018;
`loss.kl_capacity`) replaces the KL term by

    L = E_q[−log p(x | z)] + γ · |KL − C_t|,   C_t = C_max · min(1, step / steps of the ramp)

so the KL is held near a capacity C_t that grows linearly. Both ramps read the optimizer's
step counter, which checkpoints save: a resumed run continues them where they were.

With `model.condition` set (the cvae family's card names this class too), a class label y
goes to both networks: tiled over the image as extra input channels of the encoder and
joined to z for the decoder (one-hot or a learned embedding, `model.condition.encoding`),
so the objective becomes

    L = E_q(z|x,y)[−log p(x | z, y)] + β_t · KL(q(z | x, y) ‖ N(0, I))

and after training `decoder(z, y)` draws class y for any z ~ N(0, I).

Sampling prior (the spec's `prior` section; Ghosh et al., "From variational to
deterministic autoencoders", ICLR 2020, sec. 4; Dai & Wipf, "Diagnosing and enhancing VAE
models", ICLR 2019). The KL term pulls each q(z|x) towards N(0, I), but their average, the
aggregate posterior q(z) = E_x q(z|x), need not equal N(0, I): in a 2-D latent space it sits
off-centre and leaves regions that decode to one class. `fit_prior` fits a density to the
posterior means μ(x) of up to 10,000 training images after training, a full-covariance
Gaussian or a k-component Gaussian mixture

    p̂(z) = Σ_k w_k N(z; m_k, L_k L_kᵀ)        (EM, k-means start seeded by the spec seed)

and `sample`, the evaluation's sample scores and the export (the manifest's `prior`) draw
from it instead of N(0, I). A conditional VAE encodes the images with their labels, fits one
density to all the codes and decodes its draws with the asked-for labels. The encoder leaks
some of the label into z, so a draw from that density may land where another class's codes
live; with `prior.per_class` it fits a Gaussian to each class's codes instead,

    p̂(z | y) = N(z; m_y, L_y L_yᵀ)

(Ghosh et al.'s ex-post density estimation conditioned on the label) and a sample of class y
decodes a draw from class y's Gaussian.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

import genkit.manifest as manifest
from genkit.families.vae.card import CARD
from genkit.losses import kl_decomposition, kl_divergence_normal, kl_divergence_normal_per_unit, reconstruction_loss
from genkit.modeling.base import GenerativeModel
from genkit.modeling.networks import (
    build_all,
    build_from_latent,
    build_trunk,
    check_output_shape,
    condition_classes,
    label_vector,
)
from genkit.modeling.prior import (
    PRIOR_FIT_IMAGES,
    decode_prior_draws,
    fit_class_gaussians,
    fit_gaussian,
    fit_mixture,
    prior_preview,
)
from genkit.modeling.steps import scaled_loss, track, unpack
from genkit.nets import ConcatCondition, Sampling
from genkit.nets.inference import predict_batches
from genkit.runtime.prior import LatentPrior

__all__ = ["VAE"]


class VAE(GenerativeModel):
    """q(z | x[, y]) as Dense heads on the encoder trunk, p(x | z[, y]) as the decoder; the ELBO.

    `steps_per_epoch` turns the KL warm-up and the capacity ramp, given in epochs, into steps.
    """

    def __init__(self, spec, data_shape, num_classes=None, steps_per_epoch=1):
        super().__init__(spec, CARD, data_shape, num_classes)
        self.reconstruction = spec.loss.reconstruction
        self.latent_dim = spec.model.latent_dim
        self.condition = spec.model.condition
        if self.conditional:
            self.num_classes = condition_classes(self.condition, num_classes)
        trunks = {}
        built = build_all(
            {
                "encoder": lambda: self._build_encoder(spec, trunks),
                "decoder": lambda: build_from_latent(spec, "decoder", self.latent_dim, trunks, self.condition),
            }
        )
        # Tracked in this order, so the weights and the optimizer's slots keep the order of
        # earlier runs' checkpoints: encoder trunk, encoder, decoder trunk, decoder.
        self.trunks["encoder"], self.encoder = trunks["encoder"], built["encoder"]
        self.trunks["decoder"], self.decoder = trunks["decoder"], built["decoder"]
        check_output_shape(self.decoder, "decoder", data_shape)
        self.sampling = Sampling(seed=spec.seed, name="sampling")
        self.kl_target = float(spec.loss.kl_weight)
        self.total_correlation_weight = spec.loss.total_correlation_weight
        self.capacity = spec.loss.kl_capacity
        # The rules refuse a warm-up beside a capacity, so one ramp schedules the KL term.
        ramp_epochs = self.capacity.epochs if self.capacity is not None else spec.loss.kl_warmup_epochs
        self.kl_ramp_steps = ramp_epochs * steps_per_epoch
        # What sampling draws z from: the spec's `prior` section (vae and cvae; absent: N(0, I)).
        sampling_prior = getattr(spec, "prior", None)
        self.prior_kind = sampling_prior.kind if sampling_prior is not None else "standard_normal"
        self.prior_components = sampling_prior.components if sampling_prior is not None else None
        self.prior_per_class = sampling_prior is not None and sampling_prior.per_class  # the rules: gaussian, cvae only
        self.fitted_prior = None  # the runtime's LatentPrior, set by fit_prior for a gaussian or mixture prior

    # -- networks ----------------------------------------------------------------------
    def _build_encoder(self, spec, trunks):
        """x (+ label channels) -> the user's trunk -> Dense heads [z_mean, z_log_var]."""
        x = keras.Input(self.data_shape, name="x")
        inputs, h = [x], x
        if self.conditional:
            y = keras.Input((), dtype="int32", name="y")
            inputs.append(y)
            # The label enters at the input: tiled over the image as extra channels.
            h = ConcatCondition(name="x_with_label")([x, label_vector(self.condition, y, "encoder_label")])
        trunk = build_trunk(spec, "encoder", h.shape[1:], "x", self.data_shape)
        trunks["encoder"] = trunk
        features = trunk(h)
        if len(features.shape) > 2:
            features = keras.layers.Flatten(name="features")(features)  # (B, ...) -> (B, n)
        z_mean = keras.layers.Dense(self.latent_dim, name="z_mean")(features)
        z_log_var = keras.layers.Dense(self.latent_dim, name="z_log_var")(features)
        return keras.Model(inputs if self.conditional else x, [z_mean, z_log_var], name="encoder")

    def _encoder_inputs(self, x, y):
        return [x, y] if self.conditional else x

    def _decoder_inputs(self, z, y):
        return [z, y] if self.conditional else z

    def _label_classes(self):
        """How many classes the networks take labels of; None when unconditional."""
        return self.num_classes if self.conditional else None

    # -- the objective -------------------------------------------------------------------
    def kl_ramp(self):
        """t = min(1, step / ramp steps): the warm-up's or the capacity's progress (resumes with the optimizer)."""
        if self.kl_ramp_steps <= 0:
            return tf.constant(1.0, tf.float32)
        step = tf.cast(self.optimizer.iterations, tf.float32)
        return tf.minimum(1.0, step / float(self.kl_ramp_steps))

    def current_kl_weight(self):
        """β_t = β · t: the KL weight at this step."""
        return self.kl_target * self.kl_ramp()

    def current_capacity(self):
        """C_t = C_max · t: the KL the capacity objective holds at this step."""
        return self.capacity.max_nats * self.kl_ramp()

    def elbo_terms(self, x, y, training):
        """(reconstruction, kl, posterior): the ELBO's two terms as batch means, and (z, z_mean, z_log_var)."""
        # 1. q(z|x): mean and log-variance heads on the encoder trunk.
        z_mean, z_log_var = self.encoder(self._encoder_inputs(x, y), training=training)
        # 2. z = μ + σ·ε (reparameterisation).
        z = self.sampling([z_mean, z_log_var])
        # 3. p(x|z): decode and score the reconstruction.
        x_hat = self.decoder(self._decoder_inputs(z, y), training=training)
        reconstruction = reconstruction_loss(self.reconstruction, x, x_hat)
        # 4. KL(q(z|x) ‖ N(0, I)) in closed form.
        kl = tf.reduce_mean(kl_divergence_normal(z_mean, z_log_var))
        return reconstruction, kl, (z, z_mean, z_log_var)

    def kl_penalty(self, kl, posterior, ramp):
        """(what the loss adds for the KL at ramp progress t, the KL decomposition's logs)."""
        # 5a. Annealed capacity: γ·|KL − C_t|.
        if self.capacity is not None:
            return self.capacity.weight * tf.abs(kl - self.capacity.max_nats * ramp), {}
        # 5b. β-VAE: β_t·KL.
        penalty = self.kl_target * ramp * kl
        if self.total_correlation_weight is None:
            return penalty, {}
        # 5c. β-TCVAE: eq. 2's terms by minibatch-weighted sampling; TC's weight moves from β to β_TC.
        mutual_information, total_correlation, dimension_wise_kl = kl_decomposition(*posterior)
        penalty += (self.total_correlation_weight - self.kl_target) * ramp * total_correlation
        logs = {"mutual_information": mutual_information, "total_correlation": total_correlation, "dimension_wise_kl": dimension_wise_kl}
        return penalty, logs

    def train_step(self, data):
        x, y = unpack(data)
        ramp = self.kl_ramp()
        with tf.GradientTape() as tape:
            reconstruction, kl, posterior = self.elbo_terms(x, y, training=True)  # steps 1-4
            penalty, decomposition = self.kl_penalty(kl, posterior, ramp)  # step 5
            loss = reconstruction + penalty
            scaled = scaled_loss(loss, self.optimizer)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        values = {"loss": loss, "reconstruction": reconstruction, "kl": kl, "neg_elbo": reconstruction + kl, **decomposition}
        # The ramp's value at this step, not an average.
        schedule = {"kl_capacity": self.capacity.max_nats * ramp} if self.capacity is not None else {"kl_weight": self.kl_target * ramp}
        return track(self.trackers, values, current=schedule)

    def test_step(self, data):
        x, y = unpack(data)
        reconstruction, kl, posterior = self.elbo_terms(x, y, training=False)
        # The objective at the ramp's end, so val_loss compares across epochs (keep_best).
        penalty, decomposition = self.kl_penalty(kl, posterior, tf.constant(1.0))
        values = {"loss": reconstruction + penalty, "reconstruction": reconstruction, "kl": kl, "neg_elbo": reconstruction + kl, **decomposition}
        return track(self.trackers, values, batch=tf.shape(x)[0])

    def call(self, inputs, training=False):
        x, y = unpack(inputs)
        z_mean, _ = self.encoder(self._encoder_inputs(x, y), training=training)
        return self.decoder(self._decoder_inputs(z_mean, y), training=training)

    # -- sampling ------------------------------------------------------------------------
    def fit_prior(self, x_train, y_train=None) -> dict:
        """The prior `sample` and the export draw from, as the manifest's `prior`.

        standard_normal: N(0, I), nothing fitted. gaussian / mixture: fitted to the posterior
        means of up to 10,000 training images (see the module docs); a conditional VAE encodes
        them with their labels `y_train`, and with per_class fits a Gaussian to each class's.
        """
        if self.prior_kind == "standard_normal":
            return {"kind": "standard_normal"}
        images = x_train[:PRIOR_FIT_IMAGES]
        if self.conditional:
            if y_train is None:
                raise ValueError("a conditional VAE encodes its training images with their labels: call fit_prior(x_train, y_train).")
            images = [images, np.asarray(y_train[:PRIOR_FIT_IMAGES], "int32")]
        z_mean, _ = predict_batches(self.encoder, images)
        if self.prior_per_class:
            prior = fit_class_gaussians(z_mean, images[1], self.num_classes)
        elif self.prior_kind == "gaussian":
            prior = fit_gaussian(z_mean)
        else:
            prior = fit_mixture(z_mean, self.prior_components, self.seed)
        # The runtime's own drawing, so `sample` and an export's sampler draw the same z from a seed.
        self.fitted_prior = LatentPrior.from_prior(prior, self.latent_dim)
        return prior

    def sample(self, n: int, labels=None, seed: int = 0):
        """n images decoded from z ~ the sampling prior: N(0, I) (with the given labels when conditional),
        or the density `fit_prior` fitted."""
        if self.prior_kind == "standard_normal":
            return decode_prior_draws(self.decoder, self.latent_dim, n, labels=labels, num_classes=self._label_classes(), seed=seed)
        if self.fitted_prior is None:
            raise RuntimeError(f"this VAE samples from a {self.prior_kind} fitted to its codes: call fit_prior(x_train) first.")
        if not self.conditional:
            return predict_batches(self.decoder, self.fitted_prior.draw(np.random.default_rng(seed), n))
        # The labels as decode_prior_draws gives them: the given ones, or 0 … K−1 in turn, cycled to n.
        y = np.resize(np.asarray(labels if labels is not None else np.arange(self.num_classes), "int32"), n)
        z = self.fitted_prior.draw(np.random.default_rng(seed), n, y)  # (n, latent_dim) float32, as the runtime draws
        return predict_batches(self.decoder, [z, y])

    # -- what the trainer, exporter and inspector ask -------------------------------------
    def networks(self) -> dict:
        return {"encoder": self.encoder, "decoder": self.decoder}

    def describe(self) -> dict:
        label = f" + label ({self.condition.encoding})" if self.conditional else ""
        return {
            "encoder": f"input{label}; Dense heads z_mean, z_log_var ({self.latent_dim}); Sampling z = mu + sigma*eps",
            "decoder": f"input z ({self.latent_dim}){label}",
        }

    def preview(self, x_fixed, y_fixed=None):
        """Decoded prior draws from the spec seed; a row per class when conditional."""
        return prior_preview(self.decoder, self.latent_dim, self.seed, self._label_classes())

    def latent_kl(self, x, y=None, limit: int = 2000, batch: int = 250) -> list[float]:
        """Mean KL(q(z_j|x) ‖ N(0, 1)) of each latent dimension j over up to `limit` images, in nats.

        Dimensions near 0 carry no information about x (posterior collapse); `genkit explore
        traverse` orders its rows by these. The images are spread evenly over `x`, which may be
        sorted by class.
        """
        pick = np.unique(np.linspace(0, len(x) - 1, min(limit, len(x))).astype(int))
        totals = np.zeros(self.latent_dim)
        for at in range(0, len(pick), batch):
            rows = pick[at : at + batch]
            labels = None if y is None else np.asarray(y)[rows]
            z_mean, z_log_var = self.encoder(self._encoder_inputs(np.asarray(x)[rows], labels), training=False)
            totals += np.sum(np.asarray(kl_divergence_normal_per_unit(z_mean, z_log_var)), axis=0)
        return [float(v) for v in totals / len(pick)]

    def export_plan(self, x_train, y_train=None) -> manifest.ExportPlan:
        label = "y" if self.conditional else None
        return manifest.ExportPlan(
            networks={"decoder": self.decoder, "encoder": self.encoder},
            outputs={"decoder": ["x"], "encoder": ["z_mean", "z_log_var"]},
            latent_dim=self.latent_dim,
            prior=self.fit_prior(x_train, y_train if self.conditional else None),
            sampling=manifest.SamplingFacts(network="decoder", latent_input="z", label_input=label, output="x"),
            encoding=manifest.EncodingFacts(network="encoder", image_input="x", label_input=label, outputs=["z_mean", "z_log_var"]),
            latent_kl=self.latent_kl(x_train, y_train if self.conditional else None),
        )
