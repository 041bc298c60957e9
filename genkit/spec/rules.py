"""Cross-field rules: named checks run after every field is valid on its own.

Each rule takes the validated spec and returns a list of `Problem`s; `RULES` is the one
list `check` runs, so a new rule is one function plus one line.
"""

from __future__ import annotations

from genkit.errors import Problem
from genkit.spec.schema import FAMILY_NETWORKS

__all__ = ["RULES", "check"]


def check_family_networks_present(spec):
    needed = FAMILY_NETWORKS[spec.model.family]
    problems = []
    for role in needed:
        if role not in spec.model.networks:
            problems.append(
                Problem(
                    ("model", "networks"),
                    f"the {spec.model.family} family needs a network named {role!r}; got {sorted(spec.model.networks)}.",
                    f"Add 'model.networks.{role}' with its layers.",
                )
            )
    for role in spec.model.networks:
        if role not in needed:
            problems.append(
                Problem(
                    ("model", "networks", role),
                    f"the {spec.model.family} family has no network role {role!r}; its roles are {', '.join(needed)}.",
                    "Rename or remove it.",
                )
            )
    return problems


def check_latent_dim_for_vae(spec):
    if spec.model.family in ("vae", "cvae") and spec.model.latent_dim is None:
        return [Problem(("model", "latent_dim"), f"the {spec.model.family} family needs a latent size.", "Add e.g. 'latent_dim: 16'.")]
    return []


def check_conditional_has_labels(spec):
    problems = []
    if spec.model.family == "cvae":
        if spec.model.condition is None:
            problems.append(
                Problem(("model", "condition"), "a conditional family needs the label it is conditioned on.", "Add 'condition: {num_classes: 10}'.")
            )
        if not spec.data.labels:
            problems.append(Problem(("data", "labels"), "a conditional family needs labelled data.", "Set 'data.labels: true'."))
    elif spec.model.condition is not None:
        problems.append(Problem(("model", "condition"), f"the {spec.model.family} family is not conditional.", "Remove it, or use family 'cvae'."))
    return problems


def check_bce_needs_unit_range(spec):
    loss = getattr(spec, "loss", None)
    if getattr(loss, "reconstruction", None) == "bce" and tuple(spec.data.range) != (0.0, 1.0):
        return [
            Problem(
                ("loss", "reconstruction"),
                f"bce needs targets in [0, 1] but data.range is {list(spec.data.range)}.",
                "Use 'reconstruction: mse', or 'data.range: [0, 1]' with a sigmoid output.",
            )
        ]
    return []


def check_export_networks_exist(spec):
    names = spec.export.onnx.networks or []
    return [
        Problem(("export", "onnx", "networks"), f"{name!r} is not a network of this spec; networks are {sorted(spec.model.networks)}.", "")
        for name in names
        if name not in spec.model.networks
    ]


_SOURCE_OPTIONS = {"x_key": ("npz",), "y_key": ("npz",), "image_size": ("folder",), "color_mode": ("folder",)}


def check_data_options_apply_to_source(spec):
    problems = []
    for name, sources in _SOURCE_OPTIONS.items():
        # A default value is fine: resolved specs written into run folders spell every default out.
        changed = getattr(spec.data, name) != type(spec.data).model_fields[name].default
        if changed and spec.data.source not in sources:
            problems.append(
                Problem(("data", name), f"applies to source {' or '.join(sources)}, not {spec.data.source!r}.", "Remove it.")
            )
    if spec.data.source in ("npz", "folder") and spec.data.path is None:
        problems.append(Problem(("data", "path"), f"source {spec.data.source!r} needs a path.", "Add 'path: <file or folder>'."))
    return problems


def check_metrics_apply_to_family(spec):
    family = spec.model.family
    problems = []
    if "elbo" in spec.evaluate.metrics and family not in ("vae", "cvae"):
        problems.append(Problem(("evaluate", "metrics"), f"'elbo' needs a VAE family, not {family!r}.", "Remove 'elbo'."))
    if "elbo" in spec.evaluate.metrics and getattr(spec.loss, "reconstruction", None) == "mse":
        problems.append(
            Problem(
                ("evaluate", "metrics"),
                "'elbo' is reported for the Bernoulli decoder (reconstruction: bce); with mse the summed "
                "squared error is not a log-likelihood in nats.",
                "Remove 'elbo', or use reconstruction: bce.",
            )
        )
    if "class_accuracy" in spec.evaluate.metrics and family != "cvae":
        problems.append(
            Problem(("evaluate", "metrics"), f"'class_accuracy' scores class-conditional samples; {family!r} is not conditional.", "Remove it.")
        )
    return problems


RULES = [
    check_data_options_apply_to_source,
    check_family_networks_present,
    check_latent_dim_for_vae,
    check_conditional_has_labels,
    check_bce_needs_unit_range,
    check_export_networks_exist,
    check_metrics_apply_to_family,
]


def check(spec) -> list:
    problems = []
    for rule in RULES:
        problems += rule(spec)
    return problems
