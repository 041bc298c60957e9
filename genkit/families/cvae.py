"""Conditional VAE: the VAE with a class label given to both encoder and decoder.

Reference: Sohn, Lee & Yan, "Learning Structured Output Representation using Deep
Conditional Generative Models", NeurIPS 2015.

    L = E_q(z|x,y)[−log p(x | z, y)] + β · KL(q(z | x, y) ‖ N(0, I))

The label (one-hot or a learned embedding, `model.condition.encoding`) is tiled over the
image as extra input channels of the encoder and concatenated to z for the decoder, so
after training `decoder(z, y)` draws class y for any z ~ N(0, I). Same objective and
train step as `VAE`, which handles the optional label; this module only switches it on.
"""

from __future__ import annotations

from genkit.families.base import register_family
from genkit.families.vae import VAE

__all__ = ["CVAE"]


@register_family("cvae")
class CVAE(VAE):
    conditional = True
