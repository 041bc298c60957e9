"""The cgan family's card: the conditional GAN.

Its model is the gan family's `GAN`, which gives both players the label when `model.condition`
is set and reads `loss.discriminator_conditioning`; its mathematics are in genkit/families/gan/model.py.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from genkit.spec.card import ExportCard, FamilyCard, Monitor
from genkit.spec.loss_sections import GANLoss
from genkit.spec.starter import adversarial_starter

__all__ = ["CARD", "CGANLoss"]

# What the monitor suggests when samples collapse.
REMEDIES = (
    "a MinibatchStdDev or MinibatchDiscrimination layer in the discriminator, loss.feature_matching, a lower "
    "generator learning rate, or the wgan family with lipschitz: gradient_penalty"
)


class CGANLoss(GANLoss):
    discriminator_conditioning: Literal["input", "projection"] = Field(
        "input",
        description="How the label reaches the discriminator: input - tiled over the image as extra channels "
        "(Mirza & Osindero 2014); projection - logit += <embed(y), phi(x)> with phi(x) the input of the "
        "discriminator's final Dense(units: 1) layer (Miyato & Koyama 2018).",
    )


def starter(dataset, shape):
    return adversarial_starter(
        'cgan',
        dataset,
        shape,
        opponent="discriminator",
        norm="BatchNormalization",
        steps=1,
        adam="{name: adam, learning_rate: 2.0e-4, beta_1: 0.5}",
        metrics=["fid", "kid", "class_accuracy"],
        labels=True,
    )


CARD = FamilyCard(
    name='cgan',
    summary='A conditional GAN: the label goes to both players, so you sample the class you ask for.',
    reference="Mirza & Osindero, 'Conditional generative adversarial nets', 2014; Miyato & Koyama, 'cGANs with projection discriminator', ICLR 2018",
    model="genkit.families.gan.model:GAN",
    roles=("generator", "discriminator"),
    loss=CGANLoss,
    latent="required",
    condition='required',
    optimizers="per_role",
    ema_role="generator",
    sub_batches=("discriminator_steps", "discriminator"),
    reference_batch_role="generator",
    output_roles=("generator",),
    logit_roles=("discriminator",),
    logs=('loss', 'd_loss', 'g_loss', 'd_real', 'd_fake', 'feature_matching', 'r1', 'd_grad_norm', 'g_grad_norm'),
    loss_networks={'d_loss': 'discriminator', 'd_real': 'discriminator', 'd_fake': 'discriminator', 'r1': 'discriminator', 'd_grad_norm': 'discriminator', 'g_loss': 'generator', 'feature_matching': 'generator', 'g_grad_norm': 'generator'},
    monitor=Monitor(fake_probability=True, remedies=REMEDIES),
    export=ExportCard(networks=("generator", "discriminator"), sampling="prior"),
    starter=starter,
)
