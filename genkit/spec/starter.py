"""Starter specs: `genkit new FAMILY --dataset D` writes one that runs as written.

Each family's card holds its starter (`FamilyCard.starter`); the pieces several share (the
header, the loss section, DCGAN-style and encoder/decoder networks) are the functions here.

The loss section lists every option of the family with its default and its doc, taken
from the schema, so a newcomer sees what can be changed without opening the reference.
"""

from __future__ import annotations

from genkit.spec.card import card, family_names

__all__ = [
    "DATASET_CLASSES",
    "DATASET_SHAPES",
    "adversarial_starter",
    "conv_decoder",
    "conv_encoder",
    "dense_networks",
    "encoder_decoder_starter",
    "header",
    "loss_lines",
    "starter_spec",
    "translation_starter",
]

# Image shape of each builtin dataset (the networks below are sized from it), and its classes.
# shapes are drawn at data.image_size; its starters spell out the default, 64.
DATASET_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3), "shapes": (64, 64, 3)}
DATASET_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "shapes": 4}


def conv_encoder(code_units, code_activation):
    lines = [
        "        - Conv2D: {filters: 32, kernel_size: 3, strides: 2, padding: same, activation: relu}",
        "        - Conv2D: {filters: 64, kernel_size: 3, strides: 2, padding: same, activation: relu}",
        "        - Flatten: {}",
    ]
    activation = f", activation: {code_activation}" if code_activation else ""
    return lines + [f"        - Dense: {{units: {code_units}{activation}}}"]


def conv_decoder(shape):
    h, w, c = shape[0] // 4, shape[1] // 4, shape[2]
    return [
        f"        - Dense: {{units: {h * w * 64}, activation: relu}}",
        f"        - Reshape: {{target_shape: [{h}, {w}, 64]}}",
        "        - Conv2DTranspose: {filters: 64, kernel_size: 3, strides: 2, padding: same, activation: relu}",
        "        - Conv2DTranspose: {filters: 32, kernel_size: 3, strides: 2, padding: same, activation: relu}",
        f"        - Conv2D: {{filters: {c}, kernel_size: 3, padding: same, activation: sigmoid}}",
    ]


def dense_networks(shape, code_units, code_activation):
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


def header(family, dataset, name, notes=()):
    """The opening lines of every starter: what it is, how it was written (and `notes`), up to `data.source`."""
    return [
        f"# {card(family).summary}",
        f"# Written by `genkit new {family} --dataset {dataset}`; run it with `genkit run <this file>`.",
        "# Every option and its default: docs/spec.md, or `genkit schema` for editors.",
        *notes,
        "genkit_spec: 1",
        f"name: my_{name}",  # not a shipped spec's name: its run never replaces exports/<that name>
        "seed: 0",
        "",
        "data:",
        f"  source: {dataset}",
        *_image_size_line(dataset),
    ]


def _image_size_line(dataset):
    """shapes are drawn at any square size: say which one the networks of the starter expect."""
    if dataset != "shapes":
        return []
    side = DATASET_SHAPES[dataset][0]
    return [f"  image_size: {side}           # the networks below are sized for {side}x{side}"]


def loss_lines(family):
    """The `loss` section with every option of the family at its default, each with its doc."""
    lines = ["loss:"]
    for name, field in card(family).loss.model_fields.items():
        default = field.get_default(call_default_factory=True)  # a list option's default comes from a factory
        value = str(default).lower() if isinstance(default, bool) else "null" if default is None else default
        lines.append(f"  {name}: {value}".ljust(33) + f" # {field.description}")
    return lines


def starter_spec(family: str, dataset: str = "mnist") -> str:
    """The text of a commented spec for `family` on the builtin `dataset`."""
    if family not in family_names() or dataset not in DATASET_SHAPES:
        raise ValueError(f"unknown family {family!r} or dataset {dataset!r}")
    return card(family).starter(dataset, DATASET_SHAPES[dataset])


def encoder_decoder_starter(family, dataset, shape, *, encoder, decoder, latent_dim=None, labels=False, metrics=("reconstruction",)):
    """An encoder/decoder family's starter: its networks, its loss at the defaults, Adam 1e-3, 20 short epochs."""
    name = f"{family}_{dataset}"
    lines = [
        *header(family, dataset, name),
        "  range: [0, 1]            # the decoder ends in a sigmoid",
        f"  labels: {'true' if labels else 'false'}",
        "  batch_size: 64",
        "  validation_split: 0.1",
        "",
        "model:",
        f"  family: {family}",
    ]
    if latent_dim is not None:
        lines.append(f"  latent_dim: {latent_dim}")
    if labels:
        lines.append(f"  condition: {{num_classes: {DATASET_CLASSES[dataset]}, encoding: onehot}}   # onehot | embedding")
    lines += ["  networks:", "    encoder:", f"      input: [{shape[0]}, {shape[1]}, {shape[2]}]", "      layers:"]
    lines += encoder + ["    decoder:", "      layers:"] + decoder + [""]
    lines += loss_lines(family) + [""]
    lines += [
        "train:",
        "  epochs: 20",
        "  steps_per_epoch: 60       # remove to make every epoch a full pass over the data",
        "  optimizer: {name: adam, learning_rate: 1.0e-3}",
        "",
        "evaluate:",
        f"  metrics: [{', '.join(metrics)}]",
        "",
    ]
    return "\n".join(lines)


def adversarial_starter(family, dataset, shape, *, opponent, norm, steps, adam, metrics, labels=False):
    """DCGAN networks (Radford et al. 2016) for a generator and its `opponent` (normalised by `norm`)."""
    name = f"{family}_{dataset}"
    h, w, c = shape[0] // 4, shape[1] // 4, shape[2]
    lines = [
        *header(family, dataset, name),
        "  range: [-1, 1]           # the generator ends in tanh",
        f"  labels: {'true' if labels else 'false'}",
        f"  batch_size: {64 * steps}{'           # 5 critic steps of 64 images per generator step' if steps > 1 else ''}",
        "  validation_split: 0.1",
        "",
        "model:",
        f"  family: {family}",
        "  latent_dim: 64",
    ]
    if labels:
        lines.append(f"  condition: {{num_classes: {DATASET_CLASSES[dataset]}, encoding: onehot}}   # onehot | embedding")
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
        f"        - {norm}: {{}}",
        "        - LeakyReLU: {negative_slope: 0.2}",
        "        - Flatten: {}",
        "        - Dense: {units: 1}",
        "",
    ]
    lines += loss_lines(family) + [""]
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


def translation_starter(family, dataset, shape, *, translation, roles, metrics):
    """Small U-Net generators and PatchGANs (Isola et al. 2017) for the `roles` of a translation family."""
    name = f"{family}_{dataset}"
    h, w, c = shape
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
    adam = "{name: adam, learning_rate: 2.0e-4, beta_1: 0.5}"
    lines = [
        *header(family, dataset, name),
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
    lines += [""] + loss_lines(family) + [""]
    lines += ["train:", "  epochs: 10", "  steps_per_epoch: 60       # remove to make every epoch a full pass over the data"]
    lines += ["  optimizers:"] + [f"    {role}: {adam}" for role in roles]
    lines += ["", "evaluate:", f"  metrics: [{', '.join(metrics)}]", "", "export:", f"  onnx: {{networks: [{', '.join(r for r in roles if r.startswith('generator'))}]}}", ""]
    return "\n".join(lines)
