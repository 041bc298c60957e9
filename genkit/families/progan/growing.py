"""ProGAN's grown networks: building every stage's parts from the spec, and running them.

The grown generator is one Keras model, z -> [an image per stage], whose layers are the parts:
`generator_base` (model.networks.generator), `generator_block_<side>` and `to_rgb_<side>` for every
stage; the grown discriminator likewise takes an image per stage, through `from_rgb_<side>`,
`discriminator_block_<side>` and `discriminator_head` (model.networks.discriminator). Saving,
averaging (EMA) and exporting work on these whole models; `generate` and `discriminate` call the
parts one stage, and one fade-in, at a time (see model.py for the equations).
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from genkit.errors import Problem, SpecError
from genkit.families.progan.growth import fill_template
from genkit.modeling.networks import check_one_score
from genkit.nets import build_network

__all__ = [
    "build_discriminator",
    "build_generator",
    "discriminate",
    "downsample",
    "generate",
    "real_images_at",
    "side_name",
    "trained_parts",
    "upsample",
]


def side_name(side: int) -> str:
    """'8x8' for side 8: how parts and exports are named."""
    return f"{side}x{side}"


def upsample(images):
    """Nearest-neighbour doubling, (B, H, W, C) -> (B, 2H, 2W, C)."""
    return tf.repeat(tf.repeat(images, 2, axis=1), 2, axis=2)


def downsample(images, factor: int):
    """Average pooling by `factor`, (B, H, W, C) -> (B, H/f, W/f, C)."""
    return images if factor == 1 else tf.nn.avg_pool2d(images, factor, factor, "VALID")


def lerp(old, new, alpha):
    """(1 − α)·old + α·new: the fade-in blend."""
    return old + (new - old) * tf.cast(alpha, new.dtype)


def real_images_at(x, factor: int, alpha=None):
    """The data pooled by `factor` to the stage's size; during a fade-in blended with its own
    half-resolution copy as G's output is, so D cannot tell the two apart by sharpness."""
    x = downsample(x, factor)
    return x if alpha is None else lerp(upsample(downsample(x, 2)), x, alpha)


def generate(generator, z, sides, stage: int, alpha=None, training=False):
    """G at `stage` (images of side sides[stage]), from the parts of the grown `generator`."""
    part = generator.get_layer
    h = part("generator_base")(z, training=training)
    for s in range(1, stage):
        h = part(f"generator_block_{side_name(sides[s])}")(h, training=training)
    if stage == 0:
        return part(f"to_rgb_{side_name(sides[0])}")(h, training=training)
    new = part(f"to_rgb_{side_name(sides[stage])}")(
        part(f"generator_block_{side_name(sides[stage])}")(h, training=training), training=training
    )
    if alpha is None:
        return new
    return lerp(upsample(part(f"to_rgb_{side_name(sides[stage - 1])}")(h, training=training)), new, alpha)


def discriminate(discriminator, x, sides, stage: int, alpha=None, training=False):
    """D's score at `stage` for images of side sides[stage], from the parts of the grown `discriminator`."""
    part = discriminator.get_layer
    h = part(f"from_rgb_{side_name(sides[stage])}")(x, training=training)
    if stage > 0:
        h = part(f"discriminator_block_{side_name(sides[stage])}")(h, training=training)
        if alpha is not None:
            h = lerp(part(f"from_rgb_{side_name(sides[stage - 1])}")(downsample(x, 2), training=training), h, alpha)
    for s in range(stage - 1, 0, -1):
        h = part(f"discriminator_block_{side_name(sides[s])}")(h, training=training)
    return part("discriminator_head")(h, training=training)


def trained_parts(player: str, sides, phase: int) -> list:
    """Names of the parts of `player` that phase `phase` trains."""
    stage, fading = (phase + 1) // 2, phase % 2 == 1
    block, head, rgb = {
        "generator": ("generator_block", "generator_base", "to_rgb"),
        "discriminator": ("discriminator_block", "discriminator_head", "from_rgb"),
    }[player]
    names = (
        [head] + [f"{block}_{side_name(sides[s])}" for s in range(1, stage + 1)] + [f"{rgb}_{side_name(sides[stage])}"]
    )
    return names + ([f"{rgb}_{side_name(sides[stage - 1])}"] if fading else [])


# --------------------------------------------------------------------------- building
def _stage_network(spec, key: str, stage: int, input_shape, name: str):
    """The growth template `key` filled with stage `stage`'s filters, on `input_shape`."""
    filters = spec.growth.filters
    values = {"filters": filters[stage], "out_filters": filters[stage - 1] if stage else None}
    try:
        return build_network(
            name,
            fill_template(getattr(spec.growth, key), values),
            input_shape=tuple(input_shape),
            path=("growth", key),
            blocks=spec.blocks,
        )
    except SpecError as err:
        where = f"at {name.rsplit('_', 1)[-1]} ($filters = {filters[stage]}): "
        raise SpecError([dataclasses.replace(p, message=where + p.message) for p in err.problems]) from None


def _expect(tensor, shape, path, what: str) -> None:
    """A SpecError unless `tensor` has `shape` (None: any size on that axis)."""
    got = tuple(tensor.shape[1:])
    if len(got) != len(shape) or any(want is not None and want != have for want, have in zip(shape, got)):
        wanted = ", ".join("any" if w is None else str(w) for w in shape)
        raise SpecError(
            [
                Problem(
                    path,
                    f"outputs shape {list(got)}; {what} must be [{wanted}].",
                    "Adjust its layers (sizes, strides, filters).",
                )
            ]
        )


def build_generator(spec, sides, channels: int, trunks: dict):
    """The grown generator: z -> one image per stage (each at α = 1), all parts as nested networks."""
    z = keras.Input((spec.model.latent_dim,), name="z")
    base = build_network(
        "generator_base",
        spec.model.networks["generator"],
        input_shape=(spec.model.latent_dim,),
        input_name="z",
        path=("model", "networks", "generator"),
        blocks=spec.blocks,
    )
    trunks["generator"] = base
    h = base(z)
    _expect(
        h,
        (sides[0], sides[0], None),
        ("model", "networks", "generator"),
        f"the first stage's features (growth.filters has {len(sides)} entries)",
    )
    outputs = []
    for s, side in enumerate(sides):
        if s:
            block = _stage_network(spec, "generator_block", s, h.shape[1:], f"generator_block_{side_name(side)}")
            h = block(h)
            _expect(
                h, (side, side, None), ("growth", "generator_block"), f"at {side_name(side)} it doubles the size, so it"
            )
        to_rgb = _stage_network(spec, "to_rgb", s, h.shape[1:], f"to_rgb_{side_name(side)}")
        outputs.append(to_rgb(h))
        _expect(outputs[-1], (side, side, channels), ("growth", "to_rgb"), "an image of the data's channels")
    return keras.Model(z, outputs, name="generator")


def build_discriminator(spec, sides, channels: int, trunks: dict):
    """The grown discriminator: one image per stage -> its score (each at α = 1); the data-sized input is `x`."""
    from_rgb, blocks = [], {}
    for s, side in enumerate(sides):
        from_rgb.append(_stage_network(spec, "from_rgb", s, (side, side, channels), f"from_rgb_{side_name(side)}"))
        if s:
            blocks[s] = _stage_network(
                spec, "discriminator_block", s, from_rgb[s].output.shape[1:], f"discriminator_block_{side_name(side)}"
            )
            below = tuple(from_rgb[s - 1].output.shape[1:])
            _expect(
                blocks[s].output,
                below,
                ("growth", "discriminator_block"),
                f"at {side_name(side)} it feeds what from_rgb gives at {side_name(sides[s - 1])}, so it",
            )
    head = build_network(
        "discriminator_head",
        spec.model.networks["discriminator"],
        input_shape=from_rgb[0].output.shape[1:],
        path=("model", "networks", "discriminator"),
        blocks=spec.blocks,
    )
    trunks["discriminator"] = head
    check_one_score(head.output, "discriminator")
    last = len(sides) - 1
    inputs = [
        keras.Input((side, side, channels), name="x" if s == last else f"x_{side_name(side)}")
        for s, side in enumerate(sides)
    ]
    scores = []
    for s, x in enumerate(inputs):
        h = from_rgb[s](x)
        for t in range(s, 0, -1):
            h = blocks[t](h)
        scores.append(head(h))
    return keras.Model(inputs, scores, name="discriminator")
