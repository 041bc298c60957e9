"""The wgan family's card: the Wasserstein GAN (weight clipping or gradient penalty). Its mathematics are in model.py."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from genkit.errors import Problem
from genkit.spec.card import ExportCard, FamilyCard, Monitor
from genkit.spec.network_rules import layer_entries
from genkit.spec.section import Section
from genkit.spec.starter import adversarial_starter

__all__ = ["CARD", "WGANLoss"]

REMEDIES = (
    "a MinibatchStdDev layer in the critic, lipschitz: gradient_penalty (if clipping), more critic_steps, "
    "or a lower generator learning rate"
)


class WGANLoss(Section):
    lipschitz: Literal["gradient_penalty", "clip"] = Field(
        "gradient_penalty",
        description="How the critic is kept 1-Lipschitz: gradient_penalty - λ·(‖∇D(x̂)‖₂ − 1)² on random "
        "interpolates x̂ (Gulrajani et al. 2017); clip - every critic weight clipped to [−c, c] after each "
        "step (Arjovsky et al. 2017).",
    )
    clip_value: float = Field(0.01, gt=0.0, description="c: clip bound of the critic's weights (clip).")
    gp_weight: float = Field(10.0, gt=0.0, description="λ: weight of the gradient penalty (gradient_penalty).")
    critic_steps: int = Field(
        5,
        ge=1,
        description="n_critic: critic updates per generator update, each on a fresh sub-batch of "
        "data.batch_size / n_critic real images (the batch is split n_critic ways).",
    )


def check_lipschitz_options_apply(spec):
    """clip_value belongs to weight clipping and gp_weight to the gradient penalty."""
    fields = type(spec.loss).model_fields
    unused = {"clip": "gp_weight", "gradient_penalty": "clip_value"}[spec.loss.lipschitz]
    if getattr(spec.loss, unused) == fields[unused].default:
        return []
    return [Problem(("loss", unused), f"applies to lipschitz: {'clip' if unused == 'clip_value' else 'gradient_penalty'}, not {spec.loss.lipschitz!r}.", "Remove it.")]


def check_gradient_penalty_critic_has_no_batch_norm(spec):
    """Gulrajani et al. 2017, section 4: the penalty is per example, batch norm mixes examples."""
    critic = spec.model.networks.get("critic")
    if spec.loss.lipschitz != "gradient_penalty" or critic is None:
        return []
    problems = []
    for path, name, _ in layer_entries(critic):
        if name == "BatchNormalization":
            problems.append(
                Problem(
                    ("model", "networks", "critic") + path,
                    "the gradient penalty constrains each example's gradient, but batch normalisation makes "
                    "every output depend on the whole batch (Gulrajani et al. 2017, section 4).",
                    "Use LayerNormalization, or no normalisation, in the critic.",
                )
            )
    return problems


def starter(dataset, shape):
    """The critic is layer-normalised: batch norm would couple the examples the penalty treats one by one."""
    return adversarial_starter(
        "wgan",
        dataset,
        shape,
        opponent="critic",
        norm="LayerNormalization",
        steps=5,
        adam="{name: adam, learning_rate: 1.0e-4, beta_1: 0.5, beta_2: 0.9}",
        metrics=["fid", "kid"],
    )


CARD = FamilyCard(
    name="wgan",
    summary="A Wasserstein GAN with gradient penalty: a critic estimates the distance the generator lowers.",
    reference="Arjovsky, Chintala & Bottou, 'Wasserstein GAN', ICML 2017; Gulrajani et al., 'Improved training of Wasserstein GANs', NeurIPS 2017",
    model="genkit.families.wgan.model:WGAN",
    roles=("generator", "critic"),
    loss=WGANLoss,
    latent="required",
    optimizers="per_role",
    ema_role="generator",
    sub_batches=("critic_steps", "critic"),
    reference_batch_role="generator",
    output_roles=("generator",),
    score_roles=("critic",),
    logs=('loss', 'critic_loss', 'g_loss', 'wasserstein', 'gradient_penalty', 'critic_grad_norm', 'g_grad_norm'),
    loss_networks={'critic_loss': 'critic', 'wasserstein': 'critic', 'gradient_penalty': 'critic', 'critic_grad_norm': 'critic', 'g_loss': 'generator', 'g_grad_norm': 'generator'},
    monitor=Monitor(fake_probability=False, remedies=REMEDIES),
    export=ExportCard(networks=("generator", "critic"), sampling="prior"),
    rules=(check_lipschitz_options_apply, check_gradient_penalty_critic_has_no_batch_norm),
    starter=starter,
)
