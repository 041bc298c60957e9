"""The progan family's `growth` section: the channels per resolution, the stage templates and the
schedule in images (TensorFlow-free; the card declares it, genkit/families/progan/growing.py
builds the networks from it).

A template writes `$filters` where each stage puts its own entry of `growth.filters` (and the
discriminator block `$out_filters`, the entry of the resolution below), so one template serves
every stage.
"""

from __future__ import annotations

import bisect

from pydantic import Field, PositiveInt

from genkit.spec.schema import NetworkSpec
from genkit.spec.section import Section

__all__ = ["TEMPLATE_PARAMETERS", "GrowthSection", "fill_template", "placeholders", "stage_sizes"]

# The `$name` values each template may hold, filled in per stage by the family.
TEMPLATE_PARAMETERS = {
    "generator_block": ("filters",),
    "to_rgb": (),
    "from_rgb": ("filters",),
    "discriminator_block": ("filters", "out_filters"),
}


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


def placeholders(value, path=()):
    """(path, name) of every `$name` value in a layer list or graph."""
    if isinstance(value, str) and value.startswith("$"):
        yield path, value[1:]
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from placeholders(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from placeholders(item, path + (i,))
