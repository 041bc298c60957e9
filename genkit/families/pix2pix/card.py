"""The pix2pix family's card: paired image-to-image translation with a conditional GAN. Its mathematics are in model.py."""

from __future__ import annotations

from pydantic import Field

from genkit.errors import Problem
from genkit.spec.card import ExportCard, FamilyCard
from genkit.spec.section import Section
from genkit.spec.starter import translation_starter

__all__ = ["CARD", "Pix2PixLoss"]


class Pix2PixLoss(Section):
    """Isola et al. 2017, eq. 4: G* = arg min_G max_D L_cGAN(G, D) + λ·L_L1(G), with a PatchGAN D that
    sees the source image beside the real or generated target and gives one logit per patch."""

    l1_weight: float = Field(
        100.0,
        ge=0.0,
        description="λ: weight of the L1 distance between G(x) and the target (a mean over pixels), "
        "added to the adversarial term; Isola et al. use 100. 0 leaves the conditional GAN alone.",
    )


def check_cycle_error_needs_two_generators(spec):
    if "cycle_error" not in spec.evaluate.metrics:
        return []
    return [Problem(("evaluate", "metrics"), "'cycle_error' needs the two generators of cyclegan, not 'pix2pix'.", "Remove it.")]


def starter(dataset, shape):
    return translation_starter(
        "pix2pix",
        dataset,
        shape,
        translation="{pairing: paired, derive: super_resolution}",
        roles=("generator", "discriminator"),
        metrics=["translation_l1", "mean_intensity"],
    )


CARD = FamilyCard(
    name="pix2pix",
    summary="pix2pix: a U-Net learns paired super-resolution (2x downsampled images -> originals) against a PatchGAN.",
    reference="Isola, Zhu, Zhou & Efros, 'Image-to-image translation with conditional adversarial networks', CVPR 2017",
    model="genkit.families.pix2pix.model:Pix2Pix",
    roles=("generator", "discriminator"),
    loss=Pix2PixLoss,
    optimizers="per_role",
    ema_role="generator",
    output_roles=("generator",),
    logit_roles=("discriminator",),
    translation="paired",
    logs=('loss', 'd_loss', 'g_loss', 'g_adversarial', 'l1', 'd_real', 'd_fake', 'd_grad_norm', 'g_grad_norm'),
    loss_networks={'d_loss': 'discriminator', 'd_real': 'discriminator', 'd_fake': 'discriminator', 'd_grad_norm': 'discriminator', 'g_loss': 'generator', 'g_adversarial': 'generator', 'l1': 'generator', 'g_grad_norm': 'generator'},
    export=ExportCard(networks=("generator", "discriminator"), sampling="translation"),
    rules=(check_cycle_error_needs_two_generators,),
    starter=starter,
)
