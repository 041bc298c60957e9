"""InfoGAN: a GAN whose generator reads latent codes c that a recognition head Q must recover.

Reference: Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel, "InfoGAN: Interpretable
Representation Learning by Information Maximizing Generative Adversarial Nets", NeurIPS 2016.

The generator reads [z, c]: noise z (loss.noise: U(−s, s), as the paper's MNIST code, or N(0, s²)) and
codes c = (c_1, ..., c_L) from a factored prior
(a categorical code uniform over its K values, fed one-hot; a continuous code ~ U(−1, 1)).
Nothing ties c to the images but a mutual-information term: for any Q(c|x),

    I(c; G(z, c)) ≥ L_I(G, Q) = E_{c ~ P(c), x ~ G(z, c)}[log Q(c|x)] + H(c)         (eq. 4-5)

    min_{G, Q} max_D  V(D, G) − λ·L_I(G, Q)                                            (eq. 6)

with λ per kind of code: λ_cat·Σ_k CE(c_k, Q_k(x)) + λ_cont·Σ_j −log N(c_j; μ_j(x), σ_j²)
(`genkit.losses.categorical_code_nll` and `gaussian_code_nll`; σ = 1 or learned, loss.continuous_std).

Q shares D's body f (the spec's `discriminator` network, ending in a feature vector): the family
adds D's logit l(x) = w·f(x) + b and, on the spec's `q_head` layers h = q(f(x)), one head per
code (logits for a categorical code, a mean, and with learned σ a log σ, for a continuous one).
Each train step, on a batch of real images x and as many draws (z, c):

    1. D and Q: descend L_D + λ·L_I(c, Q(G(z, c)))         (L_D as in genkit/families/gan/model.py)
    2. G:       descend −log D(G(z, c)) + λ·L_I on fresh draws (non_saturating; loss.generator_loss)

D, the body and Q's layers each have their optimizer (train.optimizers: discriminator updates the
body and D's logit, q_head the Q layers and code heads), all on the one loss of step 1.

Logged: d_loss, g_loss (the adversarial term), info_loss (λ·L_I's likelihood terms),
mi_categorical = Σ_k (log K_k − CE_k), the lower bound on I(c_cat; G(z, c)) in nats (at most
Σ log K_k, which it approaches when Q reads every categorical code back), nll_continuous, d_real,
d_fake and the gradient norms. `test_step` reports `loss` = log 2 − L_D on held-out images, the
lower bound on JSD(p_data ‖ p_G) as the gan family does.

Samples, previews and exports lay c out with `genkit.runtime.codes`, the code the TensorFlow-free
runtime samples with, so a seed draws the same images in Keras and through onnxruntime.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from genkit.errors import Problem, SpecError
from genkit.families.infogan.card import CARD
from genkit.losses import (
    categorical_code_nll,
    discriminator_loss,
    gaussian_code_nll,
    generator_loss,
    js_divergence_lower_bound,
)
from genkit.manifest import CodesFacts, ExportPlan, RecognitionFacts, SamplingFacts
from genkit.modeling.adversarial import draw_latents
from genkit.modeling.base import GenerativeModel
from genkit.modeling.ema import WeightAverage
from genkit.modeling.networks import build_all, build_trunk, check_output_shape
from genkit.modeling.steps import apply_update, compile_per_role, judge_as_one_batch, scaled_loss, track, unpack
from genkit.nets.inference import predict_batches
from genkit.replica_seed import ReplicaSeedGenerator
from genkit.runtime.codes import LatentCodes, code_variables
from genkit.runtime.prior import LatentPrior

__all__ = ["InfoGAN", "build_q_head", "code_heads"]

PREVIEW_COLUMNS = 8


def code_heads(codes, learned_std: bool) -> list[tuple]:
    """Q's outputs in order, as (code, part, units): `logits` (K) per categorical code, `mean` (1) and,
    with a learned σ, `log_std` (1) per continuous one. Output `<code>_<part>`."""
    heads = []
    for code in codes:
        if code.kind == "categorical":
            heads.append((code, "logits", code.size))
        else:
            heads += [(code, "mean", 1)] + ([(code, "log_std", 1)] if learned_std else [])
    return heads


def _check_vector(output, role, what):
    if len(output.shape) != 2:
        raise SpecError(
            [
                Problem(
                    ("model", "networks", role),
                    f"outputs shape {list(output.shape[1:])}; {what} must be a feature vector.",
                    "End it with 'Flatten: {}' or a Dense layer.",
                )
            ]
        )


def build_body(spec, data_shape, trunks: dict):
    """f(x), the body D and Q share: the spec's `discriminator` network on the images."""
    trunk = build_trunk(spec, "discriminator", data_shape, "x", data_shape)
    trunks["discriminator"] = trunk
    _check_vector(trunk.output, "discriminator", "the body D and Q share (the family adds D's logit and Q's heads)")
    return trunk


def build_q_head(spec, feature_shape, trunks: dict, codes, learned_std: bool):
    """Q on the body's features: the spec's `q_head` layers, then one head per code (`code_heads`)."""
    features = keras.Input(tuple(feature_shape), name="features")
    trunk = build_trunk(spec, "q_head", feature_shape, "features")
    trunks["q_head"] = trunk
    _check_vector(trunk.output, "q_head", "Q's hidden layer (the family adds a head per code)")
    hidden = trunk(features)
    outputs = [keras.layers.Dense(units, name=f"{code.name}_{part}")(hidden) for code, part, units in code_heads(codes, learned_std)]
    return keras.Model(features, outputs, name="q_head")


class InfoGAN(GenerativeModel):
    """InfoGAN; see the module docstring."""

    def __init__(self, spec, data_shape, num_classes=None, steps_per_epoch=1):
        super().__init__(spec, CARD, data_shape, num_classes)
        self.latent_dim = spec.model.latent_dim  # z alone; the generator reads [z, c]
        self.codes = tuple(spec.loss.codes)
        self.learned_std = spec.loss.continuous_std == "learned"
        heads = code_heads(self.codes, self.learned_std)
        self.output_names = [f"{code.name}_{part}" for code, part, _ in heads]
        declared = [(c.name, c.kind, c.size) for c in self.codes]
        # What the export's manifest says of the codes; Q's logits or mean is what a reader takes of each.
        recognition = {"network": "discriminator", "image_input": "x", "outputs": {c.name: f"{c.name}_{p}" for c, p, _ in heads if p != "log_std"}}
        self.layout = LatentCodes(self.latent_dim, code_variables(self.latent_dim, declared), recognition, owner=spec.name)
        built = build_all(
            {
                "generator": lambda: self._build_generator(spec),
                "discriminator": lambda: build_body(spec, self.data_shape, self.trunks),
            }
        )
        body = built["discriminator"]
        # Keras tracks networks in assignment order, which orders the saved random states: keep it.
        self.generator = built["generator"]
        self.q_head = build_q_head(spec, body.output.shape[1:], self.trunks, self.codes, self.learned_std)
        # One graph, so D and Q share the body's layers: l(x) = w·f(x) + b and Q(c|x) = heads(q(f(x))).
        x = keras.Input(self.data_shape, name="x")
        features = body(x)
        logit = keras.layers.Dense(1, name="logit")(features)
        self.discriminator = keras.Model(x, logit, name="discriminator")
        self.recognizer = keras.Model(x, [logit, *keras.tree.flatten(self.q_head(features))], name="discriminator_q")
        self.ema = WeightAverage(self.generator, spec.train.ema) if spec.train.ema else None
        # An attribute, so save_weights keeps the average with the networks and a resume continues it.
        self.ema_network = self.ema.network if self.ema is not None else None
        self.noise = ReplicaSeedGenerator(spec.seed)
        self.generator_loss_kind = spec.loss.generator_loss
        self.noise_kind, self.noise_scale = spec.loss.noise, float(spec.loss.noise_scale)
        self.weights_by_kind = {"categorical": float(spec.loss.categorical_weight), "continuous": float(spec.loss.continuous_weight)}

    def _build_generator(self, spec):
        """G on the latent [z, c] (`self.layout.latent_dim` numbers), outputting the data's shape."""
        latent = keras.Input((self.layout.latent_dim,), name="latent")
        trunk = build_trunk(spec, "generator", (self.layout.latent_dim,), "latent")
        self.trunks["generator"] = trunk
        generator = keras.Model(latent, trunk(latent), name="generator")
        check_output_shape(generator, "generator", self.data_shape)
        return generator

    def compile(self, optimizers: dict, jit_compile=False):
        """`optimizers`: role -> Keras optimizer (train.optimizers); Keras's own stays None."""
        super().compile(optimizer=None, jit_compile=jit_compile)
        compile_per_role(self, self.networks_by_role(), optimizers)

    def networks_by_role(self) -> dict:
        return {"generator": self.generator, "discriminator": self.discriminator, "q_head": self.q_head}

    @property
    def sampling_network(self):
        """The generator samples, previews and exports come from: the weight average when kept."""
        return self.ema_network if self.ema_network is not None else self.generator

    # -- the codes -----------------------------------------------------------------------
    def _draw(self, n):
        """(the latent [z, c] (n, width), each code's drawn values in declared order), from the model's seed."""
        if self.noise_kind == "uniform":
            z = keras.random.uniform((n, self.latent_dim), -self.noise_scale, self.noise_scale, seed=self.noise)
        else:
            z = self.noise_scale * draw_latents(self.noise, n, self.latent_dim)
        parts, drawn = [z], []
        for code in self.codes:
            if code.kind == "categorical":
                value = keras.random.randint((n,), 0, code.size, seed=self.noise)  # (n,)
                parts.append(ops.one_hot(value, code.size))
            else:
                value = keras.random.uniform((n, 1), -1.0, 1.0, seed=self.noise)  # (n, 1)
                parts.append(value)
            drawn.append(value)
        return ops.concatenate(parts, axis=1), drawn

    def _information(self, drawn, predicted):
        """(λ-weighted −L_I, mi_categorical, nll_continuous) for the drawn codes and Q's outputs on their images."""
        outputs = iter(predicted)
        categorical, continuous, entropy = 0.0, 0.0, 0.0
        for code, value in zip(self.codes, drawn):
            if code.kind == "categorical":
                categorical += categorical_code_nll(value, next(outputs))
                entropy += math.log(code.size)  # H(c) of a uniform code
            else:
                mean = next(outputs)
                continuous += gaussian_code_nll(value, mean, next(outputs) if self.learned_std else None)
        info = self.weights_by_kind["categorical"] * categorical + self.weights_by_kind["continuous"] * continuous
        return info, {"info_loss": info, "mi_categorical": entropy - categorical, "nll_continuous": continuous}

    def _judge(self, real, fake, training):
        """(D's logits on real, on fake, Q's outputs on fake): one batch through the shared body (`judge_as_one_batch`)."""
        (real_logits, fake_logits), *codes = judge_as_one_batch(lambda images: self.recognizer(images, training=training), real, fake)
        return real_logits, fake_logits, [fake_half for _, fake_half in codes]

    # -- the game ------------------------------------------------------------------------
    def train_step(self, data):
        x, _ = unpack(data)
        # 1. D and Q: one update each on L_D + λ·L_I.
        d_logs = self._discriminator_step(x)
        # 2. G: one update on L_G + λ·L_I, with fresh draws.
        g_logs = self._generator_step(x)
        # 3. The generator's weight average, if kept.
        if self.ema is not None:
            self.ema.update(self.generator_optimizer.iterations)
        return track(self.trackers, {**d_logs, **g_logs})

    def _discriminator_step(self, x):
        """One descent step of D (body and logit) and of Q on L_D + λ·L_I (eq. 6, the max over D and min over Q)."""
        latent, drawn = self._draw(tf.shape(x)[0])
        fake = self.generator(latent, training=True)  # no gradient to G here
        # Persistent: two optimizers (two loss scales under mixed precision) differentiate the one loss.
        with tf.GradientTape(persistent=True) as tape:
            real_logits, fake_logits, predicted = self._judge(x, fake, training=True)
            d_loss = discriminator_loss(real_logits, fake_logits)
            info, _ = self._information(drawn, predicted)
            loss = d_loss + info
            scaled_d = scaled_loss(loss, self.discriminator_optimizer)
            scaled_q = scaled_loss(loss, self.q_head_optimizer)
        d_norm = apply_update(self.discriminator_optimizer, tape, scaled_d, self.discriminator)
        q_norm = apply_update(self.q_head_optimizer, tape, scaled_q, self.q_head)
        del tape
        return {**_scores(real_logits, fake_logits), "d_loss": d_loss, "d_grad_norm": d_norm, "q_grad_norm": q_norm}

    def _generator_step(self, x_real):
        """One descent step of G on L_G + λ·L_I, its fakes judged beside `x_real` (batch statistics)."""
        latent, drawn = self._draw(tf.shape(x_real)[0])
        with tf.GradientTape() as tape:
            fake = self.generator(latent, training=True)
            _, fake_logits, predicted = self._judge(x_real, fake, training=True)
            g_loss = generator_loss(self.generator_loss_kind, fake_logits)
            info, info_logs = self._information(drawn, predicted)
            scaled = scaled_loss(g_loss + info, self.generator_optimizer)
        norm = apply_update(self.generator_optimizer, tape, scaled, self.generator)
        return {"g_loss": g_loss, "g_grad_norm": norm, **info_logs}

    def test_step(self, data):
        x, _ = unpack(data)
        latent, drawn = self._draw(tf.shape(x)[0])
        fake = self.sampling_network(latent, training=False)
        real_logits, fake_logits, predicted = self._judge(x, fake, training=False)
        _, info_logs = self._information(drawn, predicted)
        values = {
            **_scores(real_logits, fake_logits),
            "d_loss": discriminator_loss(real_logits, fake_logits),
            "g_loss": generator_loss(self.generator_loss_kind, fake_logits),
            **info_logs,
        }
        return track(self.trackers, values, batch=tf.shape(x)[0])

    def call(self, inputs, training=False):
        """D's logit of a batch of images."""
        x, _ = unpack(inputs)
        return self.discriminator(x, training=training)

    # -- sampling, reading codes back, and what the trainer, exporter and inspector ask -----
    def _noise_facts(self) -> dict:
        """z's prior (loss.noise) as the export's manifest states it; the code slots of the latent it
        also fills are overwritten by the codes' own draws."""
        s = self.noise_scale
        if self.noise_kind == "uniform":
            return {"kind": "uniform", "low": -s, "high": s}
        return {"kind": "standard_normal"} if s == 1.0 else {"kind": "normal", "std": s}

    def _draw_noise(self, rng, n: int) -> np.ndarray:
        """(n, generator input width) from z's prior, as `genkit.runtime.Sampler` draws it."""
        return LatentPrior.from_prior(self._noise_facts(), self.layout.latent_dim).draw(rng, n)

    def sample(self, n: int, labels=None, seed: int = 0, codes=None):
        """n images G(z, c), z from its prior (loss.noise), each code from its prior unless given (`codes`: name -> value(s)).

        `labels` is ignored (InfoGAN is unconditional). Draws as `genkit.runtime.Sampler.sample` does.
        """
        rng = np.random.default_rng(seed)
        z = self._draw_noise(rng, n)
        return predict_batches(self.sampling_network, self.layout.fill(z, self.layout.draw(rng, n, codes)))

    def infer_codes(self, x) -> dict:
        """Q's reading of images `x`: code name -> (N,) class index (categorical) or mean (continuous)."""
        _, *outputs = predict_batches(self.recognizer, x)
        return self.layout.read(dict(zip(self.output_names, outputs)))

    def networks(self) -> dict:
        nets = self.networks_by_role()
        if self.ema_network is not None:
            nets["generator_ema"] = self.ema_network
        return nets

    def describe(self) -> dict:
        average = f"; weight average (EMA {self.ema.decay}) used to sample and export" if self.ema is not None else ""
        return {
            "generator": f"input [z ({self.latent_dim}), {self.layout.describe()}] = {self.layout.latent_dim} numbers{average}",
            "discriminator": "the body D and Q share; the family adds D's logit (Dense 1) on its features",
            "q_head": f"on the body's features; the family adds the heads {', '.join(self.output_names)}",
        }

    def preview(self, x_fixed, y_fixed=None):
        """A row per value of the first categorical code (continuous codes 0), the same z and other codes per column."""
        rng = np.random.default_rng(self.seed)
        categorical = next((c for c in self.codes if c.kind == "categorical"), None)
        if categorical is None:
            return self.sample(4 * PREVIEW_COLUMNS, seed=self.seed), PREVIEW_COLUMNS, None
        rows, cols = categorical.size, PREVIEW_COLUMNS
        z = np.tile(self._draw_noise(rng, cols), (rows, 1))
        values = {name: np.tile(v, rows) for name, v in self.layout.draw(rng, cols).items()}
        values[categorical.name] = np.repeat(np.arange(rows), cols)
        values.update({c.name: np.zeros(rows * cols) for c in self.codes if c.kind == "continuous"})
        images = predict_batches(self.sampling_network, self.layout.fill(z, values))
        return images, cols, [f"{categorical.name} {k}" for k in range(rows)]

    def export_plan(self, x_train, y_train=None) -> ExportPlan:
        """The generator on [z, c], and D with Q as one network: x -> logit and every code head."""
        return ExportPlan(
            networks={"generator": self.sampling_network, "discriminator": self.recognizer},
            outputs={"generator": ["x"], "discriminator": ["logit", *self.output_names]},
            latent_dim=self.layout.latent_dim,
            prior=self._noise_facts(),
            sampling=SamplingFacts(network="generator", latent_input="latent", label_input=None, output="x"),
            codes=CodesFacts(
                noise_dim=self.latent_dim,
                variables=self.layout.variables,
                recognition=RecognitionFacts(**self.layout.recognition),
            ),
        )


def _scores(real_logits, fake_logits) -> dict:
    """The JSD bound (`loss`), D(x) and D(G(z, c)) averaged over the batch (as genkit/families/gan/model.py)."""
    return {
        "loss": js_divergence_lower_bound(real_logits, fake_logits),
        "d_real": ops.mean(ops.sigmoid(ops.cast(real_logits, "float32"))),
        "d_fake": ops.mean(ops.sigmoid(ops.cast(fake_logits, "float32"))),
    }
