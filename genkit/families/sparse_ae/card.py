"""The sparse_ae family's card: an autoencoder with a sparse code. Its mathematics are in model.py."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from genkit.spec.card import ExportCard, FamilyCard
from genkit.spec.loss_sections import ReconstructionLoss
from genkit.spec.starter import dense_networks, encoder_decoder_starter

__all__ = ["CARD", "SparseLoss"]


class SparseLoss(ReconstructionLoss):
    sparsity: Literal["kl", "l1"] = Field(
        "kl", description="Sparsity penalty on the bottleneck: KL toward target activation rho, or L1."
    )
    sparsity_target: float = Field(
        0.05, gt=0.0, lt=1.0, description="rho: the target mean activation of each bottleneck unit (kl)."
    )
    sparsity_weight: float = Field(1.0, ge=0.0, description="beta: weight of the sparsity penalty.")


def starter(dataset, shape):
    encoder, decoder = dense_networks(shape, 1000, "sigmoid")
    return encoder_decoder_starter('sparse_ae', dataset, shape, encoder=encoder, decoder=decoder)


CARD = FamilyCard(
    name='sparse_ae',
    summary='A sparse autoencoder: an overcomplete sigmoid code kept sparse by a KL penalty.',
    reference="Ng, 'Sparse autoencoder', CS294A lecture notes, 2011",
    model="genkit.families.sparse_ae.model:SparseAutoencoder",
    roles=("encoder", "decoder"),
    loss=SparseLoss,
    latent="optional",
    output_roles=("decoder",),
    logs=('loss', 'reconstruction', 'sparsity'),
    loss_networks={'sparsity': 'encoder'},
    export=ExportCard(networks=("decoder", "encoder"), sampling="prior"),
    starter=starter,
)
