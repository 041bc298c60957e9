"""Argument checks shared by the latent figures and the `genkit explore` commands.

Each raises a GenkitError that says what is wrong and what to give instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genkit.errors import GenkitError, did_you_mean
from genkit.runtime.sampler import Sampler

__all__ = ["check_choice", "check_labelled", "check_span", "png_path", "require_encoder", "require_latent"]


def require_latent(sampler: Sampler, tool: str) -> None:
    """Raise unless `sampler` has a latent space; `tool` names the caller in the message."""
    if sampler.is_diffusion or sampler.latent_dim is None:
        raise GenkitError(
            f"{tool} works in the latent space of latent-variable exports (autoencoders, VAEs, CVAEs, GAN "
            f"generators); {sampler.name} is a '{sampler.family}' export without a latent_dim."
        )


def require_encoder(sampler: Sampler, tool: str, why: str) -> None:
    """Raise unless `sampler` exports an encoder; `why` says what `tool` needs it for."""
    if not sampler.manifest.get("encoding"):
        raise GenkitError(
            f"{tool} needs an encoder ({why}), but {sampler.name} is a '{sampler.family}' export without one "
            "(manifest encoding: null). Use the export of an autoencoder, VAE or CVAE; for a GAN, interpolate "
            "between prior draws (`genkit explore EXPORT interpolate` without --data) or map a 2-D latent "
            "space with `manifold`."
        )


def png_path(path) -> Path:
    """`path` as a Path; it must end in .png."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise GenkitError(f"Latent tools write PNG images: '{path}' must end in .png; got suffix '{path.suffix}'.")
    return path


def check_labelled(x, y, tool: str, why: str) -> tuple[np.ndarray, np.ndarray]:
    """`x` and its integer labels `y`, one per image; `why` says what `tool` needs them for."""
    if y is None:
        raise GenkitError(f"{tool} needs labels y, one per image: it computes {why}.")
    x, y = np.asarray(x), np.asarray(y)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise GenkitError(f"{tool}: y must be {len(x)} integer labels, shape ({len(x)},); got {y.dtype} {y.shape}.")
    return x, y


def check_choice(value, options: tuple, what: str) -> None:
    """Raise unless `value` is one of `options`, suggesting the closest."""
    if value not in options:
        raise GenkitError(f"{what}: got {value!r}. {did_you_mean(value, options)}")


def check_span(span) -> tuple[float, float]:
    """The (low, high) probabilities of a manifold grid: 0 < low < high < 1."""
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
