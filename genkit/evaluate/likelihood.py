"""Importance-weighted estimate of a VAE's log-likelihood log p(x).

Reference: Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.

With z_k = μ(x) + σ(x)·ε_k drawn from the encoder's posterior q(z | x),

    log p(x) ≥ L_K = E[ log (1/K) Σ_k p(x | z_k) p(z_k) / q(z_k | x) ]

L_1 is the ELBO, and L_K rises toward log p(x) as K grows, so −L_K (reported, in nats per
example) is a tighter upper bound on the negative log-likelihood than the negative ELBO.
p(x | z) is the Bernoulli decoder the bce objective trains (for grey-level targets in
[0, 1], the same continuous cross-entropy the ELBO uses).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from genkit.losses import binary_crossentropy_sum

__all__ = ["importance_weighted_nll"]

_LOG_2PI = math.log(2.0 * math.pi)


def importance_weighted_nll(model, x, y=None, *, k: int = 100, batch_size: int = 64, seed: int = 0) -> float:
    """−L_K averaged over the examples `x` (labels `y` for a conditional VAE), nats per example."""
    generator = tf.random.Generator.from_seed(seed)
    # Decode in chunks of at most ~4096 images: K posterior draws of `rows` examples each.
    rows = max(1, min(batch_size, 4096 // k))
    totals = []
    for start in range(0, len(x), rows):
        xb = tf.constant(x[start : start + rows])
        yb = None if y is None else tf.constant(y[start : start + rows])
        totals.append(_bound(model, xb, yb, generator.normal((k, len(xb), model.latent_dim))).numpy())
    return float(-np.mean(np.concatenate(totals)))


@tf.function(reduce_retracing=True)
def _bound_graph(encoder, decoder, conditional, x, y, eps):
    inputs = [x, y] if conditional else x
    z_mean, z_log_var = encoder(inputs, training=False)  # (B, D) each
    k, b = tf.shape(eps)[0], tf.shape(eps)[1]
    z = z_mean[None] + tf.exp(0.5 * z_log_var)[None] * eps  # (K, B, D)
    flat_z = tf.reshape(z, (k * b, -1))
    flat_y = None if y is None else tf.tile(y, [k])  # row k*B + i has label y[i]
    x_hat = decoder([flat_z, flat_y] if conditional else flat_z, training=False)  # (K*B, H, W, C)
    x_rep = tf.tile(x, tf.concat([[k], tf.ones(tf.rank(x) - 1, tf.int32)], 0))
    log_px_z = -tf.reshape(binary_crossentropy_sum(x_rep, x_hat), (k, b))
    log_pz = -0.5 * tf.reduce_sum(tf.square(z) + _LOG_2PI, axis=-1)
    log_qz = -0.5 * tf.reduce_sum(tf.square(eps) + _LOG_2PI + z_log_var[None], axis=-1)
    log_w = log_px_z + log_pz - log_qz  # (K, B)
    return tf.reduce_logsumexp(log_w, axis=0) - tf.math.log(tf.cast(k, tf.float32))  # (B,)


def _bound(model, x, y, eps):
    return _bound_graph(model.encoder, model.decoder, bool(model.conditional), x, y, eps)
