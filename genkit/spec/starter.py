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


def _loss_lines(family):
    lines = ["loss:"]
    for name, field in LOSS_SCHEMAS[family].model_fields.items():
        default = field.default
        value = str(default).lower() if isinstance(default, bool) else default
        lines.append(f"  {name}: {value}".ljust(34) + f"# {field.description}")
    return lines


def starter_spec(family: str, dataset: str = "mnist") -> str:
    """The text of a commented spec for `family` on the builtin `dataset`."""
    if family not in FAMILIES or dataset not in DATASET_SHAPES:
        raise ValueError(f"unknown family {family!r} or dataset {dataset!r}")
    shape = DATASET_SHAPES[dataset]
    name = f"{family}_{dataset}"
    if family == "sparse_ae":
        encoder, decoder = _dense_networks(shape, 1000, "sigmoid")
    elif family == "contractive_ae":
        encoder, decoder = _dense_networks(shape, 32, "sigmoid")
    else:
        code_units = 128 if family in ("vae", "cvae") else 32
        encoder, decoder = _conv_encoder(code_units, "relu" if family in ("vae", "cvae") else None), _conv_decoder(shape)
    lines = [
        f"# {_INTRO[family]}",
        f"# Written by `genkit new {family} --dataset {dataset}`; run it with `genkit run <this file>`.",
        "# Every option and its default: docs/spec.md, or `genkit schema` for editors.",
        "genkit_spec: 1",
        f"name: {name}",
        "seed: 0",
        "",
        "data:",
        f"  source: {dataset}",
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
