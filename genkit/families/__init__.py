"""Families: one module each, registered by the name a spec gives in `model.family`."""

# First: family modules import genkit.train (the weight average), whose runner imports
# build_family back from this package.
from genkit.families.base import FAMILY_CLASSES, GenerativeModel, build_family
from genkit.families import autoencoder, cgan, contractive_ae, cvae, denoising_ae, gan, sparse_ae, vae, wgan  # noqa: F401  (registration)
from genkit.families import ddpm  # noqa: F401  (registration)
from genkit.families import cyclegan, pix2pix  # noqa: F401  (registration)

__all__ = ["FAMILY_CLASSES", "GenerativeModel", "build_family"]
