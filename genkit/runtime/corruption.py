"""Corrupt images as a denoising autoencoder's training did, in NumPy, so `genkit sample --input`
can show the export denoising: input | corrupted | denoised.

It mirrors `genkit.data.corruption` (the Keras functions training draws with), which the runtime
cannot import: masking noise sets each value, independently with probability ν (the
masking rate), to the range's low end; Gaussian noise adds N(0, σ²) and clips to the range.
A denoising_ae export's own settings are its spec's `loss.corruption`, `loss.masking_rate` and
`loss.noise_stddev`, which its manifest carries under "spec".

Reference: Vincent et al., "Stacked Denoising Autoencoders", JMLR 11 (2010), section 4.2.
"""

from __future__ import annotations

import math

import numpy as np

from genkit.errors import GenkitError

__all__ = ["CORRUPTIONS", "corrupt", "corruption_settings"]

# The kinds of the denoising_ae card's `loss.corruption` (a test checks they are the same), each
# with the loss field that holds its level: the runtime may not import the card.
CORRUPTIONS = {"masking": "masking_rate", "gaussian": "noise_stddev"}


def corrupt(x: np.ndarray, corruption: str, noise: float, value_range, seed=None) -> np.ndarray:
    """`x` `(N, H, W, C)` corrupted by `corruption` at level `noise` (the masking rate ν, or σ),
    inside `value_range`; the same `seed` gives the same corruption."""
    rng = np.random.default_rng(seed)
    low, high = (np.float32(v) for v in value_range)
    x = np.asarray(x, np.float32)
    if corruption == "masking":
        keep = rng.random(x.shape) >= noise  # uniform on [0, 1): P(keep) = 1 - ν
        return np.where(keep, x, low).astype(np.float32)
    return np.clip(x + rng.normal(0.0, noise, x.shape).astype(np.float32), low, high)


def corruption_settings(manifest: dict, corruption: str | None = None, noise: float | None = None) -> tuple[str, float] | None:
    """The corruption to show, `(kind, level)`, or None for a plain reconstruction.

    A denoising_ae export's default is its own training corruption; `corruption` (--corruption)
    and `noise` (--noise, the masking rate or σ) replace its kind or level. Another export is
    corrupted only when asked, and then needs both (it has no settings of its own).
    """
    own = _own_settings(manifest)
    if corruption is None and noise is None:
        return (own["corruption"], float(own[CORRUPTIONS[own["corruption"]]])) if own else None
    where = f"{manifest['name']} is a '{manifest['family']}' export, which has no corruption settings of its own"
    if corruption is None:
        if not own:
            raise GenkitError(f"--noise {noise}: {where}; say which corruption with --corruption {' or '.join(CORRUPTIONS)}.")
        corruption = own["corruption"]
    if corruption not in CORRUPTIONS:
        raise GenkitError(f"--corruption: expected one of {', '.join(CORRUPTIONS)}; got {corruption!r}.")
    field = CORRUPTIONS[corruption]
    if noise is None:
        if not own:
            raise GenkitError(f"--corruption {corruption}: {where}; give its level with --noise ({_level_text(field)}).")
        noise = own[field]
    return corruption, _checked_level(corruption, noise, "--noise")


def _checked_level(corruption: str, noise, what: str) -> float:
    """`noise` as a float: a masking rate in [0, 1), a σ >= 0 (the bounds of the card's fields)."""
    ok = isinstance(noise, (int, float, np.floating, np.integer)) and not isinstance(noise, bool) and math.isfinite(noise)
    ok = ok and (0.0 <= noise < 1.0 if corruption == "masking" else noise >= 0.0)
    if not ok:
        raise GenkitError(f"{what}: {corruption} noise takes {_level_text(CORRUPTIONS[corruption])}; got {noise!r}.")
    return float(noise)


def _level_text(field: str) -> str:
    return "the masking rate, in [0, 1), e.g. 0.3" if field == "masking_rate" else "the noise standard deviation, >= 0, e.g. 0.5"


def _own_settings(manifest: dict) -> dict | None:
    """A denoising_ae export's loss settings, checked, or None (another family, or an export without its spec)."""
    if manifest.get("family") != "denoising_ae":
        return None
    loss = ((manifest.get("spec") or {}).get("loss")) if isinstance(manifest.get("spec"), dict) else None
    if not isinstance(loss, dict) or loss.get("corruption") not in CORRUPTIONS:
        return None
    field = CORRUPTIONS[loss["corruption"]]
    _checked_level(loss["corruption"], loss.get(field), f"{manifest['name']}'s manifest.json spec.loss.{field} (re-run `genkit export`)")
    return loss
