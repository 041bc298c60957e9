"""The autoencoder family's card: an encoder and a decoder trained to reconstruct. Its mathematics are in model.py."""

from __future__ import annotations

from genkit.spec.card import ExportCard, FamilyCard
from genkit.spec.loss_sections import ReconstructionLoss
from genkit.spec.starter import conv_decoder, conv_encoder, encoder_decoder_starter

__all__ = ["CARD"]


def starter(dataset, shape):
    encoder, decoder = conv_encoder(32, None), conv_decoder(shape)
    return encoder_decoder_starter('autoencoder', dataset, shape, encoder=encoder, decoder=decoder)


CARD = FamilyCard(
    name='autoencoder',
    summary="An autoencoder: the decoder learns to rebuild each image from the encoder's code.",
    reference="Hinton & Salakhutdinov, 'Reducing the dimensionality of data with neural networks', Science 2006",
    model="genkit.families.autoencoder.model:Autoencoder",
    roles=("encoder", "decoder"),
    loss=ReconstructionLoss,
    latent="optional",
    output_roles=("decoder",),
    logs=('loss', 'reconstruction'),
    loss_networks={},
    export=ExportCard(networks=("decoder", "encoder"), sampling="prior"),
    starter=starter,
)
