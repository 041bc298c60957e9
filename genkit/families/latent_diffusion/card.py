"""The latent_diffusion family's card: a DDPM in a first-stage autoencoder's latent space. Its
mathematics are in model.py.

The top-level `first_stage` section names the autoencoder: declared inline (encoder and decoder
layer lists, trained for the first `first_stage.epochs` epochs of the run) or a finished genkit
export reused as it is (`first_stage: {export: exports/vae_mnist}`). The denoiser is
`model.networks.denoiser`, a graph on the latent shape, as the ddpm family's is on images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveInt

from genkit.errors import GenkitError, Problem
from genkit.manifest import load_manifest
from genkit.spec.card import ExportCard, FamilyCard
from genkit.spec.diffusion_rules import check_diffusion_options_apply
from genkit.spec.network_rules import last_activation
from genkit.spec.schema import NetworkSpec
from genkit.spec.section import Section, changed
from genkit.spec.starter import header

__all__ = ["CARD", "FirstStageSection", "LatentDiffusionLoss", "reusable_first_stage"]

INLINE_OPTIONS = ("kind", "epochs", "kl_weight", "learning_rate")


class LatentDiffusionLoss(Section):
    """The denoiser's objective is the simple loss of Ho et al. 2020 (eq. 14) on scaled latents; the
    first stage's terms are options of `first_stage`. No options."""


class FirstStageSection(Section):
    """The first stage: the autoencoder whose latent space the denoiser works in."""

    export: str | None = Field(
        None,
        description="A finished genkit export of an unconditional vae or autoencoder-family run to reuse, e.g. "
        "exports/vae_mnist. Its run's Keras networks (the run folder its manifest names, networks/encoder.keras "
        "and decoder.keras) are loaded and kept frozen; every epoch then trains the denoiser. Instead of "
        "encoder and decoder.",
    )
    kind: Literal["vae", "autoencoder"] = Field(
        "vae",
        description="Inline first stage: vae (Rombach et al.'s KL-regularised autoencoder: the encoder's last axis "
        "holds the [mean, log-variance] halves of q(z|x), and z is drawn from it) or autoencoder (the encoder's "
        "output is z).",
    )
    encoder: NetworkSpec | None = Field(
        None,
        description="Inline first stage: images -> the latent (a map such as 7x7xC, or a vector); for kind vae "
        "with 2C channels, the mean and log-variance of C.",
    )
    decoder: NetworkSpec | None = Field(
        None,
        description="Inline first stage: a latent -> an image of the data's shape (tanh: the data are in [-1, 1]).",
    )
    epochs: PositiveInt = Field(
        1,
        description="Inline first stage: the first epochs of train.epochs train the autoencoder (mean squared "
        "error summed over pixels, plus the KL term); the scale factor is then measured and the remaining "
        "epochs train the denoiser.",
    )
    kl_weight: float = Field(
        1.0e-6,
        ge=0.0,
        description="Inline vae: weight of KL(q(z|x) ‖ N(0, I)) beside the summed reconstruction error (Rombach et "
        "al.: 1e-6, enough to keep the latents from drifting; the scale factor normalises their spread).",
    )
    learning_rate: float = Field(
        1.0e-3, gt=0.0, description="Inline first stage: Adam's learning rate (train.optimizer trains the denoiser)."
    )


# --------------------------------------------------------------------------- the reused export
def reusable_first_stage(folder) -> tuple[dict, Path]:
    """(manifest, run folder) of a genkit export a first stage can reuse, or a GenkitError saying why not.

    The export must encode and decode without labels, and the run it was exported from must still hold
    the Keras networks (ONNX files cannot be trained through or re-exported with parity).
    """
    manifest = load_manifest(folder)
    sampling, encoding = manifest.get("sampling") or {}, manifest.get("encoding") or {}
    if manifest.get("diffusion") is not None or not sampling.get("latent_input") or not encoding:
        raise GenkitError(
            f"{folder} is a '{manifest['family']}' export; a first stage needs an encoder and a decoder of "
            "codes (a vae or autoencoder-family export)."
        )
    if sampling.get("label_input") or encoding.get("label_input"):
        raise GenkitError(f"{folder} is class-conditional; a first stage encodes and decodes without labels.")
    run = (manifest.get("genkit_export") or {}).get("run")
    networks = Path(run) / "networks" if run else None
    if networks is None or not all((networks / f"{role}.keras").is_file() for role in ("encoder", "decoder")):
        raise GenkitError(
            f"{folder} names no run folder holding networks/encoder.keras and decoder.keras (run: {run!r}); "
            "reusing a first stage needs its Keras networks."
        )
    return manifest, Path(run)


# --------------------------------------------------------------------------- rules
def check_first_stage_is_declared_once(spec):
    """first_stage is an export, or an inline encoder and decoder: one of them, and the inline options only inline."""
    first, where = spec.first_stage, ("first_stage",)
    if first.export is not None:
        given = [name for name in ("encoder", "decoder") if getattr(first, name) is not None]
        given += [name for name in INLINE_OPTIONS if changed(first, name)]
        return [
            Problem(
                where + (name,),
                "applies to an inline first stage, not a reused export.",
                "Remove it, or remove export.",
            )
            for name in given
        ]
    missing = [name for name in ("encoder", "decoder") if getattr(first, name) is None]
    return [
        Problem(
            where + (name,),
            "is missing: the first stage is an inline encoder and decoder, or an export to reuse.",
            "Declare both networks, or write 'first_stage: {export: exports/<a vae or autoencoder>}'.",
        )
        for name in missing
    ]


def check_first_stage_fits_the_run(spec):
    """Inline: first_stage.epochs within train.epochs; the kl_weight only for a vae; a decoder that reaches [-1, 1]."""
    first, problems = spec.first_stage, []
    if first.export is not None:
        return []
    if first.epochs > spec.train.epochs:
        problems.append(
            Problem(
                ("first_stage", "epochs"),
                f"is {first.epochs}, more than train.epochs ({spec.train.epochs}): the denoiser would never train.",
                f"Use at most {spec.train.epochs}; the epochs after the first stage's train the denoiser.",
            )
        )
    if first.kind == "autoencoder" and changed(first, "kl_weight"):
        problems.append(Problem(("first_stage", "kl_weight"), "applies to kind vae, not autoencoder.", "Remove it."))
    activation, path = last_activation(first.decoder) if first.decoder is not None else (None, None)
    if activation == "sigmoid":
        problems.append(
            Problem(
                ("first_stage", "decoder", *path),
                "ends in sigmoid, which cannot reach the data's [-1, 1].",
                "Use tanh, or no activation.",
            )
        )
    return problems


def check_first_stage_export(spec):
    """A reused export exists, encodes and decodes without labels, and still has its run's Keras networks."""
    folder = spec.first_stage.export
    if folder is None:
        return []
    try:
        reusable_first_stage(folder)
    except GenkitError as err:
        return [Problem(("first_stage", "export"), str(err), "Name the export of a finished vae or autoencoder run.")]
    return []


def check_export_holds_the_chain(spec):
    """Sampling runs the denoiser and then the decoder, so an export holds both."""
    chosen = spec.export.onnx.networks
    if chosen is None or {"denoiser", "decoder"} <= set(chosen):
        return []
    return [
        Problem(
            ("export", "onnx", "networks"),
            f"is {list(chosen)}; sampling a latent diffusion export runs the denoiser, then the decoder.",
            "Export both: [denoiser, decoder].",
        )
    ]


def starter(dataset, shape):
    """A small KL-regularised first stage (4 latent channels at 1/4 of the size) and a latent graph."""
    h, w, c = shape
    lh, lw = h // 4, w // 4
    return "\n".join(
        [
            *header(
                "latent_diffusion",
                dataset,
                f"ldm_{dataset}",
                notes=(
                    "# Conditional: add `condition: {num_classes: 10, encoding: embedding, embedding_dim: 128}` under",
                    "# model, an input `y: [128]` and a node `{id: emb, layer: Add, from: [temb, y]}` (see specs/ldm_mnist.yaml).",
                ),
            ),
            "  range: [-1, 1]           # diffusion works on [-1, 1]",
            "  batch_size: 64",
            "  validation_split: 0.1",
            "",
            "first_stage:               # or {export: exports/<a vae or autoencoder export>}",
            "  kind: vae",
            "  epochs: 1                # of train.epochs; the rest train the denoiser",
            "  encoder:",
            "    layers:",
            "      - Conv2D: {filters: 32, kernel_size: 3, strides: 2, padding: same, activation: swish}",
            "      - Conv2D: {filters: 64, kernel_size: 3, strides: 2, padding: same, activation: swish}",
            "      - Conv2D: {filters: 8, kernel_size: 1}       # mean and log-variance of 4 latent channels",
            "  decoder:",
            "    layers:",
            "      - Conv2D: {filters: 64, kernel_size: 3, padding: same, activation: swish}",
            "      - Conv2DTranspose: {filters: 64, kernel_size: 3, strides: 2, padding: same, activation: swish}",
            "      - Conv2DTranspose: {filters: 32, kernel_size: 3, strides: 2, padding: same, activation: swish}",
            f"      - Conv2D: {{filters: {c}, kernel_size: 3, padding: same, activation: tanh}}",
            "",
            "model:",
            "  family: latent_diffusion",
            "  diffusion: {timesteps: 1000, schedule: linear, prediction: epsilon}",
            "  networks:",
            "    denoiser:",
            f"      inputs: {{x: [{lh}, {lw}, 4], t: []}}   # the latent map",
            "      graph:",
            "        - {id: tsin, layer: SinusoidalEmbedding, dim: 64, from: t}",
            "        - {id: temb, layer: Dense, units: 128, activation: swish, from: tsin}",
            "        - {id: h0, layer: Conv2D, filters: 64, kernel_size: 3, padding: same, from: x}",
            "        - {id: r1, layer: ResBlock, filters: 64, from: [h0, temb]}",
            "        - {id: att, layer: SelfAttention2D, heads: 4, from: r1}",
            "        - {id: r2, layer: ResBlock, filters: 64, from: [{concat: [att, h0]}, temb]}",
            "        - {id: out, layer: Conv2D, filters: 4, kernel_size: 3, padding: same, from: r2}",
            "",
            "train:",
            "  epochs: 20",
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
    name="latent_diffusion",
    summary="A diffusion model in an autoencoder's latent space: the first stage compresses, a denoiser samples latents.",
    reference="Rombach, Blattmann, Lorenz, Esser & Ommer, 'High-Resolution Image Synthesis with Latent Diffusion "
    "Models', CVPR 2022; Ho, Jain & Abbeel, DDPM, NeurIPS 2020; Song, Meng & Ermon, DDIM, ICLR 2021; "
    "Ho & Salimans, classifier-free guidance, 2022",
    model="genkit.families.latent_diffusion.model:LatentDiffusion",
    roles=("denoiser",),
    loss=LatentDiffusionLoss,
    sections={"first_stage": FirstStageSection},
    condition="optional",
    ema_role="denoiser",
    diffusion=True,
    logs=("loss", "reconstruction", "kl"),
    loss_networks={"reconstruction": "first stage (encoder, decoder)", "kl": "first stage (encoder)"},
    export=ExportCard(networks=("denoiser", "decoder"), sampling="diffusion"),
    rules=(
        check_first_stage_is_declared_once,
        check_first_stage_fits_the_run,
        check_first_stage_export,
        check_export_holds_the_chain,
        check_diffusion_options_apply,
    ),
    starter=starter,
)
