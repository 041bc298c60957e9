"""Cross-field rules about the data section: options that apply to one source, translation data."""

from __future__ import annotations

from genkit.errors import Problem
from genkit.spec.card import card, cards
from genkit.spec.data_section import BUILTIN_SOURCES, DATA_SOURCES, DERIVATIONS, STREAMED_SOURCES
from genkit.spec.schema import DISENTANGLEMENT_METRICS, SAMPLE_METRICS, TRANSLATION_METRICS
from genkit.spec.section import changed

__all__ = [
    "check_data_options_apply_to_source",
    "check_disentanglement_metrics",
    "check_shapes_are_square",
    "check_translation_data",
    "check_translation_metrics",
]

SHAPES_MIN_SIZE = 16  # a 16x16 shape of the smallest scale still spans about five pixels
FACTOR_SOURCES = ("shapes",)  # sources that know every image's ground-truth factors (Dataset.factors_*)


_IN_MEMORY = tuple(s for s in DATA_SOURCES if s not in STREAMED_SOURCES)
_SOURCE_OPTIONS = {
    "x_key": ("npz", "npz_shards"),
    "y_key": ("npz", "npz_shards"),
    # Shards are streamed as stored, batch by batch: there is no pass over them to resize in.
    "image_size": _IN_MEMORY,
    "color_mode": ("folder",),
    "shapes": ("shapes",),
    "val_path": STREAMED_SOURCES,
    "test_path": STREAMED_SOURCES,
    "shuffle_buffer": STREAMED_SOURCES,
    # A stream is never whole in memory to be split or filtered.
    "validation_split": _IN_MEMORY,
    "exclude_classes": _IN_MEMORY,
}


def check_data_options_apply_to_source(spec):
    problems = []
    for name, sources in _SOURCE_OPTIONS.items():
        if changed(spec.data, name) and spec.data.source not in sources:
            problems.append(
                Problem(("data", name), f"applies to source {' or '.join(sources)}, not {spec.data.source!r}.", "Remove it.")
            )
    if spec.data.source in ("npz", "folder", *STREAMED_SOURCES) and spec.data.path is None:
        problems.append(Problem(("data", "path"), f"source {spec.data.source!r} needs a path.", "Add 'path: <file or folder>'."))
    if spec.data.source in STREAMED_SOURCES and spec.data.test_path is None:
        problems.append(
            Problem(
                ("data", "test_path"),
                f"source {spec.data.source!r} needs test shards for evaluation and export.",
                "Add 'test_path: <glob of test shards>'.",
            )
        )
    return problems


def check_shapes_are_square(spec):
    """`shapes` are drawn on a square canvas of at least SHAPES_MIN_SIZE pixels."""
    data = spec.data
    if data.source != "shapes" or data.image_size is None:
        return []
    height, width = data.image_size
    if height != width or height < SHAPES_MIN_SIZE:
        return [
            Problem(
                ("data", "image_size"),
                f"shapes are drawn on a square of at least {SHAPES_MIN_SIZE}x{SHAPES_MIN_SIZE} pixels; got [{height}, {width}].",
                "Give one number, e.g. 'image_size: 32' (or 64, the default).",
            )
        ]
    return []


def check_translation_data(spec):
    """Translation families need two domains (data.translation); pix2pix needs them paired; nobody else reads them."""
    family, data = spec.model.family, spec.data
    pairing = card(family).translation
    translation = data.translation
    where = ("data", "translation")
    if pairing is None:
        if translation is not None:
            return [Problem(where, f"applies to the translation families ({', '.join(_translation_families())}), not {family!r}.", "Remove it.")]
        return []
    if translation is None:
        return [
            Problem(
                where,
                f"the {family} family translates images of a domain A into a domain B; the data section names none.",
                "Add e.g. 'translation: {pairing: paired, derive: super_resolution}' (builtin sources), or an npz/folder "
                "holding both domains.",
            )
        ]
    problems = []
    if pairing == "paired" and translation.pairing != "paired":
        unpaired = [c.name for c in cards().values() if c.translation == "any"]
        problems.append(
            Problem(
                where + ("pairing",),
                f"{family} learns from aligned pairs (it compares G(x) with x's own target); got {translation.pairing!r}.",
                f"Use pairing: paired, or a family for unpaired domains ({', '.join(unpaired)}).",
            )
        )
    if data.source in BUILTIN_SOURCES and translation.derive is None:
        problems.append(
            Problem(where + ("derive",), f"source {data.source!r} holds one domain; say how to derive the second.", f"Add 'derive: {DERIVATIONS[0]}' or '{DERIVATIONS[1]}'.")
        )
    if data.source not in BUILTIN_SOURCES and translation.derive is not None:
        problems.append(Problem(where + ("derive",), f"applies to builtin sources ({', '.join(BUILTIN_SOURCES)}), not {data.source!r}.", "Remove it."))
    if data.source != "npz" and changed(translation, "target_key"):
        problems.append(Problem(where + ("target_key",), f"applies to source npz, not {data.source!r}.", "Remove it."))
    if data.source not in ("npz", "folder", *BUILTIN_SOURCES):
        problems.append(Problem(("data", "source"), f"translation data comes from npz, folder or builtin sources, not {data.source!r}.", ""))
    if data.labels:
        problems.append(Problem(("data", "labels"), f"the {family} family reads images of domain B where labels would go.", "Set 'labels: false'."))
    return problems


def _translation_families():
    return [c.name for c in cards().values() if c.translation]


def check_translation_metrics(spec):
    """Translation metrics need a translation family, and translation families cannot draw samples."""
    family, metrics = spec.model.family, spec.evaluate.metrics
    problems = []
    wanted = [m for m in TRANSLATION_METRICS if m in metrics]
    if card(family).translation is None:
        problems += [
            Problem(("evaluate", "metrics"), f"{m!r} scores translated images; {family!r} is not a translation family ({', '.join(_translation_families())}).", "Remove it.")
            for m in wanted
        ]
        return problems
    translation = spec.data.translation
    if "translation_l1" in metrics and translation is not None and translation.pairing != "paired":
        problems.append(Problem(("evaluate", "metrics"), "'translation_l1' compares G(x) with x's own target: it needs paired data.", "Remove it, or use cycle_error."))
    for metric in [m for m in SAMPLE_METRICS if m in metrics]:
        problems.append(Problem(("evaluate", "metrics"), f"{metric!r} scores samples drawn from a prior; the {family} family translates given images.", f"Use {', '.join(TRANSLATION_METRICS)}."))
    best = spec.train.keep_best
    if best is not None and best.metric in SAMPLE_METRICS:
        problems.append(Problem(("train", "keep_best", "metric"), f"{best.metric!r} scores samples drawn from a prior; the {family} family has none.", "Use val_loss."))
    return problems


def check_disentanglement_metrics(spec):
    """mig, dci and sap score an encoder's codes against the test images' ground-truth factors."""
    family = card(spec.model.family)
    problems = []
    for metric in [m for m in DISENTANGLEMENT_METRICS if m in spec.evaluate.metrics]:
        if not family.encoder:
            encoders = [c.name for c in cards().values() if c.encoder]
            problems.append(
                Problem(
                    ("evaluate", "metrics"),
                    f"{metric!r} scores the codes an encoder gives the test images; the {family.name} family has no encoder.",
                    f"Remove it, or use an encoding family ({', '.join(encoders)}).",
                )
            )
        elif spec.data.source not in FACTOR_SOURCES:
            problems.append(
                Problem(
                    ("evaluate", "metrics"),
                    f"{metric!r} needs the ground-truth factors of every test image; source {spec.data.source!r} has none.",
                    f"Remove it, or train on data with factors (source: {' or '.join(FACTOR_SOURCES)}).",
                )
            )
    return problems
