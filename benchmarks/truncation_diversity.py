"""How much the truncation trick narrows a StyleGAN export's samples (onnxruntime only).

For each ψ, `Sampler.sample(n, seed=s, truncation=ψ)` (what `genkit sample --truncation ψ`
draws) for several seeds; printed: the mean pairwise Euclidean distance between the images
(pixels in the data range), averaged over the seeds, its ratio to ψ = 1, and the share of
seeds whose distance is below ψ = 1's for the same seed. Real test images are not needed: the
comparison is between ψ values of one export.

    python benchmarks/truncation_diversity.py exports/stylegan_shapes --n 16 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse

import numpy as np

from genkit.runtime import Sampler


def mean_pairwise_distance(x: np.ndarray) -> float:
    flat = x.reshape(len(x), -1).astype(np.float64)
    squared = (flat**2).sum(1)
    d2 = np.maximum(squared[:, None] + squared[None, :] - 2.0 * flat @ flat.T, 0.0)
    upper = np.triu_indices(len(x), k=1)
    return float(np.sqrt(d2[upper]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--psi", type=float, nargs="+", default=[1.0, 0.7, 0.5, 0.0])
    args = parser.parse_args()
    sampler = Sampler(args.export)
    by_psi = {
        psi: [mean_pairwise_distance(sampler.sample(args.n, seed=seed, truncation=psi)[0]) for seed in args.seeds]
        for psi in args.psi
    }
    reference = by_psi.get(1.0) or by_psi[args.psi[0]]
    print(f"{sampler.name}: n = {args.n} per seed, seeds {args.seeds}, provider {sampler.provider}")
    print(f"{'psi':>6}{'mean pairwise distance':>25}{'ratio to psi=1':>16}{'seeds below psi=1':>19}")
    for psi, distances in by_psi.items():
        below = sum(d < r for d, r in zip(distances, reference))
        print(f"{psi:>6.2f}{np.mean(distances):>25.3f}{np.mean(distances) / np.mean(reference):>16.3f}{below:>15}/{len(distances)}")


if __name__ == "__main__":
    main()
