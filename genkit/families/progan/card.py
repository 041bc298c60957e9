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

import bisect
import re

from pydantic import Field, PositiveInt

from genkit.errors import Problem
from genkit.spec.budget_rules import SIZE_ARGUMENTS, budget
from genkit.spec.card import ExportCard, FamilyCard, Monitor
from genkit.spec.network_rules import last_activation, layer_entries
from genkit.spec.schema import NetworkSpec
from genkit.spec.section import Section
from genkit.spec.starter import header, loss_lines

__all__ = ["CARD", "TEMPLATE_PARAMETERS", "GrowthSection", "ProGANLoss", "fill_template", "stage_sizes"]

# Networks export.onnx.networks may also name: a stage's generator at α = 1.
STAGE_EXPORT = r"generator_\d+x\d+"
REMEDIES = "more growth.stable_images per stage, a lower learning rate, or a larger MinibatchStdDev group_size"

# The `$name` values each template may hold, filled in per stage by the family.
TEMPLATE_PARAMETERS = {
    "generator_block": ("filters",),
    "to_rgb": (),
    "from_rgb": ("filters",),
    "discriminator_block": ("filters", "out_filters"),
}


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


class GrowthSection(Section):
    """How the networks grow: channels per resolution, the per-stage templates, and the schedule."""

    filters: list[int] = Field(
        ...,
        min_length=2,
        description="Channels at each resolution, from the first (the generator network's output) to the data's; "
        "each entry doubles the size, so n entries start at data size / 2^(n-1) (ProGAN: 4x4; 32x32 images: 4 "
        "entries, 28x28 MNIST: 3 from 7x7). Stage s fills the templates' $filters with entry s.",
    )
    stable_images: PositiveInt | list[PositiveInt] = Field(
        800_000,
        description="Real images shown to the discriminator while a resolution trains on its own (Karras et al.: "
        "800k): one number for every resolution, or a list with one entry per resolution but the last, which "
        "trains until the run ends (low resolutions cost little: give them more).",
    )
    fade_images: PositiveInt | list[PositiveInt] = Field(
        800_000,
        description="Real images over which a new resolution fades in: α rises linearly from 0 to 1 and both "
        "networks blend the new block's output with the previous resolution's (Karras et al.: 800k). One number, "
        "or a list with one entry per resolution after the first.",
    )
    generator_block: NetworkSpec = Field(
        ...,
        description="The generator block a stage adds: features (H, W, ·) -> (2H, 2W, $filters), e.g. "
        "UpSampling2D, then two EqualizedConv2D with PixelNormalization.",
    )
    to_rgb: NetworkSpec = Field(
        ...,
        description="Features -> an image of the data's channels at every resolution (ProGAN: a linear 1x1 convolution).",
    )
    from_rgb: NetworkSpec = Field(
        ..., description="An image -> $filters features at every resolution (ProGAN: a 1x1 convolution and leaky ReLU)."
    )
    discriminator_block: NetworkSpec = Field(
        ...,
        description="The discriminator block a stage adds: (2H, 2W, $filters) -> (H, W, $out_filters), $out_filters "
        "being the resolution below's entry; e.g. two EqualizedConv2D, then AveragePooling2D.",
    )

    @property
    def stages(self) -> int:
        return len(self.filters)

    def phase_images(self, key: str) -> list[int]:
        """`stable_images` or `fade_images` as one count per growth step (n − 1 of them)."""
        value = getattr(self, key)
        return list(value) if isinstance(value, list) else [value] * (self.stages - 1)

    @property
    def phase_starts(self) -> list[int]:
        """The image count at which each phase begins: phase 0 is the first resolution on its own, then
        phase 2s − 1 fades stage s in and phase 2s trains it on its own, until the run ends."""
        starts = [0]
        for stable, fade in zip(self.phase_images("stable_images"), self.phase_images("fade_images"), strict=False):
            starts += [starts[-1] + stable, starts[-1] + stable + fade]
        return starts

    def phase_at(self, images: int) -> int:
        """The phase after `images` real images."""
        return bisect.bisect_right(self.phase_starts, images) - 1

    def phase_start(self, phase: int) -> int:
        return self.phase_starts[phase]

    def alpha_at(self, images: int) -> float | None:
        """α after `images` real images: rising from 0 to 1 over a fade-in, None in a stable phase."""
        phase = self.phase_at(images)
        return None if phase % 2 == 0 else min((images - self.phase_start(phase)) / self.fade_length(phase), 1.0)

    def fade_length(self, phase: int) -> int:
        """Images over which fade-in phase `phase` (odd) raises α from 0 to 1."""
        return self.phase_images("fade_images")[(phase - 1) // 2]


def stage_sizes(image_size: int, stages: int) -> list[int] | None:
    """The side of each stage's images, doubling up to `image_size`; None when it does not halve to >= 2."""
    step = 2 ** (stages - 1)
    if image_size % step or image_size // step < 2:
        return None
    return [image_size // step * 2**s for s in range(stages)]


def fill_template(template: NetworkSpec, values: dict) -> NetworkSpec:
    """The template with every value written `$name` replaced by `values[name]`."""

    def fill(value):
        if isinstance(value, str) and value.startswith("$") and value[1:] in values:
            return values[value[1:]]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    return template.model_copy(update={"layers": fill(template.layers), "graph": fill(template.graph)})


def _placeholders(value, path=()):
    """(path, name) of every `$name` value in a layer list or graph."""
    if isinstance(value, str) and value.startswith("$"):
        yield path, value[1:]
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _placeholders(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _placeholders(item, path + (i,))


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
            for path, name in _placeholders(getattr(net, key), where + (key,)):
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
