"""The infogan family's card: a GAN whose latent codes a Q head recovers. Its mathematics are in model.py."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from genkit.errors import Problem
from genkit.spec.card import ExportCard, FamilyCard, Monitor
from genkit.spec.section import Section
from genkit.spec.starter import DATASET_CLASSES, header, loss_lines

__all__ = ["CARD", "CodeSpec", "InfoGANLoss"]

REMEDIES = (
    "a MinibatchStdDev layer in the discriminator, a lower generator learning rate, or a smaller "
    "categorical_weight (the information term can dominate the adversarial one early on)"
)


class CodeSpec(Section):
    """One latent code c_i beside the noise z: the generator reads it, the Q head predicts it back."""

    name: str = Field(
        ...,
        pattern=r"^[a-z][a-z0-9_]*$",
        max_length=32,
        description="How the code is called: `genkit sample --code NAME=VALUE`, the manifest, the logs.",
    )
    kind: Literal["categorical", "continuous"] = Field(
        ...,
        description="categorical: one of `size` values drawn uniformly, fed to the generator one-hot (Q predicts "
        "logits); continuous: one number drawn from U(-1, 1) (Q predicts a Gaussian's mean).",
    )
    size: int | None = Field(
        None, ge=2, le=1000, description="categorical: K, the number of values (MNIST digits: 10); continuous: not given."
    )


# The paper's MNIST codes, as a spec writes them (validated into CodeSpec like any spec's).
DEFAULT_CODES = (
    {"name": "digit", "kind": "categorical", "size": 10},
    {"name": "c1", "kind": "continuous"},
    {"name": "c2", "kind": "continuous"},
)


class InfoGANLoss(Section):
    codes: list[CodeSpec] = Field(
        default_factory=lambda: [dict(code) for code in DEFAULT_CODES],
        validate_default=True,
        max_length=64,
        description="The latent codes c, in the order the generator reads them after z: [z, c_1, c_2, ...] "
        "(categorical codes one-hot). Default: the paper's MNIST codes, one 10-way categorical and two "
        "continuous (Chen et al. 2016, section 7.1).",
    )
    categorical_weight: float = Field(
        1.0, ge=0.0, description="λ for categorical codes: weight of their −log Q(c|x) in both players' losses (paper: 1)."
    )
    continuous_weight: float = Field(
        0.1,
        ge=0.0,
        description="λ for continuous codes: weight of their −log Q(c|x) (paper: 0.1, smaller because the "
        "Gaussian log-density has a different scale than the categorical entropy).",
    )
    continuous_std: Literal["fixed", "learned"] = Field(
        "learned",
        description="Q(c|x) of a continuous code is N(μ(x), σ²): learned - Q also predicts log σ, so −log Q = "
        "½((c − μ)/σ)² + log σ + const grows sharper as Q grows sure, which the paper's small λ (0.1) needs to "
        "matter; fixed - σ = 1, so −log Q is ½(c − μ)² plus a constant, a weak term that the authors' released "
        "MNIST code pairs with λ = 1 (with λ = 0.1 the generator ignored its continuous codes here).",
    )
    noise: Literal["uniform", "normal"] = Field(
        "uniform",
        description="The prior of the incompressible noise z beside the codes: uniform - U(−noise_scale, "
        "noise_scale) per number, as the paper's released MNIST code draws it; normal - N(0, noise_scale²). "
        "The less z varies, the less of the digit's identity it can carry, and the more the categorical code "
        "must (measured on offline MNIST: see specs/infogan_mnist.yaml).",
    )
    noise_scale: float = Field(
        1.0, gt=0.0, le=10.0, description="uniform: the half-width of z's interval; normal: its standard deviation."
    )
    generator_loss: Literal["non_saturating", "minimax", "max_likelihood"] = Field(
        "non_saturating",
        description="The generator's adversarial term (see the gan family): non_saturating −log D(G(z, c)) as in the paper.",
    )


# --------------------------------------------------------------------------- cross-field rules
def check_codes_are_declared(spec):
    """Without a code there is nothing to disentangle: the model is a plain GAN."""
    if spec.loss.codes:
        return []
    return [Problem(("loss", "codes"), "is empty; InfoGAN needs at least one latent code.", "Add e.g. '{name: digit, kind: categorical, size: 10}', or use the gan family.")]


def check_code_names_are_unique(spec):
    """Each code is addressed by name (`--code NAME=VALUE`, manifest slices)."""
    problems, seen = [], set()
    for i, code in enumerate(spec.loss.codes):
        if code.name in seen:
            problems.append(Problem(("loss", "codes", i, "name"), f"{code.name!r} names two codes.", "Give every code its own name."))
        seen.add(code.name)
    return problems


def check_code_sizes_fit_kinds(spec):
    """A categorical code needs its number of values; a continuous code is one number."""
    problems = []
    for i, code in enumerate(spec.loss.codes):
        if code.kind == "categorical" and code.size is None:
            problems.append(Problem(("loss", "codes", i), f"code {code.name!r} is categorical but has no size.", "Add 'size: K', the number of values (e.g. 10)."))
        if code.kind == "continuous" and code.size is not None:
            problems.append(
                Problem(
                    ("loss", "codes", i, "size"),
                    f"code {code.name!r} is continuous: one number from U(-1, 1), so it takes no size.",
                    "Remove size; declare several continuous codes for several numbers.",
                )
            )
    return problems


def check_weights_have_codes(spec):
    """A weight for a kind of code the spec does not declare would be silently ignored."""
    kinds = {code.kind for code in spec.loss.codes}
    fields = type(spec.loss).model_fields
    problems = []
    for kind in ("categorical", "continuous"):
        name = f"{kind}_weight"
        if kind not in kinds and getattr(spec.loss, name) != fields[name].default:
            problems.append(Problem(("loss", name), f"weighs {kind} codes, and loss.codes declares none.", "Remove it, or declare such a code."))
    if "continuous" not in kinds and spec.loss.continuous_std != fields["continuous_std"].default:
        problems.append(Problem(("loss", "continuous_std"), "applies to continuous codes, and loss.codes declares none.", "Remove it."))
    return problems


def check_code_accuracy_has_a_categorical_code(spec):
    """code_accuracy matches the values of the first categorical code to the data's classes."""
    if "code_accuracy" not in spec.evaluate.metrics or any(c.kind == "categorical" for c in spec.loss.codes):
        return []
    return [Problem(("evaluate", "metrics"), "'code_accuracy' scores a categorical code against the classes; loss.codes declares none.", "Remove it, or add a categorical code.")]


# --------------------------------------------------------------------------- starter
def starter(dataset, shape):
    """The paper's MNIST networks (Chen et al. 2016, appendix C.1, table 1), sized from the image shape;
    the categorical code has as many values as the data set has classes."""
    h, w, c = shape[0] // 4, shape[1] // 4, shape[2]
    name, size = {"mnist": "digit", "shapes": "shape"}.get(dataset, "category"), DATASET_CLASSES[dataset]
    codes = f"[{{name: {name}, kind: categorical, size: {size}}}, {{name: c1, kind: continuous}}, {{name: c2, kind: continuous}}]"
    losses = [f"  codes: {codes}" if line.startswith("  codes:") else line for line in loss_lines("infogan")]
    lines = [
        *header("infogan", dataset, f"infogan_{dataset}"),
        "  range: [-1, 1]           # the generator ends in tanh",
        "  labels: true             # only code_accuracy reads them: training never sees a label",
        "  batch_size: 64",
        "  validation_split: 0.1",
        "",
        "model:",
        "  family: infogan",
        f"  latent_dim: 62            # z; the generator reads [z, one-hot {name}, c1, c2] ({62 + size + 2} numbers)",
        "  networks:",
        "    generator:",
        "      layers:",
        "        - Dense: {units: 1024, use_bias: false}",
        "        - BatchNormalization: {}",
        "        - ReLU: {}",
        f"        - Dense: {{units: {h * w * 128}, use_bias: false}}",
        "        - BatchNormalization: {}",
        "        - ReLU: {}",
        f"        - Reshape: {{target_shape: [{h}, {w}, 128]}}",
        "        - Conv2DTranspose: {filters: 64, kernel_size: 4, strides: 2, padding: same, use_bias: false}",
        "        - BatchNormalization: {}",
        "        - ReLU: {}",
        f"        - Conv2DTranspose: {{filters: {c}, kernel_size: 4, strides: 2, padding: same, activation: tanh}}",
        "    discriminator:           # the body D and Q share; the family adds D's logit on its features",
        f"      input: [{shape[0]}, {shape[1]}, {c}]",
        "      layers:",
        "        - Conv2D: {filters: 64, kernel_size: 4, strides: 2, padding: same}",
        "        - LeakyReLU: {negative_slope: 0.1}",
        "        - Conv2D: {filters: 128, kernel_size: 4, strides: 2, padding: same, use_bias: false}",
        "        - BatchNormalization: {}",
        "        - LeakyReLU: {negative_slope: 0.1}",
        "        - Flatten: {}",
        "        - Dense: {units: 1024, use_bias: false}",
        "        - BatchNormalization: {}",
        "        - LeakyReLU: {negative_slope: 0.1}",
        "    q_head:                  # on the body's features; the family adds one head per code",
        "      layers:",
        "        - Dense: {units: 128, use_bias: false}",
        "        - BatchNormalization: {}",
        "        - LeakyReLU: {negative_slope: 0.1}",
        "",
        *losses,
        "",
        "train:",
        "  epochs: 20",
        "  steps_per_epoch: 60       # remove to make every epoch a full pass over the data",
        "  optimizers:               # the paper: 2e-4 for D (and Q), 1e-3 for G, Adam beta_1 0.5",
        "    generator: {name: adam, learning_rate: 1.0e-3, beta_1: 0.5}",
        "    discriminator: {name: adam, learning_rate: 2.0e-4, beta_1: 0.5}",
        "    q_head: {name: adam, learning_rate: 2.0e-4, beta_1: 0.5}",
        "",
        "evaluate:",
        "  metrics: [code_accuracy, fid]",
        "",
    ]
    return "\n".join(lines)


CARD = FamilyCard(
    name="infogan",
    summary="InfoGAN: a GAN whose generator also reads latent codes that a Q head, sharing the discriminator, must recover.",
    reference="Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel, 'InfoGAN: Interpretable representation learning by information maximizing generative adversarial nets', NeurIPS 2016",
    model="genkit.families.infogan.model:InfoGAN",
    roles=("generator", "discriminator", "q_head"),
    loss=InfoGANLoss,
    latent="required",
    optimizers="per_role",
    ema_role="generator",
    output_roles=("generator",),
    logs=("loss", "d_loss", "g_loss", "info_loss", "mi_categorical", "nll_continuous", "d_real", "d_fake", "d_grad_norm", "q_grad_norm", "g_grad_norm"),
    loss_networks={
        "d_loss": "discriminator", "d_real": "discriminator", "d_fake": "discriminator", "d_grad_norm": "discriminator",
        "info_loss": "q_head", "mi_categorical": "q_head", "nll_continuous": "q_head", "q_grad_norm": "q_head",
        "g_loss": "generator", "g_grad_norm": "generator",
    },
    monitor=Monitor(fake_probability=True, remedies=REMEDIES),
    export=ExportCard(networks=("generator", "discriminator"), sampling="prior"),
    rules=(
        check_codes_are_declared,
        check_code_names_are_unique,
        check_code_sizes_fit_kinds,
        check_weights_have_codes,
        check_code_accuracy_has_a_categorical_code,
    ),
    starter=starter,
)
