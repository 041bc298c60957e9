"""The cvae family's card: a conditional variational autoencoder.

Its model is the VAE's (genkit/families/vae/model.py), which feeds the class label to both
networks when `model.condition` is set, as this card requires.
"""

from __future__ import annotations

from genkit.spec.card import ExportCard, FamilyCard
from genkit.spec.loss_sections import VAELoss, check_kl_options_combine
from genkit.spec.prior_section import PriorSection, check_prior_components, check_prior_per_class
from genkit.spec.starter import conv_decoder, conv_encoder, encoder_decoder_starter

__all__ = ["CARD"]


def starter(dataset, shape):
    return encoder_decoder_starter(
        'cvae',
        dataset,
        shape,
        encoder=conv_encoder(128, "relu"),
        decoder=conv_decoder(shape),
        latent_dim=16,
        labels=True,
        metrics=("reconstruction", "elbo", "class_accuracy"),
    )


CARD = FamilyCard(
    name='cvae',
    summary='A conditional VAE: sample new images of a chosen class.',
    reference="Sohn, Lee & Yan, 'Learning structured output representation using deep conditional generative models', NeurIPS 2015",
    model="genkit.families.vae.model:VAE",
    roles=("encoder", "decoder"),
    loss=VAELoss,
    latent="required",
    condition='required',
    output_roles=("decoder",),
    likelihood=True,
    # The last three only with loss.total_correlation_weight (the KL decomposition of β-TCVAE).
    logs=("loss", "reconstruction", "kl", "neg_elbo", "mutual_information", "total_correlation", "dimension_wise_kl"),
    loss_networks={"kl": "encoder"},
    export=ExportCard(networks=("decoder", "encoder"), sampling="prior"),
    # The vae's sampling prior: z ~ N(0, I), or a density fitted to the codes of the training images.
    sections={"prior": PriorSection},
    rules=(check_kl_options_combine, check_prior_components, check_prior_per_class),
    starter=starter,
)
