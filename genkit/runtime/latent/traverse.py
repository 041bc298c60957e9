"""Latent traversals: vary one factor along each row of a grid, everything else held fixed.

A traversal grid shows what one factor of a latent space does: each row keeps z (and the
other codes) fixed and changes one factor along its columns. Rows come in blocks, one per
factor:

- `code_traversals`: an InfoGAN export's codes (Chen et al. 2016, figure 2): a block per code,
  `rows` rows each with its own z and other codes; a categorical code takes each of its values,
  a continuous one `steps` values over `span` (default −2..2, beyond the prior's −1..1 as in
  the paper, to show where the factor keeps going).
- `latent_traversals`: any other latent export: one row per dimension of z, around one prior
  draw, that dimension moved over `span` prior standard deviations. Which dimensions and in
  which order is `traversal_dimensions`'s choice: a VAE export records each dimension's mean
  KL(q(z_j|x) ‖ N(0, 1)) (manifest `latent_kl`), and its rows go highest KL first, each
  labelled with it, so the dimensions that carry information lead and collapsed ones (KL ≈ 0)
  come last; other exports keep index order.
- `traversal_grid`: decode the blocks and write the PNG (rows of unequal length are padded).
- `explore_traverse`: `genkit explore EXPORT traverse --out grid.png`.

Example:
    sampler = Sampler("exports/infogan_mnist")
    traversal_grid(sampler, "codes.png", code_traversals(sampler, rows=3))
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from genkit.errors import GenkitError
from genkit.runtime.images import check_grid_size, save_grid
from genkit.runtime.latent.checks import png_path, require_latent
from genkit.runtime.latent.maths import from_standard_normal, prior_moments
from genkit.runtime.sampler import Sampler, check_count, positive_int

__all__ = [
    "MAX_TRAVERSE_DIMS",
    "Traversal",
    "code_traversals",
    "explore_traverse",
    "latent_traversals",
    "traversal_dimensions",
    "traversal_grid",
]

MAX_TRAVERSE_DIMS = 64  # latent dimensions drawn when none are chosen
MAX_STEPS = 100  # images per traversal row
MAX_ROWS = 100  # rows per code block


class Traversal(NamedTuple):
    """One block of a traversal grid: a row label per row and the latents `(rows, columns, latent_dim)`."""

    labels: list
    latents: np.ndarray


def code_traversals(sampler: Sampler, *, rows: int = 4, steps: int = 10, span=(-2.0, 2.0), seed: int = 0) -> list[Traversal]:
    """A block per code of an InfoGAN export: each row one draw of z and the other codes, the code varied along it."""
    codes = _require_codes(sampler)
    rows, steps, (low, high) = _check_size(rows, "rows", 1, MAX_ROWS), _check_size(steps, "steps", 2, MAX_STEPS), _check_span(span)
    rng = np.random.default_rng(seed)
    z = from_standard_normal(sampler.manifest["prior"], rng.standard_normal((rows, sampler.latent_dim)))  # (rows, d)
    fixed = codes.draw(rng, rows)  # name -> (rows,): the other codes, one draw per row
    blocks = []
    for variable in codes.variables:
        name = variable["name"]
        along = np.arange(variable["size"]) if variable["kind"] == "categorical" else np.linspace(low, high, steps)
        latents = np.stack(
            [
                codes.fill(np.repeat(z[r : r + 1], len(along), axis=0), {**{k: np.full(len(along), v[r]) for k, v in fixed.items()}, name: along})
                for r in range(rows)
            ]
        )  # (rows, len(along), d)
        first = f"{name} {along[0]:g}..{along[-1]:g}"
        blocks.append(Traversal([first] + [""] * (rows - 1), latents))
    return blocks


def traversal_dimensions(sampler: Sampler, dims=None) -> list[int]:
    """The latent dimensions to traverse, in row order: `dims` as given, else MAX_TRAVERSE_DIMS of them,
    highest KL first when the export records each dimension's KL (`latent_kl`), else in index order."""
    if dims is None:
        kl = sampler.manifest.get("latent_kl")
        order = range(sampler.latent_dim) if kl is None else sorted(range(sampler.latent_dim), key=lambda d: (-kl[d], d))
        return list(order)[:MAX_TRAVERSE_DIMS]
    chosen = [int(d) for d in dims]
    bad = [d for d in chosen if not 0 <= d < sampler.latent_dim]
    if bad:
        raise GenkitError(f"--dims: {sampler.name} has latent dimensions 0..{sampler.latent_dim - 1}; got {bad[0]}.")
    if len(chosen) > MAX_TRAVERSE_DIMS:
        raise GenkitError(f"--dims names {len(chosen)} dimensions; at most {MAX_TRAVERSE_DIMS} rows are drawn at a time.")
    return chosen


def latent_traversals(sampler: Sampler, dims, *, steps: int = 10, span=(-2.0, 2.0), seed: int = 0) -> list[Traversal]:
    """A row per latent dimension in `dims` (in that order) around one prior draw, moved over `span` standard deviations."""
    if sampler.codes is not None:
        raise GenkitError(f"{sampler.name} has latent codes; traverse them with code_traversals (its z is noise).")
    steps, (low, high) = _check_size(steps, "steps", 2, MAX_STEPS), _check_span(span)
    prior = sampler.manifest["prior"]
    d = sampler.latent_dim
    base = from_standard_normal(prior, np.random.default_rng(seed).standard_normal((1, d)))[0]  # (d,)
    mean, std = prior_moments(prior, d)
    along = np.linspace(low, high, steps)
    latents = np.repeat(base[None, None, :], len(dims), axis=0).repeat(steps, axis=1)  # (dims, steps, d)
    for row, dim in enumerate(dims):
        latents[row, :, dim] = mean[dim] + along * std[dim]
    kl = sampler.manifest.get("latent_kl")
    labels = [f"z{dim}" if kl is None else f"z{dim} KL {kl[dim]:.2f}" for dim in dims]
    return [Traversal(labels, latents)]


def traversal_grid(sampler: Sampler, path, blocks: list[Traversal], *, label=None) -> np.ndarray:
    """Decode `blocks` and write them as one PNG grid, shorter rows padded blank; returns the grid's cells.

    `label`: the class a conditional export decodes every image with. The images (at most
    `check_count`'s budget) and the PNG (MAX_GRID_PIXELS) are checked before anything is decoded.
    """
    path = png_path(path)
    cols = max(block.latents.shape[1] for block in blocks)
    rows = sum(len(block.latents) for block in blocks)
    check_count(rows * cols, "the traversal's images", sampler.image_shape)
    check_grid_size(rows, cols, sampler.image_shape, path)
    latents = [block.latents.reshape(-1, block.latents.shape[-1]) for block in blocks]
    images = sampler.decode(np.concatenate(latents).astype(np.float32), _labels(sampler, label, sum(len(z) for z in latents)))
    cells, at = [], 0
    for block in blocks:
        count, width = block.latents.shape[:2]
        part = images[at : at + count * width].reshape(count, width, *sampler.image_shape)
        blank = np.full((count, cols - width, *sampler.image_shape), np.nan, np.float32)
        cells.append(np.concatenate([part, blank], axis=1).reshape(-1, *sampler.image_shape))
        at += count * width
    grid = np.concatenate(cells)
    save_grid(grid, path, nrow=cols, row_labels=[text for block in blocks for text in block.labels], value_range=sampler.value_range)
    return grid


def explore_traverse(
    export_dir, out, *, rows: int | None = None, steps: int | None = None, span=None, dims=None, label: int | None = None, seed: int = 0
) -> str:
    """`genkit explore EXPORT traverse`: codes of an InfoGAN export, else dimensions of z (see the module)."""
    out = png_path(out)
    start = time.perf_counter()
    sampler = Sampler(export_dir)
    require_latent(sampler, "traverse")
    options = {k: v for k, v in (("steps", steps), ("span", span)) if v is not None}
    if sampler.codes is not None:
        if dims is not None:
            raise GenkitError(f"--dims picks dimensions of z; {sampler.name} has latent codes, traversed one block each. Drop --dims.")
        blocks = code_traversals(sampler, seed=seed, **options, **({"rows": rows} if rows is not None else {}))
        what = f"its codes {', '.join(sampler.codes.names)}, {len(blocks[0].latents)} rows each"
    else:
        if rows is not None:
            raise GenkitError(f"--rows sets the rows per code of InfoGAN exports; {sampler.name} gets a row per latent dimension (--dims).")
        chosen = traversal_dimensions(sampler, dims)
        blocks = latent_traversals(sampler, chosen, seed=seed, **options)
        if dims is not None:
            order = "in the order of --dims"
        elif sampler.manifest.get("latent_kl") is not None:
            order = "highest KL(q(z_j|x) ‖ N(0, 1)) first, each labelled with it in nats"
        else:
            order = "in index order: the export records no per-dimension KL"
        what = f"{len(chosen)} of its {sampler.latent_dim} latent dimensions, a row each, {order}"
    traversal_grid(sampler, out, blocks, label=label)
    return (
        f"Wrote traversals of {sampler.name} ({what}) to {out} in {time.perf_counter() - start:.2f} s "
        f"with onnxruntime on {sampler.provider}."
    )


# --------------------------------------------------------------------------- helpers
def _require_codes(sampler: Sampler):
    if sampler.codes is None:
        raise GenkitError(f"{sampler.name} is a '{sampler.family}' export without latent codes; traverse its z with latent_traversals.")
    return sampler.codes


def _check_size(value, name: str, least: int, most: int) -> int:
    value = positive_int(value, f"--{name}")
    if not least <= value <= most:
        raise GenkitError(f"--{name} is {value}; expected {least} to {most}.")
    return value


def _check_span(span) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in span)
    except (TypeError, ValueError):
        raise GenkitError(f"--span takes two numbers LOW HIGH, e.g. --span -2 2; got {span!r}.") from None
    if not np.isfinite([low, high]).all() or low >= high:
        raise GenkitError(f"--span needs finite LOW < HIGH; got {low:g} {high:g}.")
    return low, high


def _labels(sampler: Sampler, label, n: int):
    """The class every image is decoded with: conditional exports need one, others take none."""
    if sampler.conditional and label is None:
        raise GenkitError(f"{sampler.name} is conditional: pass --label K, the class to decode with, 0..{sampler.num_classes - 1}.")
    if not sampler.conditional and label is not None:
        raise GenkitError(f"{sampler.name} is unconditional; drop --label, which only conditional exports take.")
    return None if label is None else np.full(n, label)
