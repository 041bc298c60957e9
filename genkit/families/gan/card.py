"""The gan family's card: the generative adversarial network. Its mathematics are in model.py."""

from __future__ import annotations

from genkit.spec.card import ExportCard, FamilyCard, Monitor
from genkit.spec.loss_sections import GANLoss
from genkit.spec.starter import adversarial_starter

__all__ = ["CARD"]

# What the monitor suggests when samples collapse.
REMEDIES = (
    "a MinibatchStdDev or MinibatchDiscrimination layer in the discriminator, loss.feature_matching, a lower "
    "generator learning rate, or the wgan family with lipschitz: gradient_penalty"
)


def starter(dataset, shape):
    return adversarial_starter(
        'gan',
        dataset,
        shape,
        opponent="discriminator",
        norm="BatchNormalization",
        steps=1,
        adam="{name: adam, learning_rate: 2.0e-4, beta_1: 0.5}",
        metrics=["fid", "kid"],
        labels=False,
    )


CARD = FamilyCard(
    name='gan',
    summary='A GAN with DCGAN networks: a generator learns to fool a discriminator.',
    reference="Goodfellow et al., 'Generative adversarial nets', NeurIPS 2014; Radford, Metz & Chintala, DCGAN, ICLR 2016",
    model="genkit.families.gan.model:GAN",
    roles=("generator", "discriminator"),
    loss=GANLoss,
    latent="required",
    condition='never',
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
