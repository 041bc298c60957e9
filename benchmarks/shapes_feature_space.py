"""Does FID in genkit's `shapes` feature space see wrong colours and wrong shapes?

genkit's CNN for `shapes` has a softmax head for the shape (the labels) and one for the colour;
see genkit/evaluate/features/cache.py. This script trains it and a CNN of the shape labels
alone (into a fresh cache, so the numbers are measured, not loaded) and prints FID against
2,000 real test images for:

- the floor: 2,000 other real test images (held out from every training), and 2,000
  training images (what `genkit evaluate` reports as fid_real_train);
- controls with the real distribution: colours permuted, shapes permuted (a permutation of
  a uniform, independent factor changes no image's probability, so FID should stay at the floor);
- wrong colours: every shape in a colour halfway between two palette colours, or all red;
- wrong shapes: every shape an ellipse, or every image blurred into blobs (sigma 1 pixel).

Usage:

    python benchmarks/shapes_feature_space.py            # 32x32, ~5 minutes on 2 CPU cores
    python benchmarks/shapes_feature_space.py --size 64
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

import numpy as np
from scipy import ndimage

from genkit.data import load_data
from genkit.data.shapes import PALETTE, render
from genkit.evaluate.distribution import frechet_distance
from genkit.evaluate.features import get_extractor
from genkit.spec.data_section import DataSpec

N = 2000
COLOUR, SHAPE = 1, 0


def image_sets(data, size: int) -> dict:
    """Sets of N images in [0, 1]; the distorted ones are drawn from the factors of the second test half."""
    rng = np.random.default_rng(0)
    factors = data.factors_test[N : 2 * N]
    real = data.x_test[N : 2 * N]

    def drawn(column, values):
        changed = factors.copy()
        changed[:, column] = values
        return render(changed, size).astype(np.float32) / 255.0

    palette = np.asarray(list(PALETTE.values()), np.float32)
    between = (palette + np.roll(palette, -1, axis=0)) / 2  # red-orange, ..., magenta-red
    coverage = real.max(axis=-1) / (palette[factors[:, COLOUR]].max(axis=1)[:, None, None] / 255.0)
    return {
        "real test images (other half)": real,
        "real training images": data.x_train[:N],
        "colours permuted (same distribution)": drawn(COLOUR, rng.permutation(6)[factors[:, COLOUR]]),
        "shapes permuted (same distribution)": drawn(SHAPE, rng.permutation(4)[factors[:, SHAPE]]),
        "colours between palette colours": coverage[..., None] * between[factors[:, COLOUR]][:, None, None, :] / 255.0,
        "every shape red": drawn(COLOUR, 0),
        "every shape an ellipse": drawn(SHAPE, 1),
        "blurred into blobs (sigma 1 px)": ndimage.gaussian_filter(real, sigma=(0, 1, 1, 0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--cache-dir", help="extractor cache (default: a fresh temporary folder)")
    args = parser.parse_args()
    cache = args.cache_dir or tempfile.mkdtemp(prefix="genkit-shapes-features-")

    # test_size 2N: two halves of real images that no extractor trains on.
    data = load_data(DataSpec(source="shapes", image_size=args.size, labels=True, shapes={"test_size": 2 * N}), seed=0)
    print(data.describe())
    shape_only = dataclasses.replace(data, factor_space=None, factors_train=None, factors_val=None, factors_test=None)
    extractors = {}
    for name, dataset in (("shape + colour heads (genkit)", data), ("shape labels only", shape_only)):
        start = time.perf_counter()
        extractors[name] = get_extractor(dataset, cache_dir=cache)
        print(f"{name}: {extractors[name].describe()} [{time.perf_counter() - start:.0f} s]")

    reference = data.x_test[:N]
    sets = image_sets(data, args.size)
    print(f"\nFID against {N} real test images, {args.size}x{args.size}:")
    print(f"{'images':40s}" + "".join(f"{name:>26s}" for name in extractors))
    floors = {}
    for label, images in sets.items():
        row = []
        for name, extractor in extractors.items():
            fid = frechet_distance(extractor.features(reference), extractor.features(images))
            floors.setdefault(name, fid)
            row.append(f"{fid:12.2f} ({fid / floors[name]:6.1f}x)")
        print(f"{label:40s}" + "".join(f"{cell:>26s}" for cell in row))
    print("(x: times the floor, the first row)")


if __name__ == "__main__":
    main()
