"""Which layers suit which family: the short list `genkit layers --family NAME` prints.

A spec may name any of the ~180 names of `list_layers()`, but most are of no use to an image
model (text lookups, RNNs, 1-D and 3-D variants, augmentation layers). This module says which
fit a family's networks, read from two declarations:

- every genkit block carries `FITS`, a tuple of family names and traits (below); an empty
  tuple means the families add that block themselves (`Sampling`, `LabelEmbedding`), so a spec
  has no use for it;
- `KERAS_FITS` below names the Keras layers of image networks, each with its traits.

A trait stands for a kind of family, read from its card, so a new family gets the blocks of
its kind without editing any block. Plugin layers (entry point `genkit.layers`) carry no
`FITS` and are listed for every family: someone installed them to be used.
"""

from __future__ import annotations

from dataclasses import dataclass

from genkit.nets.registry import get_layer_class, is_block, list_layers

__all__ = ["KERAS_FITS", "TRAITS", "FamilyLayers", "family_layers", "fits_of"]

# Trait -> (what it means, predicate on a FamilyCard).
TRAITS = {
    "any": ("every family", lambda card: True),
    "adversarial": (
        "GAN families (a generator against a discriminator or critic)",
        lambda card: card.monitor is not None,
    ),
    "conditional": ("families with model.condition (a class label)", lambda card: card.condition != "never"),
    "diffusion": ("diffusion families (a denoiser graph with inputs x, t[, y])", lambda card: card.diffusion),
    "reference_batch": (
        "families that feed the generator a fixed reference batch",
        lambda card: card.reference_batch_role is not None,
    ),
    "translation": ("image-to-image translation families", lambda card: card.translation is not None),
}

_IMAGE_NETWORKS = (
    "Activation",
    "Add",
    "AveragePooling2D",
    "BatchNormalization",
    "Concatenate",
    "Conv2D",
    "Conv2DTranspose",
    "Cropping2D",
    "Dense",
    "DepthwiseConv2D",
    "Dropout",
    "ELU",
    "Flatten",
    "GlobalAveragePooling2D",
    "GroupNormalization",
    "LayerNormalization",
    "LeakyReLU",
    "MaxPooling2D",
    "Multiply",
    "PReLU",
    "ReLU",
    "Reshape",
    "SeparableConv2D",
    "SpatialDropout2D",
    "UpSampling2D",
    "ZeroPadding2D",
)
# Keras layer -> traits of the families whose networks it fits.
KERAS_FITS = {
    **{name: ("any",) for name in _IMAGE_NETWORKS},
    "GaussianNoise": ("adversarial",),  # instance noise on a discriminator's input
}


def fits_of(name: str) -> tuple:
    """The families and traits layer `name` fits; () for none."""
    if name in KERAS_FITS:
        return KERAS_FITS[name]
    cls = get_layer_class(name)
    if is_block(name):
        return tuple(getattr(cls, "FITS", ("any",)))  # a block registered outside genkit may not say
    return () if cls.__module__.startswith("keras") else ("any",)  # plugins: every family


@dataclass(frozen=True)
class FamilyLayers:
    blocks: list  # genkit blocks (and plugins) that fit, sorted
    keras: list  # Keras layers that fit, sorted
    left_out: list  # every other name a spec may use


def family_layers(family: str, card) -> FamilyLayers:
    """The layer names that fit the family `family` (its card `card`), and those left out."""
    blocks, keras_names, left_out = [], [], []
    for name in list_layers():
        fits = fits_of(name)
        ok = family in fits or any(tag in TRAITS and TRAITS[tag][1](card) for tag in fits)
        if not ok:
            left_out.append(name)
        elif name in KERAS_FITS:
            keras_names.append(name)
        else:
            blocks.append(name)
    return FamilyLayers(blocks, keras_names, left_out)
