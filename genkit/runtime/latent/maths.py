"""The maths of the latent tools, pure NumPy: interpolation paths, prior quantile grids, 2-D projections.

- `lerp` / `slerp`: points on the path between two latents, straight or along the great
  circle (White 2016).
- `from_standard_normal`: standard-normal coordinates mapped to an export's prior;
  `prior_moments` / `mixture_moments`: its mean and spread.
- `quantile_grid`: the Gaussian-quantile coordinates of a 2-D latent map (Kingma &
  Welling 2014, fig. 4).
- `project_2d`: latents reduced to 2-D by PCA or t-SNE (van der Maaten & Hinton 2008);
  scikit-learn is imported inside it only.

Example:
    path = slerp(z_a, z_b, np.linspace(0, 1, 8))   # (8, latent_dim) float64
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from genkit.errors import GenkitError

__all__ = [
    "INTERPOLATION_METHODS",
    "SCATTER_METHODS",
    "from_standard_normal",
    "lerp",
    "mixture_moments",
    "prior_moments",
    "project_2d",
    "quantile_grid",
    "slerp",
    "vector_pair",
]

INTERPOLATION_METHODS = ("linear", "slerp")
SCATTER_METHODS = ("pca", "tsne")
_PARALLEL_SIN = 1e-7  # |sin(angle)| below this: (anti)parallel, slerp's great circle is undefined


def lerp(start, end, t) -> np.ndarray:
    """Linear interpolation `(1 - t) start + t end` for each `t`; returns `(len(t), d)` float64."""
    start, end = vector_pair(start, end)
    t = np.asarray(t, dtype=np.float64).reshape(-1, 1)  # (T, 1) against (d,)
    return (1.0 - t) * start + t * end


def slerp(start, end, t) -> np.ndarray:
    """Spherical linear interpolation for each `t`; returns `(len(t), d)` float64.

    When to use it: latents drawn from a high-dimensional Gaussian lie near a sphere of
    radius ~sqrt(d); the straight line between two of them passes through low-norm points
    the decoder rarely saw in training, while slerp follows the great circle and keeps
    the norm (exactly, for two vectors of equal norm):

        slerp(p0, p1; t) = sin((1 - t) Ω) / sin Ω · p0 + sin(t Ω) / sin Ω · p1,
        cos Ω = p0 · p1 / (|p0| |p1|).

    (Anti)parallel vectors (sin Ω ≈ 0, or a zero vector) have no unique great circle; as in
    White's code, the result is then linear interpolation.

    Reference: White, "Sampling Generative Networks", arXiv:1609.04468, 2016.

    Example:
        slerp([1, 0], [0, 1], [0.5])   # [[0.7071, 0.7071]]: norm 1; lerp gives norm 0.7071
    """
    start, end = vector_pair(start, end)
    norms = np.linalg.norm(start) * np.linalg.norm(end)
    if norms == 0.0:
        return lerp(start, end, t)
    omega = np.arccos(np.clip(start @ end / norms, -1.0, 1.0))  # clip: rounding can leave [-1, 1]
    sin_omega = np.sin(omega)
    if sin_omega < _PARALLEL_SIN:
        return lerp(start, end, t)
    t = np.asarray(t, dtype=np.float64).reshape(-1, 1)  # (T, 1)
    return (np.sin((1.0 - t) * omega) * start + np.sin(t * omega) * end) / sin_omega


def vector_pair(start, end) -> tuple[np.ndarray, np.ndarray]:
    """`start` and `end` as float64 vectors of one length; a GenkitError for anything else."""
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    if start.ndim != 1 or start.shape != end.shape:
        raise GenkitError(f"Interpolation needs two vectors of one length; got shapes {start.shape} and {end.shape}.")
    return start, end


def from_standard_normal(prior: dict, eps: np.ndarray) -> np.ndarray:
    """Map standard-normal coordinates to an export's prior, so grids and interpolations drawn in ε
    space land on it: N(0, I) as is, N(0, σ² I) as σ ε, U(a, b) through the normal CDF as
    a + (b − a) Φ(ε), a fitted N(μ, L Lᵀ) as μ + L ε.

    A mixture has no such map; ε goes through the Gaussian with the mixture's mean and
    covariance (`mixture_moments`), so a map or a path covers the range the mixture spans.

    `prior` is the manifest's `prior` (validated when the Sampler opened the export).
    """
    kind = prior["kind"]
    if kind == "standard_normal":
        return eps
    if kind == "normal":
        return prior["std"] * eps
    if kind == "uniform":
        cdf = 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(eps) / math.sqrt(2.0)))
        return prior["low"] + (prior["high"] - prior["low"]) * cdf
    if kind == "mixture":
        mean, cov = mixture_moments(prior)
        return mean + eps @ np.linalg.cholesky(cov).T
    return np.asarray(prior["mean"]) + eps @ np.asarray(prior["scale_tril"]).T


def mixture_moments(prior: dict) -> tuple[np.ndarray, np.ndarray]:
    """(mean `(d,)`, covariance `(d, d)`) of a `mixture` prior Σ_k w_k N(μ_k, L_k L_kᵀ):

        μ = Σ_k w_k μ_k,   Σ = Σ_k w_k (L_k L_kᵀ + μ_k μ_kᵀ) − μ μᵀ   (the law of total covariance)
    """
    weights = np.asarray(prior["weights"], dtype=np.float64)
    means, trils = np.asarray(prior["means"], dtype=np.float64), np.asarray(prior["scale_trils"], dtype=np.float64)
    weights = weights / weights.sum()
    mean = weights @ means
    second = np.einsum("k,kij,klj->il", weights, trils, trils) + np.einsum("k,ki,kj->ij", weights, means, means)
    return mean, second - np.outer(mean, mean)


def prior_moments(prior: dict, latent_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, standard deviation) of each latent dimension under an export's prior, `(latent_dim,)` each."""
    kind = prior["kind"]
    if kind == "gaussian":  # each dimension's own mean, and the norm of its row of L
        return np.asarray(prior["mean"], dtype=np.float64), np.linalg.norm(np.asarray(prior["scale_tril"]), axis=1)
    if kind == "mixture":
        mean, cov = mixture_moments(prior)
        return mean, np.sqrt(np.diag(cov))
    if kind == "uniform":
        low, high = prior["low"], prior["high"]
        return np.full(latent_dim, (low + high) / 2), np.full(latent_dim, (high - low) / math.sqrt(12.0))
    return np.zeros(latent_dim), np.full(latent_dim, prior.get("std") or 1.0)  # standard_normal: 1


def quantile_grid(n: int, low: float, high: float) -> np.ndarray:
    """The `(n * n, 2)` standard-normal coordinates of an `n` x `n` map of a 2-D latent space.

    Probabilities evenly spaced over [low, high] on each axis are mapped through the inverse
    normal CDF, so each cell covers about the same prior mass and the tails are not
    over-sampled. Row by row: columns go left to right along z₁, rows top to bottom from
    high to low z₂ (as on a plot with the y axis up).
    """
    quantiles = np.array([NormalDist().inv_cdf(p) for p in np.linspace(low, high, n)])
    z1, z2 = np.meshgrid(quantiles, quantiles[::-1])  # (n, n) each; row 0 holds the highest z2
    return np.stack([z1.ravel(), z2.ravel()], axis=1)  # (n * n, 2)


def project_2d(z: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, tuple[str, str], float | None]:
    """Reduce latents `z` `(M, d)` to 2-D points `(M, 2)` by "pca" or "tsne" (scikit-learn).

    Returns `(points, axis_labels, perplexity)`: PCA's axes report the share of variance
    they keep; t-SNE's perplexity is 30, or less for small sets (it must stay below the
    number of points), and None for PCA.
    """
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed)
        points = pca.fit_transform(z)
        share = pca.explained_variance_ratio_
        return points, (f"PC 1 ({share[0]:.0%} of variance)", f"PC 2 ({share[1]:.0%} of variance)"), None
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(z) - 1) / 3)
    points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(z)
    return points, ("t-SNE 1", "t-SNE 2"), perplexity
