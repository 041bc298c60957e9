"""Explore an export's latent space: interpolations, latent arithmetic, 2-D maps, scatter plots.

The tools run on onnxruntime alone (matplotlib and scikit-learn are imported inside the
functions that draw or project), so they work wherever `genkit sample` does.

- `maths`: pure NumPy — `lerp`, `slerp` (White 2016), the Gaussian-quantile grid of a 2-D
  map, PCA / t-SNE projections.
- `figures`: the tools on a `Sampler` — `interpolate`, `encode_pair`,
  `interpolation_strip`, `latent_arithmetic`, `manifold_grid` (Kingma & Welling 2014,
  fig. 4), `latent_scatter` (van der Maaten & Hinton 2008); the ones that take a `path`
  write a PNG atomically and return the array they drew.
- `traverse`: one factor varied per row (an InfoGAN code, or a dimension of z), the rest fixed;
  `explore_traverse` is its command.
- `explore`: `explore_<tool>(export_dir, out, ...)`, the `genkit explore` commands.
- `checks`: the argument checks the figures and commands share.

Example:
    sampler = Sampler("exports/vae_mnist")
    z_a, z_b = encode_pair(sampler, x[0], x[1])
    strip = interpolate(sampler, z_a, z_b, steps=8, method="slerp")   # (8, 28, 28, 1)
    manifold_grid(sampler, "map.png", n=20)                           # latent_dim 2 only
"""

from genkit.runtime.latent.explore import explore_arithmetic, explore_interpolate, explore_manifold, explore_scatter
from genkit.runtime.latent.figures import (
    encode_pair,
    interpolate,
    interpolation_strip,
    latent_arithmetic,
    latent_scatter,
    manifold_grid,
)
from genkit.runtime.latent.maths import INTERPOLATION_METHODS, SCATTER_METHODS, lerp, slerp
from genkit.runtime.latent.traverse import (
    Traversal,
    code_traversals,
    explore_traverse,
    latent_traversals,
    traversal_dimensions,
    traversal_grid,
)

__all__ = [
    "INTERPOLATION_METHODS",
    "SCATTER_METHODS",
    "Traversal",
    "code_traversals",
    "encode_pair",
    "explore_arithmetic",
    "explore_interpolate",
    "explore_manifold",
    "explore_scatter",
    "explore_traverse",
    "interpolate",
    "interpolation_strip",
    "latent_arithmetic",
    "latent_scatter",
    "latent_traversals",
    "lerp",
    "manifold_grid",
    "slerp",
    "traversal_dimensions",
    "traversal_grid",
]
