"""`LatentPrior`: the distribution an export's latents are drawn from (its manifest's `prior`)."""

from __future__ import annotations

import numpy as np

from genkit.errors import GenkitError

__all__ = ["LatentPrior"]


class LatentPrior:
    """The latent prior: N(0, I), or N(mean, L L^T) fitted to a plain autoencoder's codes."""

    def __init__(self, mean: np.ndarray | None, scale_tril: np.ndarray | None, latent_dim: int):
        self.mean, self.scale_tril, self.latent_dim = mean, scale_tril, latent_dim

    @classmethod
    def from_manifest(cls, manifest: dict) -> LatentPrior:
        d = manifest["latent_dim"]
        prior = manifest["prior"]
        if prior["kind"] == "standard_normal":
            return cls(None, None, d)
        mean = np.asarray(prior.get("mean"), dtype=np.float64)
        tril = np.asarray(prior.get("scale_tril"), dtype=np.float64)
        if mean.shape != (d,) or tril.shape != (d, d):
            raise GenkitError(
                f"{manifest['name']}: prior 'gaussian' needs mean ({d},) and scale_tril ({d}, {d}); "
                f"got {mean.shape} and {tril.shape}. Re-run `genkit export`."
            )
        return cls(mean, tril, d)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        eps = rng.standard_normal((n, self.latent_dim))  # float64: one stream for both kinds
        if self.mean is None:
            return eps.astype(np.float32)
        return (self.mean + eps @ self.scale_tril.T).astype(np.float32)  # z = mu + L eps
