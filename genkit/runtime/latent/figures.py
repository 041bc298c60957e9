"""Latent figures of an export: interpolation strips, latent arithmetic, 2-D maps, scatter plots.

Each tool is a function of a `Sampler` and NumPy arrays; the ones that take a `path` write a
PNG atomically (through `genkit.runtime.images.save_grid` and `genkit.runtime.plots`) and
return the array they drew. The maths is in `genkit.runtime.latent.maths`.

- `interpolate` / `interpolation_strip`: decode points on the path between two latents,
  straight (`lerp`) or along the great circle (`slerp`, White 2016). `encode_pair` gives
  the endpoints of two real images.
- `latent_arithmetic`: mean latent of class A − class B + class C, decoded.
- `manifold_grid`: the "digit map" of a 2-D latent space (Kingma & Welling 2014, fig. 4).
- `latent_scatter`: encoded data reduced to 2-D by PCA or t-SNE (van der Maaten & Hinton
  2008), coloured by label.
"""

from __future__ import annotations

import numpy as np

from genkit.errors import GenkitError
from genkit.runtime.images import check_grid_size, save_grid
from genkit.runtime.latent.checks import (
    check_choice,
    check_labelled,
    check_span,
    png_path,
    require_encoder,
    require_latent,
)
from genkit.runtime.latent.maths import (
    INTERPOLATION_METHODS,
    SCATTER_METHODS,
    from_standard_normal,
    lerp,
    project_2d,
    quantile_grid,
    slerp,
    vector_pair,
)
from genkit.runtime.plots import save_scatter
from genkit.runtime.sampler import Sampler, check_count, positive_int

MAX_MANIFOLD_SIDE = 300  # manifold_grid: n x n <= 90,000 images
MAX_INTERPOLATION_STEPS = 1_000  # images per interpolation path

__all__ = ["MAX_INTERPOLATION_STEPS", "MAX_MANIFOLD_SIDE", "encode_pair", "interpolate", "interpolation_strip", "latent_arithmetic", "latent_scatter", "manifold_grid"]


def interpolate(sampler: Sampler, start, end, *, steps: int = 10, method: str = "linear", label=None) -> np.ndarray:
    """Decode `steps` latents evenly spaced from `start` to `end` (both included).

    Args:
        sampler: an export that can sample (autoencoder, VAE, CVAE, GAN generator).
        start, end: latent vectors `(latent_dim,)`, e.g. from `encode_pair` or the prior.
        steps: number of images, 2 to MAX_INTERPOLATION_STEPS (1,000); the first decodes
            `start`, the last `end`.
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
    require_encoder(sampler, "encode_pair", "it maps images to latents")
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

    Returns the images `(P * steps, H, W, C)`, row by row. Before anything is decoded,
    P * steps must fit `check_count` (at most 100,000 images, 1 GiB) and the grid
    MAX_GRID_PIXELS (134 M pixels).
    """
    path = png_path(path)
    pairs = np.asarray(pairs, dtype=np.float64)
    if pairs.ndim != 3 or pairs.shape[1] != 2 or len(pairs) == 0:
        raise GenkitError(
            f"interpolation_strip: pairs must have shape (P, 2, latent_dim) with P >= 1; got {pairs.shape}."
        )
    steps = positive_int(steps, "steps")
    check_count(len(pairs) * steps, "rows x steps (images in the strips)", sampler.image_shape)
    check_grid_size(len(pairs), steps, sampler.image_shape, path)
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
    path = png_path(path)
    require_latent(sampler, "latent_arithmetic")
    require_encoder(sampler, "latent_arithmetic", "it averages the encodings of real images of each class")
    n = check_count(n, "n", (1,))
    x, y = check_labelled(x, y, "latent_arithmetic", "the mean latent of each class")
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
        n: cells per side, 2 to MAX_MANIFOLD_SIDE (300); the grid must also fit
            MAX_GRID_PIXELS, checked before anything is decoded.
        span: the lowest and highest probability, `0 < low < high < 1`.
        label: conditional exports: the class every cell is decoded with.

    Returns the images `(n * n, H, W, C)`, row by row.
    """
    path = png_path(path)
    require_latent(sampler, "manifold_grid")
    if sampler.latent_dim != 2:
        raise GenkitError(
            f"manifold_grid draws a 2-D latent space as a grid; {sampler.name} has latent_dim "
            f"{sampler.latent_dim}. Train with model.latent_dim: 2 for a map, or use latent_scatter "
            "(`genkit explore EXPORT scatter`) to see a larger latent space through PCA or t-SNE."
        )
    n = positive_int(n, "n")
    if n < 2:
        raise GenkitError(f"manifold_grid: n must be at least 2 cells per side; got {n}.")
    if n > MAX_MANIFOLD_SIDE:
        raise GenkitError(f"manifold_grid: n is {n:,} cells per side; at most {MAX_MANIFOLD_SIDE} ({MAX_MANIFOLD_SIDE**2:,} images).")
    check_count(n * n, "n x n (the map's images)", sampler.image_shape)
    check_grid_size(n, n, sampler.image_shape, path)
    low, high = check_span(span)
    eps = quantile_grid(n, low, high)  # (n * n, 2)
    z = from_standard_normal(sampler.manifest["prior"], eps)
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
    path = png_path(path)
    require_latent(sampler, "latent_scatter")
    require_encoder(sampler, "latent_scatter", "it plots the encodings of real images")
    check_choice(method, SCATTER_METHODS, "latent_scatter: method")
    max_points = check_count(max_points, "max_points", (1,))  # at most 100,000 points
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
    points, axes, perplexity = project_2d(z, method, seed)
    name, detail = ("PCA", "") if perplexity is None else ("t-SNE", f", perplexity {perplexity:.0f}")
    title = f"{sampler.name}: {name} of {code} ({len(z)} images{detail})"
    save_scatter(points, path, labels=labels, title=title, xlabel=axes[0], ylabel=axes[1])
    return points, index


# --------------------------------------------------------------------------- helpers
def _path_latents(sampler: Sampler, start, end, steps, method) -> np.ndarray:
    require_latent(sampler, "interpolate")
    check_choice(method, INTERPOLATION_METHODS, "interpolate: method")
    steps = positive_int(steps, "steps")
    if not 2 <= steps <= MAX_INTERPOLATION_STEPS:
        raise GenkitError(
            f"interpolate: steps must be at least 2 (the two endpoints) and at most {MAX_INTERPOLATION_STEPS:,}; got {steps:,}."
        )
    start, end = vector_pair(start, end)
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
