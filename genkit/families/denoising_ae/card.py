"""The denoising_ae family's card: an autoencoder that reconstructs clean images from corrupted ones. Its mathematics are in model.py."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from genkit.spec.card import ExportCard, FamilyCard
from genkit.spec.loss_sections import ReconstructionLoss
from genkit.spec.starter import conv_decoder, conv_encoder, encoder_decoder_starter

__all__ = ["CARD", "DenoisingLoss"]


class DenoisingLoss(ReconstructionLoss):
    corruption: Literal["masking", "gaussian"] = Field(
        "masking", description="Input corruption: zero inputs at random, or add Gaussian noise."
    )
    masking_rate: float = Field(
        0.3, ge=0.0, lt=1.0, description="nu: probability that an input value is set to the range's low end (masking)."
    )
    noise_stddev: float = Field(0.5, ge=0.0, description="sigma: standard deviation of added noise (gaussian).")


def starter(dataset, shape):
    encoder, decoder = conv_encoder(32, None), conv_decoder(shape)
    return encoder_decoder_starter('denoising_ae', dataset, shape, encoder=encoder, decoder=decoder)


CARD = FamilyCard(
    name='denoising_ae',
    summary='A denoising autoencoder: it sees corrupted images and must return the clean ones.',
    reference="Vincent et al., 'Extracting and composing robust features with denoising autoencoders', ICML 2008",
    model="genkit.families.denoising_ae.model:DenoisingAutoencoder",
    roles=("encoder", "decoder"),
    loss=DenoisingLoss,
    latent="optional",
    output_roles=("decoder",),
    logs=('loss', 'reconstruction'),
    loss_networks={},
    export=ExportCard(networks=("decoder", "encoder"), sampling="prior"),
    starter=starter,
)
