"""Explore an export's latent space: interpolations, latent arithmetic, 2-D maps, scatter plots.

Each tool is a function of a `Sampler` and NumPy arrays; the ones that take a `path` write a
PNG atomically and return the array they drew. They run on onnxruntime alone (matplotlib and
scikit-learn are imported inside `latent_scatter` only), so they work wherever `genkit
sample` does.

- `interpolate` / `interpolation_strip`: decode points on the path between two latents,
  straight (`lerp`) or along the great circle (`slerp`, White 2016). `encode_pair` gives
  the endpoints of two real images.
- `latent_arithmetic`: mean latent of class A − class B + class C, decoded.
- `manifold_grid`: the "digit map" of a 2-D latent space (Kingma & Welling 2014, fig. 4).
- `latent_scatter`: encoded data reduced to 2-D by PCA or t-SNE (van der Maaten & Hinton
  2008), coloured by label.
- `explore_<tool>(export_dir, out, ...)`: the `genkit explore` commands; data images come
  from an `.npz` with arrays `x` and `y`, as `genkit sample --out FILE.npz` writes.

Example:
    sampler = Sampler("exports/vae_mnist")
    z_a, z_b = encode_pair(sampler, x[0], x[1])
    strip = interpolate(sampler, z_a, z_b, steps=8, method="slerp")   # (8, 28, 28, 1)
    manifold_grid(sampler, "map.png", n=20)                           # latent_dim 2 only
"""

from __future__ import annotations

import inspect
import time
import zipfile
from pathlib import Path
from statistics import NormalDist

import numpy as np

from genkit.errors import GenkitError, did_you_mean
from genkit.runtime.images import save_grid
from genkit.runtime.plots import save_scatter
from genkit.runtime.sampler import Sampler, _positive_int

__all__ = [
    "INTERPOLATION_METHODS",
    "SCATTER_METHODS",
    "encode_pair",
    "explore_arithmetic",
    "explore_interpolate",
    "explore_manifold",
    "explore_scatter",
    "interpolate",
    "interpolation_strip",
    "latent_arithmetic",
    "latent_scatter",
    "lerp",
    "manifold_grid",
    "slerp",
]

INTERPOLATION_METHODS = ("linear", "slerp")
SCATTER_METHODS = ("pca", "tsne")
_PARALLEL_SIN = 1e-7  # |sin(angle)| below this: (anti)parallel, slerp's great circle is undefined


# --------------------------------------------------------------------------- maths
def lerp(start, end, t) -> np.ndarray:
    """Linear interpolation `(1 - t) start + t end` for each `t`; returns `(len(t), d)` float64."""
    start, end = _vectors(start, end)
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
    start, end = _vectors(start, end)
    norms = np.linalg.norm(start) * np.linalg.norm(end)
    if norms == 0.0:
        return lerp(start, end, t)
    omega = np.arccos(np.clip(start @ end / norms, -1.0, 1.0))  # clip: rounding can leave [-1, 1]
    sin_omega = np.sin(omega)
    if sin_omega < _PARALLEL_SIN:
        return lerp(start, end, t)
    t = np.asarray(t, dtype=np.float64).reshape(-1, 1)  # (T, 1)
    return (np.sin((1.0 - t) * omega) * start + np.sin(t * omega) * end) / sin_omega


# --------------------------------------------------------------------------- tools
def interpolate(sampler: Sampler, start, end, *, steps: int = 10, method: str = "linear", label=None) -> np.ndarray:
    """Decode `steps` latents evenly spaced from `start` to `end` (both included).

    Args:
        sampler: an export that can sample (autoencoder, VAE, CVAE, GAN generator).
        start, end: latent vectors `(latent_dim,)`, e.g. from `encode_pair` or the prior.
        steps: number of images, at least 2; the first decodes `start`, the last `end`.
        method: "linear" (`lerp`) or "slerp" (White 2016; better for Gaussian priors in
            more than a few dimensions, see `slerp`).
        label: the class every step is decoded with (conditional exports only).

    Returns the images `(steps, H, W, C)` in the export's value range.
    """
    path = _path_latents(sampler, start, end, steps, method)  # (steps, latent_dim)
    return sampler.decode(path, _repeat_labels(sampler, label, 1, steps))


def encode_pair(sampler: Sampler, x_a, x_b, y_a=None, y_b=None) -> tuple[np.ndarray, np.ndarray]:
    """The latent codes `(z_a, z_b)`, each `(latent_dim,)`, of two images `(H, W, C)`.

    Uses the encoder's first output (`z_mean` for a VAE: the centre of q(z|x), not a
    noisy draw). Conditional encoders need both labels `y_a`, `y_b`.
    """
    _require_encoder(sampler, "encode_pair", "it maps images to latents")
    images = [np.asarray(x, dtype=np.float32) for x in (x_a, x_b)]
    for name, image in zip(("x_a", "x_b"), images, strict=True):
        if image.shape != sampler.image_shape:
            raise GenkitError(
                f"encode_pair: {name} must be one image of shape {sampler.image_shape}; got {image.shape}. "
                "Pass x[i], not x[i:i+1]."
            )
    if (y_a is None) != (y_b is None):
        raise GenkitError("encode_pair: give both labels y_a and y_b, or neither.")
    y = None if y_a is None else np.array([y_a, y_b])
    z = sampler.encode(np.stack(images), y)  # (2, latent_dim)
    return z[0], z[1]


def interpolation_strip(
    sampler: Sampler,
    path,
    *,
    pairs,
    steps: int = 10,
    method: str = "linear",
    labels=None,
    row_labels=None,
) -> np.ndarray:
    """Write one interpolation strip per latent pair as the rows of a PNG grid.

    Args:
        path: the PNG to write.
        pairs: `(P, 2, latent_dim)`: row p goes from `pairs[p][0]` to `pairs[p][1]`; its
            first and last columns are those endpoints decoded.
        steps, method: as in `interpolate`.
        labels: conditional exports: one class for every row (int) or one per row.
        row_labels: text at the left of each row; default the class of each row for
            conditional exports, none otherwise.

    Returns the images `(P * steps, H, W, C)`, row by row.
    """
    path = _png_path(path)
    pairs = np.asarray(pairs, dtype=np.float64)
    if pairs.ndim != 3 or pairs.shape[1] != 2 or len(pairs) == 0:
        raise GenkitError(
            f"interpolation_strip: pairs must have shape (P, 2, latent_dim) with P >= 1; got {pairs.shape}."
        )
    z = np.concatenate([_path_latents(sampler, a, b, steps, method) for a, b in pairs])  # (P * steps, d)
    y = _repeat_labels(sampler, labels, len(pairs), steps)
    images = sampler.decode(z, y)
    if row_labels is None and y is not None:
        row_labels = [str(k) for k in y[::steps]]
    save_grid(images, path, nrow=steps, row_labels=row_labels, value_range=sampler.value_range)
    return images


def latent_arithmetic(sampler: Sampler, x, y, a: int, b: int, c: int, *, n: int = 8, path, label=None) -> np.ndarray:
    """Decode mean(z | class a) − mean(z | class b) + mean(z | class c): analogies in latent space.

    When to use it: to see whether a direction in latent space carries an attribute, e.g.
    "smiling woman − neutral woman + neutral man ≈ smiling man" (Radford et al. 2016,
    DCGAN, §6.3.2, averaging a few exemplars per concept as here). Each mean is over the
    encodings of the first `n` images of that class in `x` (shuffle `x` for a random
    choice); averaging cancels what the exemplars do not share.

    Args:
        x, y: labelled images `(N, H, W, C)` and integer classes `(N,)`.
        a, b, c: the classes of A, B and C.
        n: exemplars per class (fewer if a class has fewer images).
        path: the PNG to write: one row of mean(A), mean(B), mean(C) and the result, each
            decoded, labelled "a - b + c".
        label: conditional exports: the class the result is decoded with (default `c`);
            each mean is decoded with its own class.

    Returns the four decoded images `(4, H, W, C)`: mean(A), mean(B), mean(C), result.
    """
    path = _png_path(path)
    _require_latent(sampler, "latent_arithmetic")
    _require_encoder(sampler, "latent_arithmetic", "it averages the encodings of real images of each class")
    n = _positive_int(n, "n")
    x, y = _labelled(x, y, "latent_arithmetic", "the mean latent of each class")
    picks = []
    for name, k in (("a", a), ("b", b), ("c", c)):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise GenkitError(f"latent_arithmetic: class {name} must be an integer label; got {k!r}.")
        chosen = np.flatnonzero(y == k)[:n]
        if len(chosen) == 0:
            present = ", ".join(str(v) for v in np.unique(y))
            raise GenkitError(
                f"latent_arithmetic: class {name}={k!r} has no images in the data; the labels present are {present}."
            )
        picks.append(chosen)
    z = sampler.encode(x[np.concatenate(picks)], y[np.concatenate(picks)]).astype(np.float64)
    splits = np.cumsum([len(p) for p in picks])[:-1]
    mean_a, mean_b, mean_c = (part.mean(axis=0) for part in np.split(z, splits))
    latents = np.stack([mean_a, mean_b, mean_c, mean_a - mean_b + mean_c])  # (4, d), float64 maths
    if sampler.conditional:
        classes = _repeat_labels(sampler, [a, b, c, c if label is None else label], 4, 1)
    else:
        classes = _repeat_labels(sampler, label, 1, 4)  # None; an error when a label was given
    images = sampler.decode(latents.astype(np.float32), classes)
    save_grid(images, path, nrow=4, row_labels=[f"{a} - {b} + {c}"], value_range=sampler.value_range)
    return images


def manifold_grid(sampler: Sampler, path, *, n: int = 20, span=(0.05, 0.95), label=None) -> np.ndarray:
    """Decode an `n` x `n` grid covering a 2-D latent space: the classic VAE digit map.

    The grid's coordinates are Gaussian quantiles: probabilities evenly spaced over `span`
    on each axis are mapped through the inverse normal CDF, so each cell covers about the
    same prior mass and the tails are not over-sampled (Kingma & Welling 2014, fig. 4).
    For an autoencoder exported with a fitted Gaussian prior N(μ, L Lᵀ), the quantile
    grid q is mapped to μ + L q. Columns go left to right along z₁, rows top to bottom
    from high to low z₂ (as on a plot with the y axis up).

    Reference: Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014, fig. 4.

    Args:
        path: the PNG to write.
        n: cells per side, at least 2.
        span: the lowest and highest probability, `0 < low < high < 1`.
        label: conditional exports: the class every cell is decoded with.

    Returns the images `(n * n, H, W, C)`, row by row.
    """
    path = _png_path(path)
    _require_latent(sampler, "manifold_grid")
    if sampler.latent_dim != 2:
        raise GenkitError(
            f"manifold_grid draws a 2-D latent space as a grid; {sampler.name} has latent_dim "
            f"{sampler.latent_dim}. Train with model.latent_dim: 2 for a map, or use latent_scatter "
            "(`genkit explore EXPORT scatter`) to see a larger latent space through PCA or t-SNE."
        )
    n = _positive_int(n, "n")
    if n < 2:
        raise GenkitError(f"manifold_grid: n must be at least 2 cells per side; got {n}.")
    low, high = _span(span)
    quantiles = np.array([NormalDist().inv_cdf(p) for p in np.linspace(low, high, n)])
    z1, z2 = np.meshgrid(quantiles, quantiles[::-1])  # (n, n) each; row 0 holds the highest z2
    eps = np.stack([z1.ravel(), z2.ravel()], axis=1)  # (n * n, 2)
    z = _from_standard_normal(sampler, eps)
    images = sampler.decode(z.astype(np.float32), _repeat_labels(sampler, label, 1, n * n))
    save_grid(images, path, nrow=n, value_range=sampler.value_range)
    return images


def latent_scatter(
    sampler: Sampler, x, y, path, *, method: str = "pca", max_points: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Encode images, reduce their latents to 2-D and scatter them coloured by label.

    When to use it: to see whether classes separate in latent space and how the codes
    fill the prior. "pca" is a linear projection (its axes report the share of variance
    they keep; global distances are meaningful). "tsne" preserves neighbourhoods, not
    distances: cluster sizes and the gaps between clusters mean little, and the picture
    changes with `seed` (van der Maaten & Hinton 2008). Perplexity is 30, or less for
    small sets (it must stay below the number of points).

    Reference: van der Maaten & Hinton, "Visualizing Data using t-SNE", JMLR 9, 2008.

    Args:
        x, y: images `(N, H, W, C)` and integer labels `(N,)`; `y` may be None for an
            unconditional encoder (one colour, no legend).
        path: the PNG to write.
        method: "pca" or "tsne" (scikit-learn).
        max_points: at most this many images, a seeded random subset kept in `x` order.
        seed: the subset and t-SNE's random state.

    Returns `(points, index)`: the 2-D points `(M, 2)` drawn and `index` `(M,)`, the rows of
    `x` they encode.
    """
    path = _png_path(path)
    _require_latent(sampler, "latent_scatter")
    _require_encoder(sampler, "latent_scatter", "it plots the encodings of real images")
    _choice(method, SCATTER_METHODS, "latent_scatter: method")
    max_points = _positive_int(max_points, "max_points")
    x = np.asarray(x)
    if y is not None:
        y = np.asarray(y)
        if y.shape != (len(x),):
            raise GenkitError(f"latent_scatter: y must hold one label per image, shape ({len(x)},); got {y.shape}.")
    if len(x) < 3 or max_points < 3:
        raise GenkitError(
            f"latent_scatter needs at least 3 images to reduce to 2-D; got {len(x)} with max_points={max_points}."
        )
    if sampler.latent_dim < 2:
        raise GenkitError(f"latent_scatter: {sampler.name} has latent_dim {sampler.latent_dim}; a scatter needs >= 2.")
    index = np.arange(len(x))
    if len(x) > max_points:
        index = np.sort(np.random.default_rng(seed).choice(len(x), max_points, replace=False))
    labels = None if y is None else y[index]
    z = sampler.encode(x[index], labels).astype(np.float64)  # (M, latent_dim)
    code = sampler.manifest["encoding"]["outputs"][0]
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed)
        points = pca.fit_transform(z)
        share = pca.explained_variance_ratio_
        axes = (f"PC 1 ({share[0]:.0%} of variance)", f"PC 2 ({share[1]:.0%} of variance)")
        title = f"{sampler.name}: PCA of {code} ({len(z)} images)"
    else:
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (len(z) - 1) / 3)
        points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(z)
        axes = ("t-SNE 1", "t-SNE 2")
        title = f"{sampler.name}: t-SNE of {code} ({len(z)} images, perplexity {perplexity:.0f})"
    save_scatter(points, path, labels=labels, title=title, xlabel=axes[0], ylabel=axes[1])
    return points, index


# --------------------------------------------------------------------------- `genkit explore`
# Options left as None take the tool's own default (declared once, in the tool's signature).
def explore_interpolate(
    export_dir,
    out,
    *,
    data=None,
    pairs=None,
    rows: int = 4,
    steps: int | None = None,
    method: str | None = None,
    label: int | None = None,
    seed: int = 0,
) -> str:
    """`genkit explore EXPORT interpolate`: strips between latents of data images or prior draws.

    With `data` (an .npz holding `x`, and `y` for conditional encoders), each row joins the
    encodings of two images: `pairs` `[(i, j), ...]` picks them, otherwise `rows` random
    pairs (for a conditional export without `label`, two images of the same class, the
    classes taken in turn). Without `data`, each row joins two draws from the prior, and a
    conditional export's rows cycle through the classes unless `label` is given.
    """
    out = _png_path(out)
    start = time.perf_counter()
    sampler = Sampler(export_dir)
    _require_latent(sampler, "interpolate")
    rows = _positive_int(rows, "rows")
    rng = np.random.default_rng(seed)
    if data is None:
        if pairs is not None:
            raise GenkitError("--pair picks images from --data; pass --data FILE.npz with arrays x and y too.")
        eps = rng.standard_normal((rows, 2, sampler.latent_dim))
        ends = _from_standard_normal(sampler, eps)  # (rows, 2, latent_dim)
        labels = label
        if sampler.conditional and label is None:
            labels = np.arange(rows) % sampler.num_classes
        source = f"{rows} pairs of prior draws (seed {seed})"
    else:
        _require_encoder(sampler, "interpolate --data", "it maps the data images to latents")
        x, y = _load_npz(data, sampler)
        by_class = sampler.conditional and label is None
        if by_class and y is None:
            raise GenkitError(
                f"{sampler.name} is conditional: decoding needs a class. {data} has no y to take it from; "
                "pass --label K."
            )
        chosen = _pairs(pairs, len(x), rows, rng, y if by_class else None)  # (P, 2) row indexes
        labels = label
        if by_class:
            mixed = [(int(i), int(j)) for i, j in chosen if y[i] != y[j]]
            if mixed:
                i, j = mixed[0]
                raise GenkitError(
                    f"--pair {i} {j}: image {i} is class {y[i]} and image {j} is class {y[j]}; {sampler.name} "
                    "decodes every step with one class. Pass --label K, or pair images of the same class."
                )
            labels = y[chosen[:, 0]]
        flat = chosen.ravel()
        ends = sampler.encode(x[flat], None if y is None else y[flat]).reshape(len(chosen), 2, -1)
        source = f"{len(chosen)} pairs of {data} images"
    images = interpolation_strip(sampler, out, pairs=ends, labels=labels, **_given(steps=steps, method=method))
    method = method or _default(interpolation_strip, "method")
    return (
        f"Wrote {len(ends)} interpolation strips of {len(images) // len(ends)} steps ({method}) between {source} "
        f"of {sampler.name} to {out} in {time.perf_counter() - start:.2f} s with onnxruntime on {sampler.provider}."
    )


def explore_arithmetic(
    export_dir, out, *, data, a: int, b: int, c: int, n: int | None = None, label: int | None = None
) -> str:
    """`genkit explore EXPORT arithmetic A B C --data FILE.npz`: see `latent_arithmetic`."""
    out = _png_path(out)
    start = time.perf_counter()
    sampler = Sampler(export_dir)
    _require_latent(sampler, "latent_arithmetic")
    _require_encoder(sampler, "latent_arithmetic", "it averages the encodings of real images of each class")
    x, y = _load_npz(data, sampler, need_labels="latent arithmetic averages the latents of each class")
    latent_arithmetic(sampler, x, y, a, b, c, path=out, label=label, **_given(n=n))
    n = n or _default(latent_arithmetic, "n")
    return (
        f"Wrote mean({a}) - mean({b}) + mean({c}) (up to {n} images each from {data}) of {sampler.name} "
        f"to {out} in {time.perf_counter() - start:.2f} s with onnxruntime on {sampler.provider}."
    )


def explore_manifold(export_dir, out, *, n: int | None = None, span=None, label: int | None = None) -> str:
    """`genkit explore EXPORT manifold`: see `manifold_grid`."""
    out = _png_path(out)
    start = time.perf_counter()
    sampler = Sampler(export_dir)
    images = manifold_grid(sampler, out, label=label, **_given(n=n, span=span))
    side = round(len(images) ** 0.5)
    low, high = span or _default(manifold_grid, "span")
    return (
        f"Wrote a {side}x{side} map of {sampler.name}'s 2-D latent space (Gaussian quantiles {low:g}..{high:g}) "
        f"to {out} in {time.perf_counter() - start:.2f} s with onnxruntime on {sampler.provider}."
    )


def explore_scatter(
    export_dir, out, *, data, method: str | None = None, max_points: int | None = None, seed: int | None = None
) -> str:
    """`genkit explore EXPORT scatter --data FILE.npz`: see `latent_scatter`."""
    out = _png_path(out)
    start = time.perf_counter()
    sampler = Sampler(export_dir)
    _require_latent(sampler, "latent_scatter")
    _require_encoder(sampler, "latent_scatter", "it plots the encodings of real images")
    x, y = _load_npz(data, sampler)
    points, _ = latent_scatter(sampler, x, y, out, **_given(method=method, max_points=max_points, seed=seed))
    method = method or _default(latent_scatter, "method")
    return (
        f"Wrote a {method} scatter of {len(points)} encoded images of {data} ({sampler.name}) "
        f"to {out} in {time.perf_counter() - start:.2f} s with onnxruntime on {sampler.provider}."
    )


# --------------------------------------------------------------------------- helpers
def _vectors(start, end) -> tuple[np.ndarray, np.ndarray]:
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    if start.ndim != 1 or start.shape != end.shape:
        raise GenkitError(f"Interpolation needs two vectors of one length; got shapes {start.shape} and {end.shape}.")
    return start, end


def _path_latents(sampler: Sampler, start, end, steps, method) -> np.ndarray:
    _require_latent(sampler, "interpolate")
    _choice(method, INTERPOLATION_METHODS, "interpolate: method")
    steps = _positive_int(steps, "steps")
    if steps < 2:
        raise GenkitError(f"interpolate: steps must be at least 2 (the two endpoints); got {steps}.")
    start, end = _vectors(start, end)
    if start.shape != (sampler.latent_dim,):
        raise GenkitError(
            f"interpolate: {sampler.name} has latent_dim {sampler.latent_dim}; the endpoints must have shape "
            f"({sampler.latent_dim},); got {start.shape}."
        )
    path = (slerp if method == "slerp" else lerp)(start, end, np.linspace(0.0, 1.0, steps))
    return path.astype(np.float32)


def _repeat_labels(sampler: Sampler, labels, rows: int, per_row: int) -> np.ndarray | None:
    """One class per decoded image: `labels` (an int, or one per row) repeated along each row."""
    if not sampler.conditional:
        if labels is not None:
            raise GenkitError(
                f"{sampler.name} is unconditional; drop label (--label), which only conditional exports take."
            )
        return None
    if labels is None:
        raise GenkitError(
            f"{sampler.name} is conditional: pass label=K (--label K), the class to decode with, "
            f"0..{sampler.num_classes - 1}."
        )
    labels = np.asarray(labels)
    if labels.ndim == 0:
        labels = np.full(rows, labels)
    if labels.shape != (rows,):
        raise GenkitError(f"Expected one label or one per row ({rows}); got shape {labels.shape}.")
    return np.repeat(labels, per_row)  # the Sampler checks type and range


def _from_standard_normal(sampler: Sampler, eps: np.ndarray) -> np.ndarray:
    """Map standard-normal coordinates to the export's prior: z = μ + L ε (identity for N(0, I))."""
    prior = sampler.manifest["prior"]  # validated when the Sampler opened the export
    if prior["kind"] == "standard_normal":
        return eps
    return np.asarray(prior["mean"]) + eps @ np.asarray(prior["scale_tril"]).T


def _pairs(pairs, count: int, rows: int, rng: np.random.Generator, groups) -> np.ndarray:
    """`(P, 2)` image indexes: the given pairs, or `rows` random pairs (within a class if `groups`)."""
    if pairs is not None:
        chosen = np.asarray(pairs)
        if chosen.ndim != 2 or chosen.shape[1] != 2 or not np.issubdtype(chosen.dtype, np.integer):
            raise GenkitError(f"--pair takes two image indexes, e.g. --pair 0 5; got {pairs!r}.")
        bad = chosen[(chosen < 0) | (chosen >= count)]
        if bad.size:
            raise GenkitError(f"--pair: image {int(bad[0])} is outside the data's {count} images (0..{count - 1}).")
        return chosen
    if groups is None:
        if count < 2:
            raise GenkitError(f"Interpolating between data images needs at least 2 images; the data holds {count}.")
        return np.stack([rng.choice(count, 2, replace=False) for _ in range(rows)])
    members = [np.flatnonzero(groups == k) for k in np.unique(groups)]
    members = [m for m in members if len(m) >= 2]
    if not members:
        raise GenkitError("No class has two images to interpolate between; pass --label K to pair any two images.")
    return np.stack([rng.choice(members[r % len(members)], 2, replace=False) for r in range(rows)])


def _load_npz(path, sampler: Sampler, *, need_labels: str = "") -> tuple[np.ndarray, np.ndarray | None]:
    """Arrays `x` (checked against the export's image shape and range) and `y` (or None) of an .npz."""
    path = Path(path)
    encoder = sampler.manifest.get("encoding") or {}
    if encoder.get("label_input") and not need_labels:
        need_labels = f"{sampler.name}'s encoder is conditional and takes each image's class"
    how = "as `genkit sample EXPORT --n 500 --out data.npz` writes, or np.savez(path, x=x, y=y)"
    if not path.is_file():
        raise GenkitError(f"--data {path} does not exist. Pass an .npz with arrays x (N, H, W, C) and y (N,), {how}.")
    try:
        arrays = np.load(path, allow_pickle=False)
        if not isinstance(arrays, np.lib.npyio.NpzFile):
            raise ValueError("it holds one array, not named arrays")
        with arrays:
            names = list(arrays.files)
            x = arrays["x"] if "x" in names else None
            y = arrays["y"] if "y" in names else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise GenkitError(f"--data {path} is not a readable .npz file ({exc}). Write arrays x and y {how}.") from None
    if x is None:
        raise GenkitError(f"--data {path} has no array x (it holds {', '.join(names) or 'nothing'}); write it {how}.")
    if x.shape[1:] != sampler.image_shape or len(x) == 0:
        raise GenkitError(
            f"--data {path}: x has shape {x.shape}; {sampler.name} takes images (N, "
            f"{', '.join(map(str, sampler.image_shape))}) with N >= 1 (for grayscale (N, H, W), save x[..., None])."
        )
    x = x.astype(np.float32, copy=False)
    low, high = sampler.value_range
    slack = 1e-3 * (high - low)
    if not np.isfinite(x).all() or x.min() < low - slack or x.max() > high + slack:
        raise GenkitError(
            f"--data {path}: x holds values in [{np.nanmin(x):g}, {np.nanmax(x):g}] (finite: {np.isfinite(x).all()}); "
            f"{sampler.name} takes images in [{low:g}, {high:g}]. Rescale it (e.g. x / 255 for 8-bit images)."
        )
    if y is not None and (y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer)):
        raise GenkitError(
            f"--data {path}: y must be {len(x)} integer labels, shape ({len(x)},); got {y.dtype} {y.shape}."
        )
    if y is None and need_labels:
        raise GenkitError(f"--data {path} has no array y, but {need_labels}. Write x with its labels y {how}.")
    return x, y


def _labelled(x, y, tool: str, why: str) -> tuple[np.ndarray, np.ndarray]:
    if y is None:
        raise GenkitError(f"{tool} needs labels y, one per image: it computes {why}.")
    x, y = np.asarray(x), np.asarray(y)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise GenkitError(f"{tool}: y must be {len(x)} integer labels, shape ({len(x)},); got {y.dtype} {y.shape}.")
    return x, y


def _require_latent(sampler: Sampler, tool: str) -> None:
    if sampler.is_diffusion or sampler.latent_dim is None:
        raise GenkitError(
            f"{tool} works in the latent space of latent-variable exports (autoencoders, VAEs, CVAEs, GAN "
            f"generators); {sampler.name} is a '{sampler.family}' export without a latent_dim."
        )


def _require_encoder(sampler: Sampler, tool: str, why: str) -> None:
    if not sampler.manifest.get("encoding"):
        raise GenkitError(
            f"{tool} needs an encoder ({why}), but {sampler.name} is a '{sampler.family}' export without one "
            "(manifest encoding: null). Use the export of an autoencoder, VAE or CVAE; for a GAN, interpolate "
            "between prior draws (`genkit explore EXPORT interpolate` without --data) or map a 2-D latent "
            "space with `manifold`."
        )


def _png_path(path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise GenkitError(f"Latent tools write PNG images: '{path}' must end in .png; got suffix '{path.suffix}'.")
    return path


def _choice(value, options: tuple, what: str) -> None:
    if value not in options:
        raise GenkitError(f"{what}: got {value!r}. {did_you_mean(value, options)}")


def _span(span) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in span)
    except (TypeError, ValueError):
        raise GenkitError(f"manifold_grid: span must be two probabilities (low, high); got {span!r}.") from None
    if not 0.0 < low < high < 1.0:
        raise GenkitError(
            f"manifold_grid: span must satisfy 0 < low < high < 1 (the inverse normal CDF is infinite at 0 "
            f"and 1); got ({low:g}, {high:g})."
        )
    return low, high


def _given(**options) -> dict:
    """The options the caller set (not None): the rest take the tool's default."""
    return {name: value for name, value in options.items() if value is not None}


def _default(function, name: str):
    return inspect.signature(function).parameters[name].default
