"""The ddpm family's card: the denoising diffusion probabilistic model. Its mathematics are in model.py."""

from __future__ import annotations

from genkit.spec.card import ExportCard, FamilyCard
from genkit.spec.diffusion_rules import check_diffusion_options_apply
from genkit.spec.section import Section
from genkit.spec.starter import header

__all__ = ["CARD", "DiffusionLoss"]


class DiffusionLoss(Section):
    """The simple objective of Ho et al. 2020 (eq. 14): the mean squared error between the denoiser's
    output and its target (model.diffusion.prediction) at a uniformly drawn timestep. No options here:
    its one weighting, Min-SNR-γ, is model.diffusion.min_snr_gamma (shared with latent_diffusion)."""


def starter(dataset, shape):
    """A small U-Net graph (Ho et al. 2020, appendix B, scaled down) with DDIM sampling."""
    h, w, c = shape
    return "\n".join(
        [
            *header(
                "ddpm",
                dataset,
                f"ddpm_{dataset}",
                notes=(
                    "# Add `condition: {num_classes: 10, encoding: embedding, embedding_dim: 128}` under model, an input",
                    "# `y: [128]` and a node `{id: emb, layer: Add, from: [temb, y]}` (ResBlocks then take emb) for classes.",
                ),
            ),
            "  range: [-1, 1]           # diffusion works on [-1, 1]",
            "  batch_size: 64",
            "  validation_split: 0.1",
            "",
            "model:",
            "  family: ddpm",
            "  diffusion: {timesteps: 1000, schedule: linear, prediction: epsilon}   # linear | cosine; epsilon | v",
            "  networks:",
            "    denoiser:",
            f"      inputs: {{x: [{h}, {w}, {c}], t: []}}",
            "      graph:",
            "        - {id: tsin, layer: SinusoidalEmbedding, dim: 64, from: t}",
            "        - {id: temb, layer: Dense, units: 128, activation: swish, from: tsin}",
            "        - {id: h0, layer: Conv2D, filters: 32, kernel_size: 3, padding: same, from: x}",
            "        - {id: d1, layer: ResBlock, filters: 32, from: [h0, temb]}",
            "        - {id: p1, layer: AveragePooling2D, pool_size: 2, from: d1}",
            "        - {id: mid, layer: ResBlock, filters: 64, from: [p1, temb]}",
            "        - {id: att, layer: SelfAttention2D, heads: 4, from: mid}",
            "        - {id: u1, layer: UpSampling2D, from: att}",
            "        - {id: e1, layer: ResBlock, filters: 32, from: [{concat: [u1, d1]}, temb]}",
            f"        - {{id: out, layer: Conv2D, filters: {c}, kernel_size: 3, padding: same, from: e1}}",
            "",
            "train:",
            "  epochs: 20",
            "  steps_per_epoch: 60       # remove to make every epoch a full pass over the data",
            "  optimizer: {name: adam, learning_rate: 1.0e-3, warmup_epochs: 1}",
            "  ema: 0.999",
            "  sample_every: 5",
            "",
            "sample: {sampler: ddim, steps: 50}   # ddim | ancestral",
            "",
            "evaluate:",
            "  metrics: [fid]",
            "  samples: 500",
            "",
        ]
    )


CARD = FamilyCard(
    name="ddpm",
    summary="A denoising diffusion model: a U-Net learns to remove noise; sampling denoises pure noise.",
    reference="Ho, Jain & Abbeel, 'Denoising diffusion probabilistic models', NeurIPS 2020; Song, Meng & Ermon, DDIM, ICLR 2021; Ho & Salimans, classifier-free guidance, 2022",
    model="genkit.families.ddpm.model:DDPM",
    roles=("denoiser",),
    loss=DiffusionLoss,
    condition="optional",
    ema_role="denoiser",
    diffusion=True,
    logs=("loss",),
    export=ExportCard(networks=("denoiser",), sampling="diffusion"),
    rules=(check_diffusion_options_apply,),
    starter=starter,
)
