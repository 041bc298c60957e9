"""The stylegan family's card: a style-based generator (StyleGAN2's synthesis). Its mathematics are in model.py.

The spec declares the mapping network (z -> w) and the discriminator as layer lists, like
every family's networks. The synthesis network is not a layer list: its layers read the
styles w and the noise images beside the feature maps, at fixed places (Karras et al. 2020,
figure 2d), so the top-level `style` section declares its shape instead — filters per
resolution and the kernel size — and the options of the styles themselves.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from genkit.errors import Problem
from genkit.spec.card import ExportCard, FamilyCard, Monitor
from genkit.spec.section import Section, changed
from genkit.spec.starter import header, loss_lines

__all__ = ["CARD", "StyleGANLoss", "StyleSection", "base_resolution"]

REMEDIES = (
    "a MinibatchStdDev layer in the discriminator, a larger loss.r1_gamma, style.mixing_probability near 0.9, "
    "or a lower learning rate"
)


class StyleSection(Section):
    """The synthesis network and its styles: filters per resolution, kernel, style mixing, w_avg."""

    filters: list[int] = Field(
        ...,
        min_length=1,
        max_length=11,
        description="Channels of the synthesis layers at each resolution, from the learned constant's to the "
        "data's; each step doubles the size, so n entries start from a constant of data size / 2^(n-1) "
        "(StyleGAN: 4x4; 32x32 images: 4 entries, 28x28 MNIST: 3 entries from 7x7). Each resolution has two "
        "modulated convolutions with noise (one at the first) and a toRGB layer whose output is upsampled and "
        "summed with the next (StyleGAN2's skip generator). Each at most 4096.",
    )
    kernel_size: int = Field(3, ge=1, le=7, description="Kernel size of the modulated convolutions (odd; StyleGAN: 3).")
    mixing_probability: float = Field(
        0.9,
        ge=0.0,
        le=1.0,
        description="Style mixing regularisation (Karras et al. 2019, section 3.1): the share of training batches "
        "whose styles come from two latents, switching at a random layer, so neighbouring styles do not "
        "learn to depend on each other. 0 turns it off.",
    )
    w_avg_decay: float = Field(
        0.995,
        gt=0.0,
        lt=1.0,
        description="β of the moving average w_avg ← β·w_avg + (1 − β)·mean(w) of the mapping network's outputs, "
        "tracked in training (and saved with the weights) as the centre of the truncation trick "
        "w' = w_avg + ψ(w − w_avg) (`genkit sample --truncation`).",
    )

    @field_validator("filters")
    @classmethod
    def _sizes(cls, value):
        bad = [f for f in value if not 1 <= f <= 4096]
        if bad:
            raise ValueError(f"every entry must be an integer in [1, 4096]; got {bad[0]}")
        return value

    @field_validator("kernel_size")
    @classmethod
    def _odd(cls, value):
        if value % 2 == 0:
            raise ValueError(f"must be odd (the convolutions keep the size with 'same' padding); got {value}")
        return value


class StyleGANLoss(Section):
    r1_gamma: float = Field(
        10.0,
        ge=0.0,
        description="γ of the R1 penalty (γ/2)·E‖∇_x D(x)‖² on real images (Mescheder et al. 2018), the "
        "discriminator's only regulariser in StyleGAN; 0 turns it off. StyleGAN used 10 on FFHQ 1024²; small "
        "images and batches want far less (StyleGAN2-ADA's rule: 0.0002·resolution²/batch_size).",
    )
    r1_interval: int = Field(
        16,
        ge=1,
        description="Lazy regularisation (Karras et al. 2020, section 3.1): R1 is computed on every N-th "
        "discriminator step only, weighted by N so its average pull is unchanged. 1: every step.",
    )
    path_length_weight: float = Field(
        0.0,
        ge=0.0,
        description="w_pl of the path-length penalty E[(‖J_wᵀ y‖₂ − a)²], y ~ N(0, I)/sqrt(H·W), a a moving average "
        "of the lengths (Karras et al. 2020, section 3.2, eq. 4): a fixed step in w changes the image by a "
        "fixed amount. StyleGAN2: 2; 0 (default) turns it off and saves its second-order gradients.",
    )
    path_length_interval: int = Field(
        4, ge=1, description="Lazy regularisation of the path-length penalty: every N-th generator step, weighted by N (StyleGAN2: 4)."
    )
    path_length_decay: float = Field(
        0.01, gt=0.0, lt=1.0, description="Rate of the moving average a of the path lengths (StyleGAN2: 0.01)."
    )


def check_lazy_options_apply(spec):
    """An interval or decay of a penalty that is off would be silently ignored: refuse it."""
    loss, problems = spec.loss, []
    owners = {"r1_interval": "r1_gamma", "path_length_interval": "path_length_weight", "path_length_decay": "path_length_weight"}
    for option, weight in owners.items():
        if getattr(loss, weight) == 0 and changed(loss, option):
            problems.append(Problem(("loss", option), f"applies only when loss.{weight} > 0; it is 0.", f"Remove it, or set loss.{weight}."))
    return problems


def base_resolution(image_size: int, levels: int) -> int | None:
    """The learned constant's size for `levels` resolutions doubling up to `image_size`; None if it does not divide."""
    step = 2 ** (levels - 1)
    return image_size // step if image_size % step == 0 and image_size // step >= 2 else None


def starter(dataset, shape):
    """Mapping MLP with lr_multiplier 0.01, filters from a 4x4 (7x7 for 28x28 images) constant, and a
    small equalized discriminator; both players on Adam β = (0, 0.99) as StyleGAN2."""
    levels = max(n for n in range(1, 6) if (base_resolution(shape[0], n) or 0) >= 4)
    filters = [min(128, 16 * 2 ** (levels - i)) for i in range(levels)]  # halved at each doubling, from 128
    sizes = [base_resolution(shape[0], levels) * 2**i for i in range(levels)]
    lines = [
        *header("stylegan", dataset, f"stylegan_{dataset}"),
        "  range: [-1, 1]",
        "  labels: false",
        "  batch_size: 32",
        "  validation_split: 0.1",
        "",
        "model:",
        "  family: stylegan",
        "  latent_dim: 64",
        "  networks:",
        "    mapping:                 # z -> w (its output size is w's); lr_multiplier 0.01 slows it 100x (StyleGAN)",
        "      layers:",
        "        - PixelNormalization: {}",
        *["        - EqualizedDense: {units: 64, activation: leaky_relu, lr_multiplier: 0.01}"] * 4,
        "    discriminator:",
        f"      input: [{shape[0]}, {shape[1]}, {shape[2]}]",
        "      layers:",
        "        - EqualizedConv2D: {filters: 32, kernel_size: 3, activation: leaky_relu}",
        "        - AveragePooling2D: {pool_size: 2}",
        "        - EqualizedConv2D: {filters: 64, kernel_size: 3, activation: leaky_relu}",
        "        - AveragePooling2D: {pool_size: 2}",
        "        - MinibatchStdDev: {group_size: 4}",
        "        - EqualizedConv2D: {filters: 64, kernel_size: 3, activation: leaky_relu}",
        "        - Flatten: {}",
        "        - EqualizedDense: {units: 1, gain: 1.0}",
        "",
        "style:",
        f"  filters: [{', '.join(map(str, filters))}]".ljust(33) + f" # at {', '.join(f'{s}x{s}' for s in sizes)}",
        "  kernel_size: 3",
        "  mixing_probability: 0.9",
        "  w_avg_decay: 0.995",
        "",
        # γ = 10 (the default) is StyleGAN's value at 1024x1024; images of 32 pixels want far less.
        *[line.replace("r1_gamma: 10.0 ", "r1_gamma: 0.1  ", 1) for line in loss_lines("stylegan")],
        "",
        "train:",
        "  epochs: 20",
        "  steps_per_epoch: 60       # remove to make every epoch a full pass over the data",
        "  optimizer: {name: adam, learning_rate: 2.0e-3, beta_1: 0.0, beta_2: 0.99}   # both players (StyleGAN2)",
        "  ema: 0.999",
        "",
        "evaluate:",
        "  metrics: [fid, kid]",
        "",
        "export:",
        "  onnx: {networks: [mapping, synthesis]}",
        "",
    ]
    return "\n".join(lines)


CARD = FamilyCard(
    name="stylegan",
    summary="A style-based GAN: a mapping network turns z into styles that modulate every layer of a synthesis "
    "network grown from a learned constant, with per-layer noise.",
    reference="Karras, Laine & Aila, 'A Style-Based Generator Architecture for GANs', CVPR 2019; Karras et al., "
    "'Analyzing and Improving the Image Quality of StyleGAN', CVPR 2020",
    model="genkit.families.stylegan.model:StyleGAN",
    roles=("mapping", "discriminator"),
    loss=StyleGANLoss,
    sections={"style": StyleSection},
    latent="required",
    # The mapping role's optimizer (train.optimizers.mapping, else train.optimizer) trains the whole
    # generator, mapping and synthesis, as StyleGAN's one G optimizer does; train.ema averages both.
    optimizers="per_role",
    ema_role="mapping",
    logit_roles=("discriminator",),
    logs=("loss", "d_loss", "g_loss", "d_real", "d_fake", "r1_penalty", "path_length_penalty", "d_grad_norm", "g_grad_norm"),
    loss_networks={
        "d_loss": "discriminator", "d_real": "discriminator", "d_fake": "discriminator", "r1_penalty": "discriminator",
        "d_grad_norm": "discriminator", "g_loss": "mapping", "path_length_penalty": "mapping", "g_grad_norm": "mapping",
    },
    monitor=Monitor(fake_probability=True, remedies=REMEDIES),
    export=ExportCard(networks=("mapping", "synthesis", "discriminator"), sampling="prior"),
    rules=(check_lazy_options_apply,),
    starter=starter,
)
