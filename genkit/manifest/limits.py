"""The manifest's constants and caps, and two small checks: everything `load_manifest` needs
before (and, on a cache hit, instead of) the pydantic models in `facts`, so that reading an
export that was validated before imports no pydantic (`genkit sample`'s cold start)."""

from __future__ import annotations

__all__ = [
    "DIFFUSION_KEYS", "DTYPES", "MANIFEST_FORMAT", "MANIFEST_NAME", "MAX_CLASSES", "MAX_CODES", "MAX_LATENT_DIM",
    "MAX_MANIFEST_BYTES", "MAX_MIXTURE_COMPONENTS", "MAX_SAMPLE_VALUES", "MAX_STYLES", "MAX_TENSOR_RANK", "MAX_TIMESTEPS",
    "PRIOR_KINDS", "check_file_name", "short_value",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
# What the runtime needs to rebuild a diffusion export's schedule and sampler.
DIFFUSION_KEYS = ("schedule", "timesteps", "beta_start", "beta_end", "prediction", "null_class", "sample")

# Limits `load_manifest` enforces before the runtime allocates anything from a manifest's numbers.
# manifest.json itself. A DDPM's 1000 alphas and its spec are ~60 kB, but an autoencoder's fitted
# Gaussian prior holds a latent_dim x latent_dim Cholesky factor as JSON: 22 MB for the 1000-unit
# sparse_ae code. 64 MiB admits codes of ~1,700 units; parsing it stays under ~1 GB.
MAX_MANIFEST_BYTES = 64 * 2**20
MAX_SAMPLE_VALUES = 2**24  # data.shape's product: 16,777,216 values per image (e.g. 2048 x 2048 x 3 is 12.6 M)
MAX_LATENT_DIM = 65_536
MAX_CLASSES = 100_000
MAX_TIMESTEPS = 100_000  # diffusion.timesteps (DDPM uses 1000)
MAX_CODES = 1_024  # codes.variables: latent codes beside z (InfoGAN's MNIST model has 3)
MAX_TENSOR_RANK = 8
MAX_MIXTURE_COMPONENTS = 1_024  # prior 'mixture': Gaussian components (a VAE's fitted mixture has ~10)
MAX_STYLES = 1_024  # style.num_ws: styles of a style-based synthesis network (StyleGAN2 at 1024x1024: 18)
# The distributions an export's latents are drawn from (`prior.kind`, see PriorFacts).
PRIOR_KINDS = ("standard_normal", "normal", "uniform", "gaussian", "mixture")
DTYPES = ("bool", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def short_value(value, width: int = 60) -> str:
    text = repr(value)
    if isinstance(value, (dict, list)) and len(text) > width:
        text = f"a {type(value).__name__} of {len(value)} items"
    return text if len(text) <= width else text[: width - 3] + "..."


def check_file_name(name: str) -> str:
    """`name` unless it leaves the export folder: a plain file name, no separators, not '.' or '..'."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\x00") or ":" in name:
        raise ValueError(f"expected a plain file name inside the export folder (no path separators or '..'), got {name!r}")
    return name
