"""Families: one module each, registered by the name a spec gives in `model.family`."""

from genkit.families import autoencoder, contractive_ae, cvae, denoising_ae, sparse_ae, vae  # noqa: F401  (registration)
from genkit.families.base import FAMILY_CLASSES, GenerativeModel, build_family

__all__ = ["FAMILY_CLASSES", "GenerativeModel", "build_family"]
