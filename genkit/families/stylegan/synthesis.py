"""StyleGAN2's synthesis network (the skip generator, Karras et al. 2020, figure 2d and 7), from the `style` section.

From a learned constant at the first resolution, each resolution r = base·2^l holds

    l = 0:  x = act(ModConv(x, w_0) + B·n_0);                 rgb = toRGB(x, w_1)
    l ≥ 1:  x = upsample(x)
            x = act(ModConv(x, w_{2l−1}) + B·n_{2l−1})
            x = act(ModConv(x, w_{2l}) + B·n_{2l});             rgb = upsample(rgb) + toRGB(x, w_{2l+1})

so L resolutions read num_ws = 2L styles and 2L − 1 noise images (one per convolution), and
each toRGB shares its style with the next resolution's first convolution, as StyleGAN2's
official code does. toRGB is a modulated 1x1 convolution without demodulation; the image is
the sum of every resolution's upsampled toRGB output, linear (the sampler clips it to the
data range). Upsampling is bilinear, close to StyleGAN2's [1, 3, 3, 1] FIR filter.

The network takes `ws` (B, num_ws, w_dim) and the noise images `noise_k` (B, r_k, r_k, 1) as
inputs and outputs `x`: the caller draws the noise (the trainer with its seeded generator,
the runtime with NumPy), so the exported graph has no random ops and runs at any batch size.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from genkit.errors import Problem, SpecError
from genkit.families.stylegan.card import base_resolution
from genkit.nets.blocks import LearnedConstant, ModulatedConv2D, NoiseInjection

__all__ = ["SynthesisLayout", "build_synthesis", "synthesis_layout"]

# Karras et al. 2019, section 3.1: the styles of the two coarsest resolutions (4², 8²) set pose
# and shape, the later ones colour and detail. `genkit sample --mix` swaps styles there by default.
COARSE_STYLES = 4


@dataclass(frozen=True)
class SynthesisLayout:
    """Where the styles and noise images go: one entry per resolution, from the constant's."""

    resolutions: tuple[int, ...]

    @property
    def num_ws(self) -> int:
        return 2 * len(self.resolutions)

    @property
    def noise_sizes(self) -> tuple[int, ...]:
        """Side of each noise image n_k, in input order: one for the first resolution, two for each after."""
        first, *rest = self.resolutions
        return (first, *[r for r in rest for _ in range(2)])

    @property
    def coarse(self) -> tuple[int, ...]:
        """Indices of the coarse styles (those of the first two resolutions); the others are fine."""
        return tuple(range(min(COARSE_STYLES, self.num_ws - 1)))


def synthesis_layout(style, data_shape) -> SynthesisLayout:
    """The layout `style.filters` gives for images of `data_shape`, or a SpecError naming the field."""
    height, width = data_shape[:2]
    levels = len(style.filters)
    base = base_resolution(height, levels) if height == width else None
    if base is None:
        fits = [n for n in range(1, 12) if height == width and base_resolution(height, n)]
        fix = (
            f"Give {', '.join(map(str, fits))} entries (constants of {', '.join(str(base_resolution(height, n)) for n in fits)}px)."
            if fits
            else "The synthesis network makes square images whose side halves to at least 2, e.g. 28x28 or 32x32 "
            "(data.image_size resizes the data)."
        )
        raise SpecError(
            [
                Problem(
                    ("style", "filters"),
                    f"has {levels} entries, so the images of {height}x{width} would start from a constant of "
                    f"{height}/{2 ** (levels - 1)}px; it must be a whole number of at least 2.",
                    fix,
                )
            ]
        )
    return SynthesisLayout(tuple(base * 2**level for level in range(levels)))


def build_synthesis(style, w_dim: int, data_shape) -> keras.Model:
    """The synthesis network [ws, noise_0, …] -> x for the `style` section and images of `data_shape`."""
    layout = synthesis_layout(style, data_shape)
    channels = data_shape[-1]
    ws = keras.Input((layout.num_ws, w_dim), name="ws")
    noises = [keras.Input((r, r, 1), name=f"noise_{k}") for k, r in enumerate(layout.noise_sizes)]
    noise = iter(noises)

    def layer(x, filters, index, name):
        """ModConv with style w_index, noise, LeakyReLU(0.2): one synthesis layer (its bias is the conv's)."""
        x = ModulatedConv2D(filters, style.kernel_size, name=f"{name}_conv")([x, ws[:, index]])
        x = NoiseInjection(name=f"{name}_noise")([x, next(noise)])
        return keras.layers.LeakyReLU(0.2, name=f"{name}_act")(x)

    base = layout.resolutions[0]
    x = LearnedConstant([base, base, style.filters[0]], name="const")(ws)
    rgb = None
    for level, (size, filters) in enumerate(zip(layout.resolutions, style.filters)):
        if level == 0:
            x = layer(x, filters, 0, f"b{size}")
        else:
            x = keras.layers.UpSampling2D(2, interpolation="bilinear", name=f"b{size}_up")(x)
            x = layer(x, filters, 2 * level - 1, f"b{size}_0")
            x = layer(x, filters, 2 * level, f"b{size}_1")
        to_rgb = ModulatedConv2D(channels, 1, demodulate=False, name=f"b{size}_torgb")([x, ws[:, 2 * level + 1]])
        if rgb is None:
            rgb = to_rgb
        else:
            skip = keras.layers.UpSampling2D(2, interpolation="bilinear", name=f"b{size}_rgb_up")(rgb)
            rgb = keras.layers.Add(name=f"b{size}_rgb")([skip, to_rgb])
    return keras.Model([ws, *noises], rgb, name="synthesis")
