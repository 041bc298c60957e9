"""The cyclegan family's card: unpaired translation with two generators and cycle consistency. Its mathematics are in model.py."""

from __future__ import annotations

from pydantic import Field

from genkit.spec.card import ExportCard, FamilyCard
from genkit.spec.section import Section
from genkit.spec.starter import translation_starter

__all__ = ["CARD", "CycleGANLoss"]

ROLES = ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b")


class CycleGANLoss(Section):
    """Zhu et al. 2017, eq. 3 with least-squares adversarial terms (Mao et al. 2017) and the identity
    term of section 5.2; discriminators learn from a history of generated images."""

    cycle_weight: float = Field(
        10.0, ge=0.0, description="λ_cycle: weight of the cycle-consistency terms ‖F(G(a)) − a‖₁ + ‖G(F(b)) − b‖₁."
    )
    identity_ratio: float = Field(
        0.5,
        ge=0.0,
        description="λ_identity as a share of cycle_weight: the identity terms ‖G(b) − b‖₁ + ‖F(a) − a‖₁ are "
        "weighted identity_ratio · cycle_weight (Zhu et al.'s code: 0.5, i.e. 5 when cycle_weight is 10). "
        "They keep colours and intensities unless the translation must change them; 0 turns them off.",
    )
    pool_size: int = Field(
        50,
        ge=0,
        description="Generated images remembered per domain (Shrivastava et al. 2017): once the pool is full, "
        "each new image is shown to the discriminator with probability 1/2, else a stored one is shown and "
        "replaced by it. 0: the discriminators see only the current batch.",
    )


def starter(dataset, shape):
    return translation_starter(
        "cyclegan",
        dataset,
        shape,
        translation="{pairing: unpaired, derive: thicken}",
        roles=ROLES,
        metrics=["cycle_error", "mean_intensity"],
    )


CARD = FamilyCard(
    name="cyclegan",
    summary="A CycleGAN: two generators learn to thicken and to thin strokes from unpaired images of each kind.",
    reference="Zhu, Park, Isola & Efros, 'Unpaired image-to-image translation using cycle-consistent adversarial networks', ICCV 2017",
    model="genkit.families.cyclegan.model:CycleGAN",
    roles=ROLES,
    loss=CycleGANLoss,
    optimizers="per_role",
    output_roles=("generator_ab", "generator_ba"),
    translation="any",
    logs=('loss', 'g_loss', 'adversarial_ab', 'adversarial_ba', 'cycle_a', 'cycle_b', 'cycle_error', 'identity_a', 'identity_b', 'd_a_loss', 'd_b_loss', 'generator_ab_grad_norm', 'generator_ba_grad_norm', 'discriminator_a_grad_norm', 'discriminator_b_grad_norm'),
    loss_networks={'g_loss': 'generator_ab and generator_ba', 'adversarial_ab': 'generator_ab and generator_ba', 'adversarial_ba': 'generator_ab and generator_ba', 'cycle_a': 'generator_ab and generator_ba', 'cycle_b': 'generator_ab and generator_ba', 'identity_a': 'generator_ab and generator_ba', 'identity_b': 'generator_ab and generator_ba', 'generator_ab_grad_norm': 'generator_ab', 'generator_ba_grad_norm': 'generator_ba', 'discriminator_a_grad_norm': 'discriminator_a', 'discriminator_b_grad_norm': 'discriminator_b', 'd_a_loss': 'discriminator_a', 'd_b_loss': 'discriminator_b'},
    export=ExportCard(networks=("generator_ab", "generator_ba", "discriminator_a", "discriminator_b"), sampling="translation"),
    starter=starter,
)
