"""`LatentPrior`: the distribution an export's latents are drawn from (its manifest's `prior`)."""

from __future__ import annotations

import numpy as np

from genkit.errors import GenkitError

__all__ = ["LatentPrior"]


class LatentPrior:
    """The latent prior: N(0, I) or N(0, std² I), U(low, high) per number, N(mean, L L^T) fitted to a
    plain autoencoder's codes, or a mixture Σ_k w_k N(μ_k, L_k L_kᵀ) fitted to a VAE's codes.

    A Gaussian is the mixture of one component; `weights` is None for every kind but a mixture.
    A `per_class` mixture (a conditional VAE's Gaussian per class) has a component per class,
    and the sample's label picks it: `draw` takes the labels.
    """

    def __init__(
        self, mean: np.ndarray | None, scale_tril: np.ndarray | None, latent_dim: int, *, std: float = 1.0, uniform=None, weights=None, per_class=False
    ):
        self.mean, self.scale_tril, self.latent_dim = mean, scale_tril, latent_dim  # mixture: (k, d), (k, d, d)
        self.std, self.uniform = float(std), uniform  # uniform: (low, high) or None
        self.weights = weights  # mixture: (k,) summing to 1
        self.per_class = bool(per_class)  # mixture: component k is class k's Gaussian, picked by the label

    @classmethod
    def from_manifest(cls, manifest: dict) -> LatentPrior:
        return cls.from_prior(manifest["prior"], manifest["latent_dim"], manifest["name"])

    @classmethod
    def from_prior(cls, prior: dict, d: int, owner: str = "the model") -> LatentPrior:
        """From a manifest's `prior` section (also what a model's export plan says), for `d` latent numbers."""
        if prior["kind"] == "standard_normal":
            return cls(None, None, d)
        if prior["kind"] == "normal":
            return cls(None, None, d, std=prior["std"])
        if prior["kind"] == "uniform":
            return cls(None, None, d, uniform=(float(prior["low"]), float(prior["high"])))
        if prior["kind"] == "mixture":
            weights = np.asarray(prior.get("weights"), dtype=np.float64)
            means = np.asarray(prior.get("means"), dtype=np.float64)
            trils = np.asarray(prior.get("scale_trils"), dtype=np.float64)
            k = len(weights)
            if weights.ndim != 1 or means.shape != (k, d) or trils.shape != (k, d, d):
                raise GenkitError(
                    f"{owner}: prior 'mixture' needs weights (k,), means (k, {d}) and scale_trils (k, {d}, {d}); "
                    f"got {weights.shape}, {means.shape} and {trils.shape}. Re-run `genkit export`."
                )
            return cls(means, trils, d, weights=weights / weights.sum(), per_class=bool(prior.get("per_class")))
        mean = np.asarray(prior.get("mean"), dtype=np.float64)
        tril = np.asarray(prior.get("scale_tril"), dtype=np.float64)
        if mean.shape != (d,) or tril.shape != (d, d):
            raise GenkitError(
                f"{owner}: prior 'gaussian' needs mean ({d},) and scale_tril ({d}, {d}); "
                f"got {mean.shape} and {tril.shape}. Re-run `genkit export`."
            )
        return cls(mean, tril, d)

    def draw(self, rng: np.random.Generator, n: int, labels=None) -> np.ndarray:
        """n latents `(n, latent_dim)` float32; `labels` `(n,)` pick a per-class mixture's components (others ignore them)."""
        if self.uniform is not None:
            return rng.uniform(*self.uniform, (n, self.latent_dim)).astype(np.float32)
        if self.weights is not None:
            # A mixture: the component by inverting its CDF at u ~ U(0, 1) (per class: the label), then
            # that Gaussian. `uniform` and `standard_normal` only, samples first, so a stacked generator
            # (genkit.serve.stacked_rng) gives each request the draws its seed gives alone.
            if self.per_class:
                component = self._classes(labels, n)
            else:
                u = rng.uniform(0.0, 1.0, (n,))
                component = np.minimum(np.searchsorted(np.cumsum(self.weights), u, side="right"), len(self.weights) - 1)
            eps = rng.standard_normal((n, self.latent_dim))
            z = self.mean[component] + np.einsum("nij,nj->ni", self.scale_tril[component], eps)  # μ_c + L_c ε
            return z.astype(np.float32)
        eps = rng.standard_normal((n, self.latent_dim))  # float64: one stream for every normal kind
        if self.mean is None:
            return (self.std * eps).astype(np.float32)  # × 1.0 leaves N(0, I) draws bit-identical
        return (self.mean + eps @ self.scale_tril.T).astype(np.float32)  # z = mu + L eps

    def _classes(self, labels, n: int) -> np.ndarray:
        """A per-class mixture's components: the labels, checked against the classes it has."""
        k = len(self.weights)
        y = None if labels is None else np.asarray(labels)
        if y is None or y.shape != (n,) or y.dtype.kind not in "iu" or (n and (y.min() < 0 or y.max() >= k)):
            got = "none" if y is None else f"{y.dtype} {y.shape}"
            raise GenkitError(f"a Gaussian per class draws z from the label's: labels must be {n} integers in [0, {k}); got {got}.")
        return y
