"""Sparse autoencoder: the reconstruction term plus a sparsity penalty on the code.

Reference: A. Ng, "Sparse autoencoder", CS294A lecture notes (2011); Goodfellow et al.,
*Deep Learning*, §14.2.1.

    L = L_rec(x, g(f(x))) + β · Σ_j KL(ρ ‖ ρ̂_j)     (kl; ρ̂_j = batch mean of unit j)
    L = L_rec(x, g(f(x))) + β · Σ_j |h_j|            (l1)

The KL form needs code activations in [0, 1]: end the encoder with a sigmoid. An
overcomplete code (more units than inputs) is the usual setting.
"""

from __future__ import annotations

from genkit.families.autoencoder import Autoencoder
from genkit.families.base import register_family
from genkit.losses import kl_sparsity_penalty, l1_sparsity_penalty

__all__ = ["SparseAutoencoder"]


@register_family("sparse_ae")
class SparseAutoencoder(Autoencoder):
    loss_names = ("loss", "reconstruction", "sparsity")
    loss_networks = {"sparsity": "encoder"}

    def __init__(self, spec, data_shape, num_classes=None, **kwargs):
        super().__init__(spec, data_shape, num_classes, **kwargs)
        self.sparsity = spec.loss.sparsity
        self.sparsity_target = spec.loss.sparsity_target
        self.sparsity_weight = spec.loss.sparsity_weight

    def penalties(self, x_in, code, training) -> dict:
        if self.sparsity == "kl":
            penalty = kl_sparsity_penalty(code, self.sparsity_target)
        else:
            penalty = l1_sparsity_penalty(code)
        return {"sparsity": self.sparsity_weight * penalty}

    def additions(self) -> dict:
        what = f"KL(rho={self.sparsity_target}) penalty" if self.sparsity == "kl" else "L1 penalty"
        return {"encoder": f"{what} x {self.sparsity_weight} on its output", "decoder": "nothing"}
