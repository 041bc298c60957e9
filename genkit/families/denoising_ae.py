"""Denoising autoencoder: reconstruct the clean x from a corrupted copy x̃ ~ C(x̃ | x).

Reference: Vincent et al., "Extracting and composing robust features with denoising
autoencoders", ICML 2008; Goodfellow et al., *Deep Learning*, §14.5.

    L = L_rec(x, g(f(x̃)))

Corruption is drawn afresh at every step: masking noise sets each input value to the
range's low end with probability ν; Gaussian noise adds N(0, σ²) and clips to the range.
"""

from __future__ import annotations

from genkit.data.corruption import gaussian_noise, mask_noise
from genkit.families.autoencoder import Autoencoder
from genkit.families.base import register_family
from genkit.replica_seed import ReplicaSeedGenerator

__all__ = ["DenoisingAutoencoder"]


@register_family("denoising_ae")
class DenoisingAutoencoder(Autoencoder):
    def __init__(self, spec, data_shape, num_classes=None, **kwargs):
        super().__init__(spec, data_shape, num_classes, **kwargs)
        self.corruption = spec.loss.corruption
        self.masking_rate = spec.loss.masking_rate
        self.noise_stddev = spec.loss.noise_stddev
        self.noise_seed = ReplicaSeedGenerator(spec.seed)

    def corrupt(self, x, training):
        low, high = self.value_range
        if self.corruption == "masking":
            return mask_noise(x, self.masking_rate, seed=self.noise_seed, low=low)
        return gaussian_noise(x, self.noise_stddev, low=low, high=high, seed=self.noise_seed)

    def additions(self) -> dict:
        what = (
            f"masking noise (nu={self.masking_rate})"
            if self.corruption == "masking"
            else f"Gaussian noise (sigma={self.noise_stddev})"
        )
        return {"encoder": f"{what} on its input while training", "decoder": "nothing"}
