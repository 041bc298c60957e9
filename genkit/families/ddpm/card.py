"""The ddpm family's card: the denoising diffusion probabilistic model. Its mathematics are in model.py."""

from __future__ import annotations

from genkit.errors import Problem
from genkit.spec.card import ExportCard, FamilyCard
from genkit.spec.section import Section, changed
from genkit.spec.starter import header

__all__ = ["CARD", "DiffusionLoss"]


class DiffusionLoss(Section):
    """The simple objective of Ho et al. 2020 (eq. 14): the mean squared error between the denoiser's
    output and its target (model.diffusion.prediction) at a uniformly drawn timestep. No options."""


def check_diffusion_options_apply(spec):
    """Options of one schedule or sampler are errors under another, not silently ignored."""
    diffusion = spec.model.diffusion
    if diffusion is None:
        return []
    where, problems = ("model", "diffusion"), []
    if diffusion.schedule == "cosine":
        for name in ("beta_start", "beta_end"):
            if changed(diffusion, name):
                problems.append(Problem(where + (name,), "applies to the linear schedule, not cosine.", "Remove it."))
    elif diffusion.beta_start >= diffusion.beta_end:
        problems.append(
            Problem(where + ("beta_end",), f"must exceed beta_start ({diffusion.beta_start:g}); got {diffusion.beta_end:g}.", "")
        )
    if spec.model.condition is None and changed(diffusion, "label_dropout"):
        problems.append(Problem(where + ("label_dropout",), "applies to conditional models (model.condition).", "Remove it."))
    sample = spec.sample
    if sample is None:
        return problems
    if sample.steps > diffusion.timesteps:
        problems.append(
            Problem(("sample", "steps"), f"is {sample.steps} but the model has {diffusion.timesteps} timesteps.", f"Use at most {diffusion.timesteps}.")
        )
    for name, sampler in (("eta", "ddim"), ("variance", "ancestral")):
        if sample.sampler != sampler and changed(sample, name):
            problems.append(Problem(("sample", name), f"applies to sampler {sampler}, not {sample.sampler}.", "Remove it."))
    if changed(sample, "guidance_scale"):
        if spec.model.condition is None:
            problems.append(Problem(("sample", "guidance_scale"), "applies to conditional models (model.condition).", "Remove it."))
        elif diffusion.label_dropout == 0:
            problems.append(
                Problem(
                    ("sample", "guidance_scale"),
                    "guidance needs the unconditional model, which model.diffusion.label_dropout: 0 never trains.",
                    "Set label_dropout (e.g. 0.1) or guidance_scale: 1.",
                )
            )
    return problems


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
