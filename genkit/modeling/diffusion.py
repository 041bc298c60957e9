"""What the diffusion families share: the denoiser around the user's graph, the objective of
Ho et al. 2020 (Algorithm 1), classifier-free guidance's label dropout, sampling through
`genkit.schedules` and the manifest's `diffusion` facts.

The ddpm family diffuses images and the latent_diffusion family an autoencoder's latents; the
maths are the same, so both call these functions on "x" — an image or a (scaled) latent:

    self.denoiser = build_denoiser(spec, shape, self.condition, self.trunks)       # in __init__
    losses, t = denoising_losses(self.denoiser, x0, y, **self.objective, training=True)
    x = draw_samples(self.schedule, self._predict, (n, *shape), options, ...)      # sample
    facts = diffusion_facts(self.diffusion, options, self.schedule, ...)          # export_plan

The schedule and the sampler updates are NumPy (`genkit.schedules`), the numbers the
TensorFlow-free runtime samples exports with.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from genkit.errors import Problem, SpecError
from genkit.nets import LabelEmbedding, build_network
from genkit.schedules import sample_loop, sampler_timesteps

__all__ = [
    "build_denoiser",
    "denoising_losses",
    "diffusion_facts",
    "draw_samples",
    "drop_labels",
    "label_embedding",
    "min_snr_weights",
    "noised",
    "predictor",
]

_PREDICT_BATCH = 256  # examples per network call while sampling (memory bound, not speed)


def label_embedding(condition):
    """(layer, size): the label's vector for the denoiser, with a "no label" class at index num_classes.

    One-hot gives the null class the zero vector (it lies outside the one-hot range); a learned
    embedding gets one extra row for it.
    """
    c = condition
    if c.encoding == "onehot":
        return LabelEmbedding(c.num_classes, encoding="onehot", name="label_embedding"), c.num_classes
    return LabelEmbedding(
        c.num_classes + 1, encoding="embedding", embedding_dim=c.embedding_dim, name="label_embedding"
    ), c.embedding_dim


def build_denoiser(spec, shape, condition, trunks: dict, *, example: str = "specs/ddpm_mnist.yaml"):
    """The denoiser f(x_t, t[, y]): the user's graph `model.networks.denoiser` with inputs x (shape
    `shape`), t (float32 timestep index) and, with `condition`, y (the int label, made a vector here).

    Its output is named after `model.diffusion.prediction`; the trunk goes into `trunks`.
    """
    net = spec.model.networks["denoiser"]
    path = ("model", "networks", "denoiser")
    if net.graph is None:
        dims = ", ".join(str(d) for d in shape)
        raise SpecError(
            [
                Problem(
                    path + ("layers",),
                    "the denoiser takes the noisy input x and the timestep t, so it is a graph.",
                    f"Write it as 'inputs: {{x: [{dims}], t: []}}' and 'graph:' nodes (see {example}).",
                )
            ]
        )
    x = keras.Input(tuple(shape), name="x")
    t = keras.Input((), name="t")
    inputs, feeds, shapes = [x, t], {"x": x, "t": t}, {"x": tuple(shape), "t": ()}
    if condition is not None:
        y = keras.Input((), dtype="int32", name="y")
        embedding, size = label_embedding(condition)
        inputs.append(y)
        feeds["y"], shapes["y"] = embedding(y), (size,)
    trunk = build_network("denoiser", net, inputs=shapes, path=path, blocks=spec.blocks)
    trunks["denoiser"] = trunk
    # In the trunk's own input order (the spec's); Keras maps a dict to a list input by sorted key.
    output = trunk([feeds[tensor.name] for tensor in trunk.inputs])
    output = keras.layers.Identity(name=spec.model.diffusion.prediction)(output)
    return keras.Model(inputs, output, name="denoiser")


def noised(x0, t, eps, sqrt_ab, sqrt_one_minus_ab, prediction: str):
    """(x_t, target): x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (eq. 4) and ε, or v = √ᾱ_t ε − √(1 − ᾱ_t) x_0.

    `sqrt_ab` and `sqrt_one_minus_ab` are the schedule's (T,) float32 columns as tensors.
    """
    shape = (-1,) + (1,) * (len(x0.shape) - 1)  # (B,) -> (B, 1, 1, 1) for images, (B, 1) for vectors
    a = ops.reshape(ops.take(sqrt_ab, t), shape)
    b = ops.reshape(ops.take(sqrt_one_minus_ab, t), shape)
    x0 = ops.cast(x0, "float32")
    target = eps if prediction == "epsilon" else a * eps - b * x0
    return a * x0 + b * eps, target


def drop_labels(y, label_dropout: float, null_class: int, seed):
    """Each label replaced by the null class with probability label_dropout (Ho & Salimans 2022)."""
    y = ops.cast(ops.reshape(y, (-1,)), "int32")
    if label_dropout == 0:
        return y
    drop = keras.random.uniform(ops.shape(y), seed=seed) < label_dropout
    return ops.where(drop, null_class, y)


def denoising_losses(denoiser, x0, y, *, diffusion, coefficients, null_class, seed, training):
    """Per-example ε- (or v-) MSE at uniform random timesteps (Algorithm 1); returns (losses (B,), t (B,)).

    Args:
        diffusion: the spec's `model.diffusion`.
        coefficients: (√ᾱ, √(1 − ᾱ)) of the schedule as (T,) float32 tensors.
        null_class: the "no label" class of a conditional model (y is then given), else None.
        seed: the model's seed generator for t, ε and the label dropout.

    With `diffusion.min_snr_gamma`, each loss is weighted by `min_snr_weights` (train and validation
    alike: the reported loss is the one minimised).
    """
    n = ops.shape(x0)[0]
    # 1. t ~ U{0, …, T−1}, ε ~ N(0, I).
    t = keras.random.randint((n,), 0, diffusion.timesteps, seed=seed)
    eps = keras.random.normal(ops.shape(x0), dtype="float32", seed=seed)
    # 2. The forward process in closed form.
    x_t, target = noised(x0, t, eps, *coefficients, diffusion.prediction)
    inputs = [x_t, ops.cast(t, "float32")]
    if null_class is not None:
        # 3. Classifier-free guidance: the same network learns p(x) through the null class.
        labels = ops.cast(ops.reshape(y, (-1,)), "int32")
        inputs.append(drop_labels(labels, diffusion.label_dropout, null_class, seed) if training else labels)
    # 4. ‖target − f(x_t, t)‖², mean over values (float32 under mixed precision too).
    output = ops.cast(denoiser(inputs, training=training), "float32")
    losses = ops.mean(ops.reshape(ops.square(target - output), (n, -1)), axis=1)
    if diffusion.min_snr_gamma is not None:
        losses = losses * min_snr_weights(t, *coefficients, diffusion.min_snr_gamma, diffusion.prediction)
    return losses, t


def min_snr_weights(t, sqrt_ab, sqrt_one_minus_ab, gamma: float, prediction: str):
    """(B,) Min-SNR-γ loss weights (Hang et al., "Efficient Diffusion Training via Min-SNR Weighting
    Strategy", ICCV 2023): min(SNR_t, γ) / SNR_t for ε, min(SNR_t, γ) / (SNR_t + 1) for v.

    Both equal min(SNR_t, γ) on the x_0 error the prediction implies, so the low-noise timesteps, whose
    ε targets are easy but plentiful, no longer dominate the gradient of a short run. The ε weight is
    written min(1, γ / SNR_t) so a schedule whose last ᾱ is 0 (SNR 0) gets weight 1, not 0/0.
    """
    a = ops.take(sqrt_ab, t)
    b = ops.take(sqrt_one_minus_ab, t)
    snr = ops.square(a) / ops.maximum(ops.square(b), 1e-12)
    if prediction == "epsilon":
        return ops.minimum(1.0, gamma / ops.maximum(snr, 1e-12))
    return ops.minimum(snr, gamma) / (snr + 1.0)


def predictor(network, shape, conditional: bool):
    """`predict(x, t, y)` on NumPy arrays for `sample_loop`: the network in chunks, through one traced function."""
    signature = [tf.TensorSpec((None, *shape), tf.float32), tf.TensorSpec((None,), tf.float32)]
    if conditional:
        signature.append(tf.TensorSpec((None,), tf.int32))
    call = tf.function(lambda *args: network(list(args), training=False), input_signature=signature)

    def predict(x, t, y):
        args = [x, t] if y is None else [x, t, y]
        chunks = [call(*(a[i : i + _PREDICT_BATCH] for a in args)) for i in range(0, len(x), _PREDICT_BATCH)]
        return np.concatenate([np.asarray(c) for c in chunks])

    return predict


def draw_samples(
    schedule,
    predict,
    shape,
    options,
    *,
    diffusion,
    labels,
    null_class,
    seed,
    clip,
    steps=None,
    sampler=None,
    eta=None,
    guidance_scale=None,
    guidance_interval=None,
    progress=None,
):
    """`sample_loop` with the spec's `sample` settings (`options`) unless given; float32 of `shape`.

    `labels`: int32 (N,) for a conditional model, else None (guidance then does not apply).
    `clip`: clip each step's x̂_0 to [−1, 1] (images; never latents, which are unbounded).
    """
    o = options
    sampler = sampler or o.sampler
    return sample_loop(
        schedule,
        predict,
        shape,
        sequence=sampler_timesteps(schedule, sampler, steps or o.steps),
        sampler=sampler,
        prediction=diffusion.prediction,
        eta=o.eta if eta is None else eta,
        variance=o.variance,
        clip=clip,
        rng=np.random.default_rng(seed),
        labels=labels,
        null_class=null_class,
        guidance_scale=(o.guidance_scale if guidance_scale is None else guidance_scale) if labels is not None else 1.0,
        guidance_interval=o.guidance_interval if guidance_interval is None else guidance_interval,  # unguided: unused
        progress=progress,
    )


def diffusion_facts(diffusion, options, schedule, *, null_class, ema: bool) -> dict:
    """The manifest's `diffusion` section: what the runtime rebuilds the schedule and sampler from."""
    return {
        "schedule": diffusion.schedule,
        "timesteps": diffusion.timesteps,
        "beta_start": diffusion.beta_start,
        "beta_end": diffusion.beta_end,
        "prediction": diffusion.prediction,
        "null_class": null_class,
        "label_dropout": diffusion.label_dropout if null_class is not None else None,
        "ema": ema,
        "sample": options.model_dump(mode="json"),
        "alphas_cumprod": schedule.alphas_cumprod.tolist(),
    }
