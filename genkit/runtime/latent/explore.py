"""`genkit explore EXPORT TOOL`: the latent figures of an export, from the command line.

`explore_<tool>(export_dir, out, ...)` opens the export, reads the data images (an `.npz`
with arrays `x` and `y`, as `genkit sample --out FILE.npz` writes), draws the figure with
`genkit.runtime.latent.figures` and returns the line the CLI prints.

Example:
    print(explore_manifold("exports/vae_mnist", "map.png", n=20))   # latent_dim 2 only
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path

import numpy as np

from genkit.errors import GenkitError
from genkit.runtime.input_images import load_npz
from genkit.runtime.latent.checks import png_path, require_encoder, require_latent
from genkit.runtime.latent.figures import interpolation_strip, latent_arithmetic, latent_scatter, manifold_grid
from genkit.runtime.latent.maths import from_standard_normal
from genkit.runtime.sampler import Sampler, check_count, positive_int

MAX_ROWS = 1_000  # explore interpolate --rows

__all__ = ["explore_arithmetic", "explore_interpolate", "explore_manifold", "explore_scatter"]


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

    Budgets, checked before anything is drawn or decoded: rows <= MAX_ROWS (1,000), steps
    <= 1,000, rows x steps images within `check_count` (100,000 images, 1 GiB) and the PNG
    within MAX_GRID_PIXELS; `data` as `load_npz` checks it (1 GiB per array, by its header).
    """
    out = png_path(out)
    start = time.perf_counter()
    sampler = Sampler(export_dir)
    require_latent(sampler, "interpolate")
    rows = positive_int(rows, "rows")
    if rows > MAX_ROWS:
        raise GenkitError(f"--rows is {rows:,}; at most {MAX_ROWS:,} strips are drawn at a time.")
    check_count(rows * (steps if steps is not None else 2), "rows x steps", sampler.image_shape, extra_values=2 * sampler.latent_dim)
    rng = np.random.default_rng(seed)
    if data is None:
        if pairs is not None:
            raise GenkitError("--pair picks images from --data; pass --data FILE.npz with arrays x and y too.")
        eps = rng.standard_normal((rows, 2, sampler.latent_dim))
        ends = from_standard_normal(sampler.manifest["prior"], eps)  # (rows, 2, latent_dim)
        if sampler.codes is not None:  # InfoGAN: the code slots are drawn from the codes' own priors
            flat = ends.reshape(rows * 2, sampler.latent_dim)
            ends = sampler.codes.fill(flat, sampler.codes.draw(rng, rows * 2)).reshape(ends.shape)
        labels = label
        if sampler.conditional and label is None:
            labels = np.arange(rows) % sampler.num_classes
        source = f"{rows} pairs of prior draws (seed {seed})"
    else:
        require_encoder(sampler, "interpolate --data", "it maps the data images to latents")
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
    out = png_path(out)
    start = time.perf_counter()
    sampler = Sampler(export_dir)
    require_latent(sampler, "latent_arithmetic")
    require_encoder(sampler, "latent_arithmetic", "it averages the encodings of real images of each class")
    x, y = _load_npz(data, sampler, need_labels="latent arithmetic averages the latents of each class")
    latent_arithmetic(sampler, x, y, a, b, c, path=out, label=label, **_given(n=n))
    n = n or _default(latent_arithmetic, "n")
    return (
        f"Wrote mean({a}) - mean({b}) + mean({c}) (up to {n} images each from {data}) of {sampler.name} "
        f"to {out} in {time.perf_counter() - start:.2f} s with onnxruntime on {sampler.provider}."
    )


def explore_manifold(export_dir, out, *, n: int | None = None, span=None, label: int | None = None) -> str:
    """`genkit explore EXPORT manifold`: see `manifold_grid`."""
    out = png_path(out)
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
    out = png_path(out)
    start = time.perf_counter()
    sampler = Sampler(export_dir)
    require_latent(sampler, "latent_scatter")
    require_encoder(sampler, "latent_scatter", "it plots the encodings of real images")
    x, y = _load_npz(data, sampler)
    points, _ = latent_scatter(sampler, x, y, out, **_given(method=method, max_points=max_points, seed=seed))
    method = method or _default(latent_scatter, "method")
    return (
        f"Wrote a {method} scatter of {len(points)} encoded images of {data} ({sampler.name}) "
        f"to {out} in {time.perf_counter() - start:.2f} s with onnxruntime on {sampler.provider}."
    )


# --------------------------------------------------------------------------- helpers
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
    arrays = load_npz(path, "--data")
    names = list(arrays)
    x, y = arrays.get("x"), arrays.get("y")
    if x is None:
        raise GenkitError(f"--data {path} has no array x (it holds {', '.join(names) or 'nothing'}); write it {how}.")
    if x.shape[1:] != sampler.image_shape or len(x) == 0 or not np.issubdtype(x.dtype, np.number) or x.dtype.kind == "c":
        raise GenkitError(
            f"--data {path}: x has shape {x.shape} ({x.dtype}); {sampler.name} takes images (N, "
            f"{', '.join(map(str, sampler.image_shape))}) with N >= 1 of real numbers (for grayscale (N, H, W), save "
            "x[..., None])."
        )
    check_count(len(x), "--data images", sampler.image_shape)
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


def _given(**options) -> dict:
    """The options the caller set (not None): the rest take the tool's default."""
    return {name: value for name, value in options.items() if value is not None}


def _default(function, name: str):
    return inspect.signature(function).parameters[name].default
