"""The contractive_ae family's card: an autoencoder whose encoder Jacobian is penalised. Its mathematics are in model.py."""

from __future__ import annotations

from pydantic import Field

from genkit.spec.card import ExportCard, FamilyCard
from genkit.spec.loss_sections import ReconstructionLoss
from genkit.spec.starter import dense_networks, encoder_decoder_starter

__all__ = ["CARD", "ContractiveLoss"]


class ContractiveLoss(ReconstructionLoss):
    contractive_weight: float = Field(
        1.0e-4, ge=0.0, description="lambda: weight of the squared Frobenius norm of the encoder Jacobian."
    )


def starter(dataset, shape):
    encoder, decoder = dense_networks(shape, 32, "sigmoid")
    return encoder_decoder_starter('contractive_ae', dataset, shape, encoder=encoder, decoder=decoder)


CARD = FamilyCard(
    name='contractive_ae',
    summary="A contractive autoencoder: the encoder's Jacobian is penalised (keep the code small).",
    reference="Rifai et al., 'Contractive auto-encoders: explicit invariance during feature extraction', ICML 2011",
    model="genkit.families.contractive_ae.model:ContractiveAutoencoder",
    roles=("encoder", "decoder"),
    loss=ContractiveLoss,
    latent="optional",
    output_roles=("decoder",),
    logs=('loss', 'reconstruction', 'contractive'),
    loss_networks={'contractive': 'encoder'},
    export=ExportCard(networks=("decoder", "encoder"), sampling="prior"),
    starter=starter,
)
