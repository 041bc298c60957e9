"""The `shapes` source: coloured sprites with known factors, drawn by genkit itself.

A colour take on dSprites (Matthey et al. 2017, "dSprites: disentanglement testing sprites
dataset"): one shape on a black background, made from six independent factors,

    shape     square, ellipse, heart, triangle                  (4; the labels)
    colour    red, orange, yellow, green, blue, magenta          (6)
    scale     0.6 .. 1.0 of the largest size                     (6)
    rotation  0, 22.5, ..., 337.5 degrees, counter-clockwise      (16)
    x, y      0.3 .. 0.7 of the image side, from left / top       (12 each)

331,776 combinations. `data.shapes.seed` shuffles them; the first `train_size` are the
training images and the last `test_size` the test images, so no combination is in both
splits and a change of `train_size` leaves the test images as they were. The spec seed
plays no part: every run on `shapes` is scored against the same test images, in the same
feature space. As in dSprites, symmetric shapes repeat under some rotations (a square
every 90 degrees, an ellipse every 180, a triangle every 120).

Images are rendered at `data.image_size` (default 64x64; any square size of 16 or more),
anti-aliased: each shape is sampled at `SUPERSAMPLE` x `SUPERSAMPLE` points per pixel and
every pixel holds the share of its points inside the shape (area averaging), times the
colour. Each (shape, scale, rotation) sprite is sampled once and pasted at every position
that uses it (positions are rounded to 1 / SUPERSAMPLE of a pixel), so 22,000 images of
64x64 take about a second. Rendered sets are cached (`genkit.cache`), keyed by
`GENERATOR_VERSION`, size, counts and seed.

The labels are the shape; every factor of every image is in `Dataset.factors_*`, described
by `FACTOR_SPACE` (see `genkit.data.factors`).
"""

from __future__ import annotations

import json

import numpy as np

from genkit.cache import cache_dir
from genkit.data.factors import FactorSpace
from genkit.data.source import RawData, data_error, register_source
from genkit.spec.data_rules import SHAPES_MIN_SIZE

__all__ = ["FACTOR_SPACE", "GENERATOR_VERSION", "PALETTE", "SHAPES", "SUPERSAMPLE", "render", "shapes", "shapes_factors"]

# Change it whenever a change here changes a rendered pixel, so cached sets are redrawn.
GENERATOR_VERSION = "shapes-1"
DEFAULT_SIZE = 64
SUPERSAMPLE = 4  # samples per pixel along each axis (16 per pixel)

SHAPES = ("square", "ellipse", "heart", "triangle")
# Hues 0, 30, 55, 125, 220 and 300 degrees, bright enough to stand out from black.
PALETTE = {
    "red": (235, 45, 45),
    "orange": (250, 145, 25),
    "yellow": (240, 225, 40),
    "green": (40, 190, 70),
    "blue": (55, 105, 250),
    "magenta": (220, 60, 220),
}
SCALES = np.linspace(0.6, 1.0, 6)
ROTATIONS = np.arange(16) * 22.5  # degrees
POSITIONS = np.linspace(0.3, 0.7, 12)  # centre, as a fraction of the image side
RADIUS = 0.25  # radius of the circle around a shape of scale 1, as a fraction of the side

FACTOR_SPACE = FactorSpace(
    names=("shape", "colour", "scale", "rotation", "x", "y"),
    values=(np.arange(len(SHAPES)), np.arange(len(PALETTE)), SCALES, ROTATIONS, POSITIONS, POSITIONS),
    categorical=(True, True, False, False, False, False),
    label="shape",
    value_names=(SHAPES, tuple(PALETTE), (), (), (), ()),
)
SHAPE, COLOUR, SCALE, ROTATION, X, Y = range(6)  # factor columns


@register_source("shapes")
def shapes(data) -> RawData:
    """The training and test images of `data.shapes`, rendered at `data.image_size`, from the cache when it has them."""
    size = image_side(data.image_size)
    spec = data.shapes
    total = int(np.prod(FACTOR_SPACE.sizes))
    if spec.train_size + spec.test_size > total:
        raise data_error(
            "shapes",
            f"train_size {spec.train_size:,} + test_size {spec.test_size:,} exceeds the {total:,} "
            "distinct images there are; lower them."
        )
    name = f"{GENERATOR_VERSION}-{size}px-{spec.train_size}+{spec.test_size}-seed{spec.seed}"
    entry = cache_dir("data") / name
    arrays = _read_entry(entry)
    if arrays is None:
        arrays = _render_entry(entry, size, spec)
    origin = (
        f"genkit shapes ({GENERATOR_VERSION}, {size}x{size} RGB, {len(SHAPES)} shapes x {len(PALETTE)} colours, "
        f"factors {', '.join(FACTOR_SPACE.names)}; seed {spec.seed}; cached in {entry})"
    )
    f_train, f_test = arrays["factors_train"], arrays["factors_test"]
    return RawData(
        arrays["x_train"], f_train[:, SHAPE], arrays["x_test"], f_test[:, SHAPE], origin=origin,
        factors_train=f_train, factors_test=f_test, factor_space=FACTOR_SPACE,
    )


def image_side(image_size) -> int:
    """The side of the square `shapes` images: `data.image_size`, else 64."""
    if image_size is None:
        return DEFAULT_SIZE
    height, width = image_size
    if height != width or height < SHAPES_MIN_SIZE:
        raise data_error(
            "image_size",
            f"shapes are drawn on a square of at least {SHAPES_MIN_SIZE}x{SHAPES_MIN_SIZE} pixels; got "
            f"[{height}, {width}]. Give one number, e.g. 32."
        )
    return int(height)


def shapes_factors(train_size: int, test_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) factor rows: disjoint draws, without repetition, from every combination.

    The seed's permutation of all combinations gives the training rows from its front and
    the test rows from its back, each (N, 6) int32 in the column order of `FACTOR_SPACE`.
    """
    sizes = FACTOR_SPACE.sizes
    order = np.random.default_rng(seed).permutation(int(np.prod(sizes)))
    train, test = order[:train_size], order[len(order) - test_size :]
    return tuple(np.stack(np.unravel_index(part, sizes), axis=1).astype(np.int32) for part in (train, test))


# --------------------------------------------------------------------------- drawing
def inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether the points (u, v) lie in `shape`, in its own frame: u right, v up, all within the unit circle."""
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.7  # corners at radius 0.99
    if shape == "ellipse":
        return (u / 0.95) ** 2 + (v / 0.5) ** 2 <= 1.0
    if shape == "triangle":
        # Equilateral, one corner up, circumradius 1: the three edges lie at distance 1/2 from
        # the centre, with outward normals at -90, 30 and 150 degrees.
        angles = np.deg2rad([-90.0, 30.0, 150.0])
        return np.all([u * np.cos(a) + v * np.sin(a) <= 0.5 for a in angles], axis=0)
    if shape == "heart":
        # Taubin's heart curve (x^2 + y^2 - 1)^3 = x^2 y^3; its area's centroid sits at y = 0.29
        # and its farthest point 1.29 from there, so it is shrunk by 1.3 and centred.
        x, y = u * 1.3, v * 1.3 + 0.2935
        return (x * x + y * y - 1.0) ** 3 - x * x * y**3 <= 0.0
    raise ValueError(f"unknown shape {shape!r}")


def sprite(shape: str, radius: float, degrees: float, supersample: int) -> np.ndarray:
    """The shape's samples, (2h, 2h) float32 0/1, around a centre on the sample grid's line h.

    `radius` is the shape's unit circle in pixels. Sample (i, j) sits at ((j - h + 0.5) / s,
    (i - h + 0.5) / s) pixels from the centre (rows down), with s = `supersample`.
    """
    h = int(np.ceil(radius * supersample)) + 1
    offsets = (np.arange(2 * h) - h + 0.5) / supersample / radius  # in units of the radius
    right, down = np.meshgrid(offsets, offsets)
    turn = np.deg2rad(degrees)  # counter-clockwise on the screen: rotate the points back by it
    up = -down
    u = right * np.cos(turn) + up * np.sin(turn)
    v = -right * np.sin(turn) + up * np.cos(turn)
    return inside(shape, u, v).astype(np.float32)


def render(factors: np.ndarray, size: int, supersample: int = SUPERSAMPLE) -> np.ndarray:
    """(N, size, size, 3) uint8 images of factor rows (N, 6): coloured shapes on black, anti-aliased."""
    s = supersample
    n = len(factors)
    pad = 2  # a sprite's tile may reach past the image's right or bottom edge by a pixel or two of zeros
    coverage = np.zeros((n, size + pad, size + pad), np.float32)  # share of each pixel the shape covers
    # Centres on the sample grid's lines, in samples: within 1 / (2 s) of a pixel of the factor's value.
    centre_x = np.rint(POSITIONS[factors[:, X]] * size * s).astype(np.int64)
    centre_y = np.rint(POSITIONS[factors[:, Y]] * size * s).astype(np.int64)
    kinds = np.ravel_multi_index((factors[:, SHAPE], factors[:, SCALE], factors[:, ROTATION]), FACTOR_SPACE.sizes[:1] + FACTOR_SPACE.sizes[2:4])
    for kind in np.unique(kinds):
        shape, scale, rotation = np.unravel_index(kind, FACTOR_SPACE.sizes[:1] + FACTOR_SPACE.sizes[2:4])
        samples = sprite(SHAPES[shape], RADIUS * SCALES[scale] * size, ROTATIONS[rotation], s)
        h = len(samples) // 2
        tile = -(-(2 * h + s - 1) // s)  # pixels a tile spans, for any offset of the sprite in its first pixel
        members = np.flatnonzero(kinds == kind)
        top, left = centre_y[members] - h, centre_x[members] - h  # first sample row / column in the image
        for offset in np.unique((top % s) * s + left % s):
            dy, dx = divmod(int(offset), s)
            # The sprite shifted by (dy, dx) samples inside whole pixels, then the mean of each s x s block.
            shifted = np.zeros((tile * s, tile * s), np.float32)
            shifted[dy : dy + 2 * h, dx : dx + 2 * h] = samples
            pixels = shifted.reshape(tile, s, tile, s).mean(axis=(1, 3))  # (tile, tile)
            same = (top % s == dy) & (left % s == dx)
            chosen, rows, cols = members[same], top[same] // s, left[same] // s  # the tiles' first pixels
            steps = np.arange(tile)
            coverage[chosen[:, None, None], rows[:, None, None] + steps[:, None], cols[:, None, None] + steps] = pixels
    colours = np.asarray(list(PALETTE.values()), np.float32)[factors[:, COLOUR]]  # (N, 3)
    out = np.empty((n, size, size, 3), np.uint8)
    for start in range(0, n, 4096):  # one float32 image batch at a time
        part = coverage[start : start + 4096, :size, :size, None] * colours[start : start + 4096, None, None, :]
        out[start : start + 4096] = np.rint(part)
    return out


# --------------------------------------------------------------------------- the cache
def _render_entry(entry, size: int, spec) -> dict:
    from genkit.atomic import atomic_directory

    factors_train, factors_test = shapes_factors(spec.train_size, spec.test_size, spec.seed)
    arrays = {
        "x_train": render(factors_train, size),
        "x_test": render(factors_test, size),
        "factors_train": factors_train,
        "factors_test": factors_test,
    }
    meta = {"generator": GENERATOR_VERSION, "size": size, "train_size": spec.train_size, "test_size": spec.test_size, "seed": spec.seed}
    try:
        with atomic_directory(entry) as tmp:
            for key, array in arrays.items():
                np.save(tmp / f"{key}.npy", array)
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    except OSError:
        pass  # a read-only or full cache only costs the next run a redraw
    return arrays


def _read_entry(entry) -> dict | None:
    """The cached arrays (memory-mapped: a run that keeps a few images reads only those), or None."""
    try:
        return {
            key: np.load(entry / f"{key}.npy", mmap_mode="r", allow_pickle=False)
            for key in ("x_train", "x_test", "factors_train", "factors_test")
        }
    except (OSError, ValueError):
        return None
