"""The progan family's card: progressive growing of GANs. Its mathematics are in model.py.

The spec declares the networks per resolution. `model.networks` holds what exists from the
start: the generator's first stage (z -> the first resolution's features) and the
discriminator's last (those features -> one score). The top-level `growth` section holds the
rest: the channels of every resolution (`filters`), the templates of the blocks added at each
doubling (`generator_block`, `discriminator_block`) and of the RGB heads every resolution has
(`to_rgb`, `from_rgb`), and the schedule in images. A template writes `$filters` where each
stage puts its own entry of `growth.filters` (and the discriminator block `$out_filters`, the
entry of the resolution below), so one template serves every stage.
"""

from __future__ import annotations

import re

from pydantic import Field

from genkit.errors import Problem
from genkit.families.progan.growth import TEMPLATE_PARAMETERS, GrowthSection, placeholders, stage_sizes
from genkit.spec.budget_rules import SIZE_ARGUMENTS, budget
from genkit.spec.card import ExportCard, FamilyCard, Monitor
from genkit.spec.network_rules import last_activation, layer_entries
from genkit.spec.section import Section
from genkit.spec.starter import header, loss_lines

__all__ = ["CARD", "ProGANLoss"]

# Networks export.onnx.networks may also name: a stage's generator at α = 1.
STAGE_EXPORT = r"generator_\d+x\d+"
REMEDIES = "more growth.stable_images per stage, a lower learning rate, or a larger MinibatchStdDev group_size"


class ProGANLoss(Section):
    gp_weight: float = Field(
        10.0,
        gt=0.0,
        description="λ: weight of the gradient penalty λ·E[(‖∇D(x̂)‖₂ − 1)²] (Gulrajani et al. 2017; ProGAN: 10).",
    )
    drift_weight: float = Field(
        0.001,
        ge=0.0,
        description="ε_drift: weight of the drift penalty ε_drift·E[D(x)²] on real scores, which keeps the "
        "discriminator's output near zero (Karras et al. 2018, appendix A.1: 0.001). 0 turns it off.",
    )


# --------------------------------------------------------------------------- rules
def check_template_parameters(spec):
    """Each template writes only the `$names` its stages fill; the first-stage networks none."""
    bodies = [(("growth", key), getattr(spec.growth, key), names) for key, names in TEMPLATE_PARAMETERS.items()]
    bodies += [
        (("model", "networks", role), spec.model.networks[role], ())
        for role in CARD.roles
        if role in spec.model.networks
    ]
    problems = []
    for where, net, names in bodies:
        for key in ("layers", "graph"):
            for path, name in placeholders(getattr(net, key), where + (key,)):
                if name not in names:
                    allowed = ", ".join(f"${n}" for n in names) or "none: it is built once"
                    problems.append(
                        Problem(
                            path, f"${name} is not filled in here; this network takes {allowed}.", "Write a number."
                        )
                    )
    return problems


def check_growth_fits_the_images(spec):
    """data.image_size (when given) is square and halves len(growth.filters) − 1 times to 2 or more."""
    size = spec.data.image_size
    if size is None:
        return []  # the model checks the data's own size when it is built
    stages = spec.growth.stages
    if size[0] != size[1]:
        return [
            Problem(
                ("data", "image_size"),
                f"progan grows square images; got {list(size)}.",
                f"Use e.g. 'image_size: {size[0]}'.",
            )
        ]
    if stage_sizes(size[0], stages) is None:
        fitting = [n for n in range(2, 12) if stage_sizes(size[0], n)]
        return [
            Problem(
                ("growth", "filters"),
                f"has {stages} entries, so {size[0]}x{size[0]} images would halve {stages - 1} times, which does not "
                "end on a whole size of 2 or more.",
                f"Give {' or '.join(map(str, fitting))} entries."
                if fitting
                else "Use an image size with a factor of 2.",
            )
        ]
    return []


def check_phases_hold_a_batch(spec):
    """One count per growth step when a list is given, and no phase shorter than one batch (it would be
    skipped, fade-in and optimizer restart included)."""
    growth, batch, problems = spec.growth, spec.data.batch_size, []
    for key in ("stable_images", "fade_images"):
        value = getattr(growth, key)
        if isinstance(value, list) and len(value) != growth.stages - 1:
            problems.append(
                Problem(
                    ("growth", key),
                    f"has {len(value)} entries; growth.filters has {growth.stages}, so the networks grow "
                    f"{growth.stages - 1} times and it needs one entry per growth ({growth.stages - 1}).",
                    "Give that many entries, or one number for every growth.",
                )
            )
            continue
        for i, images in enumerate(growth.phase_images(key)):
            if images < batch:
                where = ("growth", key) + ((i,) if isinstance(value, list) else ())
                problems.append(
                    Problem(where, f"is {images}, fewer images than one batch ({batch}).", f"Use at least {batch}.")
                )
    return problems


def check_no_schedule_over_the_run(spec):
    """Adam's state, its step count included, restarts at every phase: a schedule would restart too."""
    options = [(("train", "optimizer"), spec.train.optimizer)]
    options += [(("train", "optimizers", role), opt) for role, opt in spec.train.optimizers.items()]
    problems = []
    for path, opt in options:
        if opt.schedule != "constant" or opt.warmup_epochs:
            field = "schedule" if opt.schedule != "constant" else "warmup_epochs"
            problems.append(
                Problem(
                    path + (field,),
                    "progan restarts the optimizer's state, its step count included, at every growth phase "
                    "(Karras et al. 2018), so a schedule over the run would restart with it.",
                    "Use schedule: constant without warm-up.",
                )
            )
    return problems


def check_growth_sizes(spec):
    """growth.filters and the templates' written sizes within GENKIT_MAX_LAYER_SIZE, and the grown
    networks' parameters (estimated from the filters) within GENKIT_MAX_PARAMETERS."""
    cap = budget("GENKIT_MAX_LAYER_SIZE")
    growth = spec.growth
    problems = [
        Problem(("growth", "filters", i), f"is {f:,}, above the largest layer size {cap:,}.", "Use a smaller value.")
        for i, f in enumerate(growth.filters)
        if f > cap
    ]
    for key in TEMPLATE_PARAMETERS:
        for path, name, kwargs in layer_entries(getattr(growth, key)):
            for argument in SIZE_ARGUMENTS:
                value = kwargs.get(argument)
                if isinstance(value, int) and not isinstance(value, bool) and value > cap:
                    where = ("growth", key) + path + ((name,) if path[0] == "layers" else ()) + (argument,)
                    problems.append(
                        Problem(where, f"is {value:,}, above the largest layer size {cap:,}.", "Use a smaller value.")
                    )
    if problems:
        return problems
    # Every 3x3 convolution of a stage holds about 9·C² weights: enough to refuse a size no machine holds.
    estimate = sum(2 * 2 * 9 * f * f for f in growth.filters)
    most = budget("GENKIT_MAX_PARAMETERS")
    if estimate > most:
        return [
            Problem(
                ("growth", "filters"),
                f"make networks of about {estimate:,} parameters, above the budget of {most:,}.",
                "Use fewer channels.",
            )
        ]
    return []


def check_stage_exports(spec):
    """export.onnx.networks may name a stage's generator, generator_<side>x<side>, below the data's size."""
    size = spec.data.image_size
    sides = stage_sizes(size[0], spec.growth.stages) if size is not None and size[0] == size[1] else None
    if sides is None:
        return []  # the exporter checks the names against the stages it builds
    stages = [f"generator_{side}x{side}" for side in sides[:-1]]
    return [
        Problem(
            ("export", "onnx", "networks"),
            f"{name!r} is not a stage of this growth; its stages' generators are {', '.join(stages)}.",
            "",
        )
        for name in spec.export.onnx.networks or []
        if re.fullmatch(STAGE_EXPORT, name) and name not in stages
    ]


def check_to_rgb_suits_the_range(spec):
    """A sigmoid to_rgb cannot reach [-1, 1] data, nor a tanh one sit in [0, 1] (ProGAN's is linear)."""
    activation, path = last_activation(spec.growth.to_rgb)
    bounds = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}.get(activation)
    if bounds is None or bounds == tuple(spec.data.range):
        return []
    return [
        Problem(
            ("growth", "to_rgb") + path,
            f"a {activation} output lies in {list(bounds)} but data.range is {list(spec.data.range)}.",
            "Leave to_rgb linear (ProGAN; samples are clipped to the range), or match data.range.",
        )
    ]


# --------------------------------------------------------------------------- starter
def starter(dataset, shape):
    """ProGAN's networks (Karras et al. 2018, table 2) at a small width, from 4x4 (7x7 for 28x28 images)."""
    stages = max(n for n in range(2, 7) if (stage_sizes(shape[0], n) or [0])[0] >= 4)
    sizes = stage_sizes(shape[0], stages)
    filters = [min(128, 32 * 2 ** (stages - 1 - s)) for s in range(stages)]  # halved at each doubling
    base, first = sizes[0], filters[0]
    lines = [
        *header("progan", dataset, f"progan_{dataset}"),
        "  range: [-1, 1]",
        "  labels: false",
        "  batch_size: 32",
        "  validation_split: 0.1",
        "",
        "model:",
        "  family: progan",
        "  latent_dim: 128",
        "  networks:",
        f"    generator:               # z -> the {base}x{base} features of the first stage",
        "      layers:",
        "        - PixelNormalization: {}",
        f"        - EqualizedDense: {{units: {base * base * first}, activation: leaky_relu, gain: 0.3536}}   # sqrt(2)/4 (ProGAN)",
        f"        - Reshape: {{target_shape: [{base}, {base}, {first}]}}",
        "        - PixelNormalization: {}",
        f"        - EqualizedConv2D: {{filters: {first}, kernel_size: 3, activation: leaky_relu}}",
        "        - PixelNormalization: {}",
        f"    discriminator:           # the {base}x{base} features -> one score",
        "      layers:",
        "        - MinibatchStdDev: {group_size: 4}",
        f"        - EqualizedConv2D: {{filters: {first}, kernel_size: 3, activation: leaky_relu}}",
        "        - Flatten: {}",
        f"        - EqualizedDense: {{units: {first}, activation: leaky_relu}}",
        "        - EqualizedDense: {units: 1, gain: 1.0}",
        "",
        "growth:",
        f"  filters: [{', '.join(map(str, filters))}]".ljust(29) + f" # at {', '.join(f'{s}x{s}' for s in sizes)}",
        "  stable_images: 60000",
        "  fade_images: 60000",
        "  generator_block:            # (H, W, .) -> (2H, 2W, $filters)",
        "    layers:",
        "      - UpSampling2D: {size: 2}",
        "      - EqualizedConv2D: {filters: $filters, kernel_size: 3, activation: leaky_relu}",
        "      - PixelNormalization: {}",
        "      - EqualizedConv2D: {filters: $filters, kernel_size: 3, activation: leaky_relu}",
        "      - PixelNormalization: {}",
        "  to_rgb:",
        "    layers:",
        f"      - EqualizedConv2D: {{filters: {shape[2]}, kernel_size: 1, gain: 1.0}}",
        "  from_rgb:",
        "    layers:",
        "      - EqualizedConv2D: {filters: $filters, kernel_size: 1, activation: leaky_relu}",
        "  discriminator_block:        # (2H, 2W, $filters) -> (H, W, $out_filters)",
        "    layers:",
        "      - EqualizedConv2D: {filters: $filters, kernel_size: 3, activation: leaky_relu}",
        "      - EqualizedConv2D: {filters: $out_filters, kernel_size: 3, activation: leaky_relu}",
        "      - AveragePooling2D: {pool_size: 2}",
        "",
        *loss_lines("progan"),
        "",
        "train:",
        "  epochs: 10",
        "  optimizer: {name: adam, learning_rate: 1.0e-3, beta_1: 0.0, beta_2: 0.99}   # both players (ProGAN)",
        "  ema: 0.999",
        "",
        "evaluate:",
        "  metrics: [fid, kid]",
        "",
    ]
    return "\n".join(lines)


CARD = FamilyCard(
    name="progan",
    summary="Progressive growing of GANs: generator and discriminator grow from a small resolution to the data's, "
    "each new resolution faded in, trained as a WGAN-GP with equalized learning rates.",
    reference="Karras, Aila, Laine & Lehtinen, 'Progressive Growing of GANs for Improved Quality, Stability, and "
    "Variation', ICLR 2018",
    model="genkit.families.progan.model:ProGAN",
    roles=("generator", "discriminator"),
    loss=ProGANLoss,
    sections={"growth": GrowthSection},
    latent="required",
    # Each role's optimizer trains the whole grown player: every stage's blocks and RGB heads.
    optimizers="per_role",
    ema_role="generator",
    score_roles=("discriminator",),
    logs=("loss", "d_loss", "g_loss", "wasserstein", "gradient_penalty", "drift", "d_grad_norm", "g_grad_norm"),
    loss_networks={
        "d_loss": "discriminator",
        "wasserstein": "discriminator",
        "gradient_penalty": "discriminator",
        "drift": "discriminator",
        "d_grad_norm": "discriminator",
        "g_loss": "generator",
        "g_grad_norm": "generator",
    },
    monitor=Monitor(fake_probability=False, remedies=REMEDIES),
    export=ExportCard(networks=("generator", "discriminator"), on_request=STAGE_EXPORT, sampling="prior"),
    rules=(
        check_template_parameters,
        check_growth_fits_the_images,
        check_phases_hold_a_batch,
        check_no_schedule_over_the_run,
        check_growth_sizes,
        check_stage_exports,
        check_to_rgb_suits_the_range,
    ),
    starter=starter,
)
