"""The vae family's card: a variational autoencoder. Its mathematics are in model.py.

Its sampling prior (the `prior` section) is shared with the cvae card: genkit/spec/prior_section.py.
"""

from __future__ import annotations

from genkit.spec.card import ExportCard, FamilyCard
from genkit.spec.loss_sections import VAELoss, check_kl_options_combine
from genkit.spec.prior_section import (
    PriorSection,
    check_prior_components,
    check_prior_per_class,
    check_prior_per_class_needs_labels,
)
from genkit.spec.starter import conv_decoder, conv_encoder, encoder_decoder_starter

__all__ = ["CARD", "PriorSection"]  # PriorSection re-exported: its home moved to genkit.spec.prior_section


def starter(dataset, shape):
    return encoder_decoder_starter(
        'vae',
        dataset,
        shape,
        encoder=conv_encoder(128, "relu"),
        decoder=conv_decoder(shape),
        latent_dim=16,
        labels=False,
        metrics=("reconstruction", "elbo"),
    )


CARD = FamilyCard(
    name='vae',
    summary='A variational autoencoder: sample new images by decoding z ~ N(0, I).',
    reference="Kingma & Welling, 'Auto-encoding variational Bayes', ICLR 2014",
    model="genkit.families.vae.model:VAE",
    roles=("encoder", "decoder"),
    loss=VAELoss,
    latent="required",
    condition='never',
    output_roles=("decoder",),
    likelihood=True,
    # The last three only with loss.total_correlation_weight (the KL decomposition of β-TCVAE).
    logs=("loss", "reconstruction", "kl", "neg_elbo", "mutual_information", "total_correlation", "dimension_wise_kl"),
    loss_networks={"kl": "encoder"},
    export=ExportCard(networks=("decoder", "encoder"), sampling="prior"),
    sections={"prior": PriorSection},
    rules=(check_kl_options_combine, check_prior_components, check_prior_per_class, check_prior_per_class_needs_labels),
    starter=starter,
)
