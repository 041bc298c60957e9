"""Loss sections that several families share (each family's card names its own `loss` class).

A section used by one family only lives in that family's card.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from genkit.spec.section import Section

__all__ = ["FeatureMatchingSpec", "GANLoss", "ReconstructionLoss", "VAELoss"]


class ReconstructionLoss(Section):
    reconstruction: Literal["bce", "mse"] = Field(
        "bce",
        description="Reconstruction term: binary cross-entropy (targets in [0, 1]) or mean squared error. "
        "Both are summed over pixels and averaged over the batch.",
    )


class VAELoss(ReconstructionLoss):
    kl_weight: float = Field(
        1.0, ge=0.0, description="beta: weight of the KL term; > 1 trades reconstruction for disentanglement."
    )
    kl_warmup_epochs: int = Field(
        0, ge=0, description="Ramp the KL weight linearly from 0 to kl_weight over this many epochs."
    )


class FeatureMatchingSpec(Section):
    """Feature matching (Salimans et al. 2016, section 3.1): the generator also matches the mean
    features that a discriminator layer computes on real and on generated images."""

    layer: str = Field(
        ...,
        description="Name of a layer of the discriminator whose output is f(x): a `name:` given in the spec, "
        "or the generated name `genkit inspect` shows (e.g. leaky_re_lu_1).",
    )
    weight: float = Field(1.0, gt=0.0, description="w: weight of ‖mean f(x) − mean f(G(z))‖² in the generator loss.")
    combine: Literal["add", "replace"] = Field(
        "add",
        description="add: generator loss = adversarial loss + w · feature term; replace: w · feature term "
        "alone (the paper's pure feature matching).",
    )


class GANLoss(Section):
    generator_loss: Literal["non_saturating", "minimax", "max_likelihood"] = Field(
        "non_saturating",
        description="What the generator minimises, from the discriminator's logit l = σ⁻¹(D(G(z))): "
        "non_saturating −log D(G(z)) (strong gradients early on); minimax log(1 − D(G(z))) (the game's "
        "value; saturates when D wins); max_likelihood −exp(l) (Goodfellow 2014, 'On distinguishability "
        "criteria'; high variance).",
    )
    discriminator_steps: int = Field(
        1,
        ge=1,
        description="k: discriminator updates per generator update. Each step takes a fresh sub-batch of "
        "data.batch_size / k real images (the batch is split k ways), and the generator step draws as many latents.",
    )
    label_smoothing: float = Field(
        0.0,
        ge=0.0,
        lt=0.5,
        description="s: one-sided label smoothing (Salimans et al. 2016): real images get target 1 − s, "
        "generated ones keep 0.",
    )
    feature_matching: Optional[FeatureMatchingSpec] = Field(
        None, description="Feature matching on a discriminator layer (null: none)."
    )
