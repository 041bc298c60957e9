"""Starter specs: `genkit new FAMILY --dataset D` writes one that runs as written.

The loss section lists every option of the family with its default and its doc, taken
from the schema, so a newcomer sees what can be changed without opening the reference.
"""

from __future__ import annotations

from genkit.spec.schema import FAMILIES, LOSS_SCHEMAS

__all__ = ["DATASET_SHAPES", "starter_spec"]

# Image shape of each builtin dataset (the networks below are sized from it).
DATASET_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}

_INTRO = {
    "autoencoder": "An autoencoder: the decoder learns to rebuild each image from the encoder's code.",
    "sparse_ae": "A sparse autoencoder: an overcomplete sigmoid code kept sparse by a KL penalty.",
    "denoising_ae": "A denoising autoencoder: it sees corrupted images and must return the clean ones.",
    "contractive_ae": "A contractive autoencoder: the encoder's Jacobian is penalised (keep the code small).",
    "vae": "A variational autoencoder: sample new images by decoding z ~ N(0, I).",
    "cvae": "A conditional VAE: sample new images of a chosen class.",
    "ddpm": "A denoising diffusion model: a U-Net learns to remove noise; sampling denoises pure noise.",
    "gan": "A GAN with DCGAN networks: a generator learns to fool a discriminator.",
    "cgan": "A conditional GAN: the label goes to both players, so you sample the class you ask for.",
    "wgan": "A Wasserstein GAN with gradient penalty: a critic estimates the distance the generator lowers.",
    "pix2pix": "pix2pix: a U-Net learns paired super-resolution (2x downsampled images -> originals) against a PatchGAN.",
    "cyclegan": "A CycleGAN: two generators learn to thicken and to thin strokes from unpaired images of each kind.",
}


def _conv_encoder(code_units, code_activation):
    lines = [
        "        - Conv2D: {filters: 32, kernel_size: 3, strides: 2, padding: same, activation: relu}",
        "        - Conv2D: {filters: 64, kernel_size: 3, strides: 2, padding: same, activation: relu}",
        "        - Flatten: {}",
    ]
    activation = f", activation: {code_activation}" if code_activation else ""
    return lines + [f"        - Dense: {{units: {code_units}{activation}}}"]


def _conv_decoder(shape):
    h, w, c = shape[0] // 4, shape[1] // 4, shape[2]
    return [
        f"        - Dense: {{units: {h * w * 64}, activation: relu}}",
        f"        - Reshape: {{target_shape: [{h}, {w}, 64]}}",
        "        - Conv2DTranspose: {filters: 64, kernel_size: 3, strides: 2, padding: same, activation: relu}",
        "        - Conv2DTranspose: {filters: 32, kernel_size: 3, strides: 2, padding: same, activation: relu}",
        f"        - Conv2D: {{filters: {c}, kernel_size: 3, padding: same, activation: sigmoid}}",
    ]


def _dense_networks(shape, code_units, code_activation):
    size = shape[0] * shape[1] * shape[2]
    encoder = [
        "        - Flatten: {}",
        "        - Dense: {units: 512, activation: relu}",
        f"        - Dense: {{units: {code_units}, activation: {code_activation}}}",
    ]
    decoder = [
        "        - Dense: {units: 512, activation: relu}",
        f"        - Dense: {{units: {size}, activation: sigmoid}}",
        f"        - Reshape: {{target_shape: [{shape[0]}, {shape[1]}, {shape[2]}]}}",
    ]
    return encoder, decoder


def _header(family, dataset, name, notes=()):
    """The opening lines of every starter: what it is, how it was written (and `notes`), up to `data.source`."""
    return [
        f"# {_INTRO[family]}",
        f"# Written by `genkit new {family} --dataset {dataset}`; run it with `genkit run <this file>`.",
        "# Every option and its default: docs/spec.md, or `genkit schema` for editors.",
        *notes,
        "genkit_spec: 1",
        f"name: {name}",
        "seed: 0",
        "",
        "data:",
        f"  source: {dataset}",
    ]


def _loss_lines(family):
    lines = ["loss:"]
    for name, field in LOSS_SCHEMAS[family].model_fields.items():
        default = field.default
        value = str(default).lower() if isinstance(default, bool) else "null" if default is None else default
        lines.append(f"  {name}: {value}".ljust(33) + f" # {field.description}")
    return lines


def starter_spec(family: str, dataset: str = "mnist") -> str:
    """The text of a commented spec for `family` on the builtin `dataset`."""
    if family not in FAMILIES or dataset not in DATASET_SHAPES:
        raise ValueError(f"unknown family {family!r} or dataset {dataset!r}")
    shape = DATASET_SHAPES[dataset]
    name = f"{family}_{dataset}"
    if family in _ADVERSARIAL:
        return _adversarial_starter(family, dataset, shape, name)
    if family == "ddpm":
        return _diffusion_starter(dataset, shape, name)
    if family in ("pix2pix", "cyclegan"):
        return _translation_starter(family, dataset, shape, name)
    if family == "sparse_ae":
        encoder, decoder = _dense_networks(shape, 1000, "sigmoid")
    elif family == "contractive_ae":
        encoder, decoder = _dense_networks(shape, 32, "sigmoid")
    else:
        code_units = 128 if family in ("vae", "cvae") else 32
        encoder, decoder = _conv_encoder(code_units, "relu" if family in ("vae", "cvae") else None), _conv_decoder(shape)
    lines = [
        *_header(family, dataset, name),
        "  range: [0, 1]            # the decoder ends in a sigmoid",
        f"  labels: {'true' if family == 'cvae' else 'false'}",
        "  batch_size: 64",
        "  validation_split: 0.1",
        "",
        "model:",
        f"  family: {family}",
    ]
    if family in ("vae", "cvae"):
        lines.append("  latent_dim: 16")
    if family == "cvae":
        lines.append("  condition: {num_classes: 10, encoding: onehot}   # onehot | embedding")
    lines += ["  networks:", "    encoder:", f"      input: [{shape[0]}, {shape[1]}, {shape[2]}]", "      layers:"]
    lines += encoder + ["    decoder:", "      layers:"] + decoder + [""]
    lines += _loss_lines(family) + [""]
    lines += [
        "train:",
        "  epochs: 20",
        "  steps_per_epoch: 60       # remove to make every epoch a full pass over the data",
        "  optimizer: {name: adam, learning_rate: 1.0e-3}",
        "",
        "evaluate:",
        "  metrics: [" + ", ".join(["reconstruction"] + (["elbo"] if family in ("vae", "cvae") else []) + (["class_accuracy"] if family == "cvae" else [])) + "]",
        "",
    ]
    return "\n".join(lines)


_ADVERSARIAL = ("gan", "cgan", "wgan")


def _adversarial_starter(family, dataset, shape, name):
    """DCGAN networks (Radford et al. 2016); the WGAN critic has no batch norm (gradient penalty)."""
    h, w, c = shape[0] // 4, shape[1] // 4, shape[2]
    opponent = "critic" if family == "wgan" else "discriminator"
    norm = "        - LayerNormalization: {}" if family == "wgan" else "        - BatchNormalization: {}"
    steps = 5 if family == "wgan" else 1
    adam = "{name: adam, learning_rate: 1.0e-4, beta_1: 0.5, beta_2: 0.9}" if family == "wgan" else "{name: adam, learning_rate: 2.0e-4, beta_1: 0.5}"
    metrics = ["fid", "kid"] + (["class_accuracy"] if family == "cgan" else [])
    lines = [
        *_header(family, dataset, name),
        "  range: [-1, 1]           # the generator ends in tanh",
        f"  labels: {'true' if family == 'cgan' else 'false'}",
        f"  batch_size: {64 * steps}{'           # 5 critic steps of 64 images per generator step' if steps > 1 else ''}",
        "  validation_split: 0.1",
        "",
        "model:",
        f"  family: {family}",
        "  latent_dim: 64",
    ]
    if family == "cgan":
        lines.append("  condition: {num_classes: 10, encoding: onehot}   # onehot | embedding")
    lines += [
        "  networks:",
        "    generator:",
        "      layers:",
        f"        - Dense: {{units: {h * w * 128}, use_bias: false}}",
        "        - BatchNormalization: {}",
        "        - ReLU: {}",
        f"        - Reshape: {{target_shape: [{h}, {w}, 128]}}",
        "        - Conv2DTranspose: {filters: 64, kernel_size: 4, strides: 2, padding: same, use_bias: false}",
        "        - BatchNormalization: {}",
        "        - ReLU: {}",
        f"        - Conv2DTranspose: {{filters: {c}, kernel_size: 4, strides: 2, padding: same, activation: tanh}}",
        f"    {opponent}:",
        f"      input: [{shape[0]}, {shape[1]}, {c}]",
        "      layers:",
        "        - Conv2D: {filters: 64, kernel_size: 4, strides: 2, padding: same}",
        "        - LeakyReLU: {negative_slope: 0.2}",
        "        - Conv2D: {filters: 128, kernel_size: 4, strides: 2, padding: same}",
        norm,
        "        - LeakyReLU: {negative_slope: 0.2}",
        "        - Flatten: {}",
        "        - Dense: {units: 1}",
        "",
    ]
    lines += _loss_lines(family) + [""]
    lines += [
        "train:",
        "  epochs: 20",
        "  steps_per_epoch: 60       # remove to make every epoch a full pass over the data",
        "  optimizers:               # one per network (two time-scale updates)",
        f"    generator: {adam}",
        f"    {opponent}: {adam}",
        "",
        "evaluate:",
        f"  metrics: [{', '.join(metrics)}]",
        "",
        "export:",
        "  onnx: {networks: [generator]}",
        "",
    ]
    return "\n".join(lines)


def _diffusion_starter(dataset, shape, name):
    """A small U-Net graph (Ho et al. 2020, appendix B, scaled down) with DDIM sampling."""
    h, w, c = shape
    return "\n".join(
        [
            *_header(
                "ddpm",
                dataset,
                name,
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


def _translation_starter(family, dataset, shape, name):
    """A small U-Net generator and a PatchGAN (Isola et al. 2017), for both translation families."""
    h, w, c = shape
    translation = "{pairing: paired, derive: super_resolution}" if family == "pix2pix" else "{pairing: unpaired, derive: thicken}"
    unet = [
        "      graph:",
        "        - {id: e1, layer: Conv2D, filters: 32, kernel_size: 4, strides: 2, padding: same, activation: relu, from: x}",
        "        - {id: e2, layer: Conv2D, filters: 64, kernel_size: 4, strides: 2, padding: same, activation: relu, from: e1}",
        "        - {id: d2, layer: Conv2DTranspose, filters: 32, kernel_size: 4, strides: 2, padding: same, activation: relu, from: e2}",
        "        - {id: d1, layer: Conv2DTranspose, filters: 32, kernel_size: 4, strides: 2, padding: same, activation: relu, from: {concat: [d2, e1]}}",
        f"        - {{id: out, layer: Conv2D, filters: {c}, kernel_size: 3, padding: same, activation: tanh, from: {{concat: [d1, x]}}}}",
    ]
    patch = [
        "      layers:",
        "        - Conv2D: {filters: 32, kernel_size: 4, strides: 2, padding: same}",
        "        - LeakyReLU: {negative_slope: 0.2}",
        "        - Conv2D: {filters: 64, kernel_size: 4, strides: 2, padding: same}",
        "        - LeakyReLU: {negative_slope: 0.2}",
        "        - Conv2D: {filters: 1, kernel_size: 3, padding: same}    # one logit per patch",
    ]
    roles = (("generator", "discriminator") if family == "pix2pix" else ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b"))
    adam = "{name: adam, learning_rate: 2.0e-4, beta_1: 0.5}"
    metrics = "[translation_l1, mean_intensity]" if family == "pix2pix" else "[cycle_error, mean_intensity]"
    lines = [
        *_header(family, dataset, name),
        "  range: [-1, 1]           # the generators end in tanh",
        "  batch_size: 32",
        "  validation_split: 0.1",
        f"  translation: {translation}",
        "",
        "model:",
        f"  family: {family}",
        "  networks:",
    ]
    for role in roles:
        lines += [f"    {role}:"] + (unet if role.startswith("generator") else patch)
    lines += [""] + _loss_lines(family) + [""]
    lines += ["train:", "  epochs: 10", "  steps_per_epoch: 60       # remove to make every epoch a full pass over the data"]
    lines += ["  optimizers:"] + [f"    {role}: {adam}" for role in roles]
    lines += ["", "evaluate:", f"  metrics: {metrics}", "", "export:", f"  onnx: {{networks: [{', '.join(r for r in roles if r.startswith('generator'))}]}}", ""]
    return "\n".join(lines)
