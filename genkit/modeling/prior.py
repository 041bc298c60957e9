"""Drawing from a latent-variable model's prior: samples, per-epoch grids, a fitted Gaussian, mixture or Gaussian per class."""

from __future__ import annotations

import numpy as np

from genkit.nets.inference import predict_batches

__all__ = ["PRIOR_FIT_IMAGES", "decode_prior_draws", "describe_prior", "fit_class_gaussians", "fit_gaussian", "fit_mixture", "prior_preview"]

PRIOR_FIT_IMAGES = 10_000  # training images whose codes a fitted prior (Gaussian or mixture) is estimated from


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


def fit_mixture(codes: np.ndarray, components: int, seed: int) -> dict:
    """A mixture of `components` full-covariance Gaussians fitted to encoded training data by EM.

    Returns the runtime's `mixture` prior: weights (k,), means (k, d) and the lower Cholesky
    factors of the covariances (k, d, d). scikit-learn's k-means start is seeded by `seed`, so
    a spec fits the same mixture every time; its covariance ridge (reg_covar) keeps each factor
    defined. Fewer codes than components is refused by scikit-learn, so k is capped at the codes.
    """
    from sklearn.mixture import GaussianMixture  # imported here: only a VAE with prior.kind mixture needs it

    codes = codes.reshape(len(codes), -1).astype(np.float64)
    mixture = GaussianMixture(min(components, len(codes)), covariance_type="full", random_state=seed).fit(codes)
    weights = mixture.weights_ / mixture.weights_.sum()  # exactly 1 in float64, as the manifest checks
    trils = np.linalg.cholesky(mixture.covariances_)  # (k, d, d)
    return {"kind": "mixture", "weights": weights.tolist(), "means": mixture.means_.tolist(), "scale_trils": trils.tolist()}


def fit_class_gaussians(codes: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
    """One Gaussian fitted to the codes of each class, for a conditional model: class y's z is drawn from class y's.

    Returns the runtime's `mixture` prior with `per_class: true`: component k is class k's
    Gaussian (`fit_gaussian` of its codes) and the label, not a draw, picks it. The weights are
    the classes' shares of the codes, so the mixture is the codes' density whatever the label
    (what `genkit explore` and the serve map span). A class with fewer than two codes has no
    covariance; it gets the Gaussian of all the codes.
    """
    codes = codes.reshape(len(codes), -1)
    labels = np.asarray(labels).reshape(-1)
    pooled = fit_gaussian(codes)
    fits = [fit_gaussian(codes[labels == k]) if np.sum(labels == k) >= 2 else pooled for k in range(num_classes)]
    counts = np.bincount(labels, minlength=num_classes)[:num_classes].astype(np.float64)
    return {
        "kind": "mixture",
        "per_class": True,
        "weights": (counts / counts.sum()).tolist(),
        "means": [fit["mean"] for fit in fits],
        "scale_trils": [fit["scale_tril"] for fit in fits],
    }


def describe_prior(prior: dict) -> str:
    """What sampling draws from, for an evaluation's protocol: one phrase per kind of prior."""
    if prior["kind"] == "gaussian":
        return "decoded draws from a Gaussian fitted to the codes of the training images"
    if prior["kind"] == "mixture" and prior.get("per_class"):
        return "decoded draws from the Gaussian of the asked-for class, fitted to the codes of that class's training images"
    if prior["kind"] == "mixture":
        return f"decoded draws from a {len(prior['weights'])}-component Gaussian mixture fitted to the codes of the training images"
    return "decoded draws from N(0, I)"
