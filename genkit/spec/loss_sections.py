"""Loss sections that several families share (each family's card names its own `loss` class).

A section used by one family only lives in that family's card.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from genkit.errors import Problem
from genkit.spec.section import Section, changed

__all__ = ["FeatureMatchingSpec", "GANLoss", "KLCapacitySpec", "ReconstructionLoss", "VAELoss", "check_kl_options_combine"]


class ReconstructionLoss(Section):
    reconstruction: Literal["bce", "mse"] = Field(
        "bce",
        description="Reconstruction term: binary cross-entropy (targets in [0, 1]) or mean squared error. "
        "Both are summed over pixels and averaged over the batch.",
    )


class KLCapacitySpec(Section):
    """Annealed capacity (Burgess et al. 2018, "Understanding disentangling in β-VAE"): the KL
    term becomes γ·|KL(q(z|x) ‖ p(z)) − C|, its target C raised linearly, so the code gains
    information a little at a time."""

    max_nats: float = Field(
        ..., gt=0.0, description="C_max: the KL (nats per example) C reaches at the end of the ramp. Burgess et al.: 25 on dSprites."
    )
    epochs: int = Field(
        ..., ge=1, description="C rises linearly, per step, from 0 to max_nats over this many epochs and stays there after."
    )
    weight: float = Field(1000.0, gt=0.0, description="γ: weight of |KL − C|, large so the KL tracks C (Burgess et al.: 1000).")


class VAELoss(ReconstructionLoss):
    kl_weight: float = Field(
        1.0, ge=0.0, description="beta: weight of the KL term; > 1 trades reconstruction for disentanglement."
    )
    kl_warmup_epochs: int = Field(
        0, ge=0, description="Ramp the KL weight linearly from 0 to kl_weight over this many epochs."
    )
    total_correlation_weight: float | None = Field(
        None,
        ge=0.0,
        description="β-TCVAE (Chen et al. 2018): the weight of the total correlation term of the KL, estimated by "
        "minibatch-weighted sampling; the index-code mutual information and dimension-wise KL keep kl_weight. "
        "null: off (the KL is weighted as a whole); 1 is the plain ELBO.",
    )
    kl_capacity: KLCapacitySpec | None = Field(
        None,
        description="Annealed capacity (Burgess et al. 2018): the KL term becomes γ·|KL − C| with C rising "
        "linearly from 0 to max_nats. null: off.",
    )


def check_kl_options_combine(spec):
    """kl_capacity replaces the KL term's weight and schedule: kl_weight, kl_warmup_epochs and
    total_correlation_weight would be silently ignored beside it, so they are refused."""
    loss = spec.loss
    if loss.kl_capacity is None:
        return []
    why = {
        "kl_weight": "kl_capacity.weight (γ) weighs the KL term in place of kl_weight",
        "kl_warmup_epochs": "kl_capacity.epochs already schedules the KL term (C rises from 0)",
        "total_correlation_weight": "the capacity objective constrains the KL as a whole, not its total correlation",
    }
    return [
        Problem(("loss", name), f"is set beside loss.kl_capacity, but {reason}.", f"Remove loss.{name}, or remove loss.kl_capacity.")
        for name, reason in why.items()
        if changed(loss, name)
    ]


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
    feature_matching: FeatureMatchingSpec | None = Field(
        None, description="Feature matching on a discriminator layer (null: none)."
    )
    diff_augment: list[Literal["translation", "cutout"]] = Field(
        default_factory=list,
        description="DiffAugment (Zhao et al. 2020): differentiable transforms applied to real and generated "
        "images every time the discriminator sees them, in its own step and the generator's, so it cannot "
        "memorise a small training set: translation (shift by up to 1/8 of the side) and/or cutout (blank a "
        "square of half the side), filled with the low end of data.range. []: none.",
    )
    r1_gamma: float = Field(
        0.0,
        ge=0.0,
        description="γ of the R1 penalty (Mescheder et al. 2018): γ/2·E‖∇ₓ l(x)‖² on real images added to the "
        "discriminator's loss, which keeps it from growing steep around the data. 0: none.",
    )
