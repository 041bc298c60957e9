"""The `data` section: where images come from and how they are batched."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, field_validator

from genkit.spec.section import Section

__all__ = [
    "BUILTIN_SOURCES",
    "DATA_RANGES",
    "DATA_SOURCES",
    "DERIVATIONS",
    "PAIRINGS",
    "STREAMED_SOURCES",
    "DataSpec",
    "ShapesSpec",
    "TranslationSpec",
]


DATA_SOURCES = ("mnist", "fashion_mnist", "cifar10", "shapes", "npz", "folder", "npz_shards", "tfrecord")
STREAMED_SOURCES = ("npz_shards", "tfrecord")  # read from disk batch by batch, never whole into memory
DATA_RANGES = ((0.0, 1.0), (-1.0, 1.0))
# Sources genkit finds or makes itself (keras.datasets, the generated shapes); translation
# data derives its second domain from their images (translation.derive).
BUILTIN_SOURCES = ("mnist", "fashion_mnist", "cifar10", "shapes")
PAIRINGS = ("paired", "unpaired")
DERIVATIONS = ("super_resolution", "thicken")


class TranslationSpec(Section):
    """Image-to-image translation data: two domains, A (the source, `x`) and B (the target)."""

    pairing: Literal[PAIRINGS] = Field(
        "paired",
        description="paired: every image of A has its image of B (the same index in an npz, the same file "
        "name in a folder), and the pairs stay aligned when shuffled (pix2pix); unpaired: A and B are two "
        "independent sets, shuffled separately (cyclegan).",
    )
    derive: Literal[DERIVATIONS] | None = Field(
        None,
        description="Builtin sources (required there): make the two domains from the dataset's own images. "
        "super_resolution - A is each image downsampled 2x (area average) and resized back with bilinear "
        "interpolation, B the image itself; thicken - A is the image, B the image dilated by a 3x3 maximum "
        "filter (thicker strokes). Unpaired: A and B come from disjoint halves of each split, so no image "
        "of A has its counterpart in B.",
    )
    target_key: str = Field(
        "y",
        description="npz: array name of domain B's images (data.x_key names domain A's); with 'x_test' in the "
        "file, '<target_key>_test' holds B's test images.",
    )


class ShapesSpec(Section):
    """The generated `shapes` data set (genkit.data.shapes): how many images, drawn with which seed."""

    train_size: int = Field(
        20000,
        ge=1,
        description="Training images (the validation split is taken from them). Each is a distinct "
        "combination of the factors; train_size + test_size may not exceed their 331,776 combinations.",
    )
    test_size: int = Field(
        2000, ge=1, description="Test images, whose factor combinations no training image has."
    )
    seed: int = Field(
        0,
        ge=0,
        description="Seed of the draw of factor combinations. Not the spec seed, on purpose: every run on "
        "shapes sees the same images, so its scores compare with other runs' (one test split, one feature "
        "space). Change it for another data set of the same kind.",
    )


class DataSpec(Section):
    source: Literal[DATA_SOURCES] = Field(
        "mnist",
        description="Where images come from: a keras.datasets name, shapes (coloured sprites genkit draws "
        "itself, with ground-truth factors: see data.shapes), an .npz file, an image folder, or data "
        "larger than memory streamed from shards: npz_shards (.npz files with the arrays x_key, y_key) or "
        "tfrecord (tf.train.Example records with an encoded PNG/JPEG 'image' and an int64 'label'). "
        "Streamed training shards are interleaved, shuffled through a buffer and prefetched; only the "
        "validation and test shards are loaded into memory.",
    )
    path: str | None = Field(
        None,
        description="File or folder for npz/folder sources; a glob of training shards for npz_shards/tfrecord "
        "(e.g. 'shards/train-*.npz'); for builtin sources, a local copy used before any download (also read "
        "from $GENKIT_DATA). Relative to the spec file, also when given with --set.",
    )
    val_path: str | None = Field(
        None,
        description="npz_shards/tfrecord: a glob of validation shards, loaded into memory (none: no "
        "validation data; streamed sources do not take data.validation_split).",
    )
    test_path: str | None = Field(
        None,
        description="npz_shards/tfrecord (required): a glob of test shards, loaded into memory for evaluation "
        "and export (only the first max(100, data.limit // 4) examples when data.limit is set).",
    )
    shuffle_buffer: int = Field(
        10000,
        ge=1,
        description="npz_shards/tfrecord: examples held in the shuffle buffer of the training stream (memory "
        "grows with it; the shards are also read in a shuffled order, interleaved).",
    )
    x_key: str = Field("x", description="npz: array name of the images.")
    y_key: str | None = Field("y", description="npz: array name of the integer labels (null: none).")
    image_size: tuple[PositiveInt, PositiveInt] | None = Field(
        None,
        # One number is also accepted (see _square_from_one_number): say so to editors.
        json_schema_extra={
            "anyOf": [
                {"type": "integer", "exclusiveMinimum": 0},
                {"type": "array", "prefixItems": [{"type": "integer", "exclusiveMinimum": 0}] * 2, "minItems": 2, "maxItems": 2},
                {"type": "null"},
            ]
        },
        description="Image size [height, width] the networks see (one number: a square). mnist, fashion_mnist, "
        "cifar10, npz and folder images are resized to it (bilinear, antialiased when shrinking); shapes are "
        "drawn at it (square, 16 or more; default 64). Unset: each source's own size. Not for "
        "npz_shards/tfrecord (write the shards at the size you want).",
    )
    color_mode: Literal["grayscale", "rgb"] = Field("grayscale", description="folder: channels to read.")
    range: tuple[float, float] = Field(
        (0.0, 1.0),
        json_schema_extra={"enum": [list(r) for r in DATA_RANGES]},
        description="Value range the networks see and exports produce: [0, 1] or [-1, 1].",
    )
    labels: bool = Field(False, description="Feed integer class labels along with the images.")
    batch_size: int = Field(
        128,
        ge=1,
        description="Examples per training step: the global batch, split evenly over the replicas of "
        "train.distribute (so it must be a multiple of their count; each then sees batch_size / replicas), "
        "and the loss is the mean over the global batch.",
    )
    validation_split: float = Field(
        0.1, ge=0.0, lt=1.0, description="Share of the training split held out for validation."
    )
    limit: int | None = Field(
        None,
        ge=1,
        description="Use only the first N training examples (quick runs and tests); also caps the test "
        "split at max(100, N // 4).",
    )
    shuffle: bool = Field(True, description="Shuffle the training set every epoch with the spec seed.")
    exclude_classes: list[int] = Field(
        default_factory=list,
        description="Leave these classes out of training and validation (the test split keeps them): "
        "e.g. train an anomaly detector on normal digits and score the held-out one.",
    )
    shapes: ShapesSpec = Field(
        default_factory=ShapesSpec, description="shapes: how many images to draw, and the seed of the draw."
    )
    translation: TranslationSpec | None = Field(
        None,
        description="Image-to-image translation families (pix2pix, cyclegan): two domains, A -> B, paired or "
        "unpaired. npz: arrays data.x_key (A) and translation.target_key (B); folder: sub-folders trainA/ and "
        "trainB/ (and optionally testA/, testB/), paired images matched by file name; builtin sources: "
        "translation.derive.",
    )

    @field_validator("image_size", mode="before")
    @classmethod
    def _square_from_one_number(cls, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return (value, value)  # image_size: 32 means [32, 32]
        return value

    @field_validator("range")
    @classmethod
    def _known_range(cls, value):
        if tuple(value) not in DATA_RANGES:
            raise ValueError(f"got {list(value)}; expected [0, 1] or [-1, 1]")
        return value


