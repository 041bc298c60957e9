"""Drawing from a latent-variable model's prior: samples, per-epoch grids, a fitted Gaussian."""

from __future__ import annotations

import numpy as np

from genkit.nets.inference import predict_batches

__all__ = ["decode_prior_draws", "fit_gaussian", "prior_preview"]


def decode_prior_draws(network, latent_dim: int, n: int, *, labels=None, num_classes=None, seed: int = 0):
    """n outputs of `network` for z ~ N(0, I): a VAE's decoder or a GAN's generator.

    A conditional network (num_classes given) also takes labels: the given ones, or
    0 … K−1 in turn, cycled to n.
    """
    z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype("float32")
    if num_classes is None:
        return predict_batches(network, z)
    y = np.resize(np.asarray(labels if labels is not None else np.arange(num_classes), "int32"), n)
    return predict_batches(network, [z, y])


def prior_preview(network, latent_dim: int, seed: int, num_classes=None, cols: int = 8):
    """The per-epoch grid of a latent-variable model: (images, columns, row labels or None).

    The draws come from the spec seed every epoch so grids compare. A conditional network
    gets a row per class with the same z in every row, so only the label changes.
    """
    if num_classes is None:
        return decode_prior_draws(network, latent_dim, 4 * cols, seed=seed), cols, None
    z = np.random.default_rng(seed).standard_normal((cols, latent_dim)).astype("float32")
    z = np.tile(z, (num_classes, 1))
    y = np.repeat(np.arange(num_classes, dtype="int32"), cols)
    images = predict_batches(network, [z, y])
    return images, cols, [f"label {k}" for k in range(num_classes)]


def fit_gaussian(codes: np.ndarray) -> dict:
    """A Gaussian prior fitted to encoded training data, for autoencoders that have none.

    Returns the runtime's `gaussian` prior: mean and lower Cholesky factor of the
    covariance (a small ridge keeps the factorisation defined for dead units).
    """
    codes = codes.reshape(len(codes), -1).astype(np.float64)
    mean = codes.mean(axis=0)
    cov = np.cov(codes, rowvar=False).reshape(codes.shape[1], codes.shape[1])
    cov += np.eye(len(cov)) * (1e-6 + 1e-6 * float(np.trace(cov)) / max(len(cov), 1))
    return {"kind": "gaussian", "mean": mean.tolist(), "scale_tril": np.linalg.cholesky(cov).tolist()}
