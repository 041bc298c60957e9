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


_OUTPUT_ACTIVATION_RANGE = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
_GENERATOR_ROLES = ("decoder",)
# Layers that move values without changing them: the activation before them is the output's.
_SHAPE_ONLY = {"Reshape", "Flatten", "Permute", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D"}


def _last_activation(net):
    """(activation name, path) of a network's final layer as written, or (None, None)."""
    if net.layers:
        index = len(net.layers) - 1
        while index > 0 and isinstance(net.layers[index], dict) and set(net.layers[index]) <= _SHAPE_ONLY:
            index -= 1
        item = net.layers[index]
        if not (isinstance(item, dict) and len(item) == 1):
            return None, None
        (name, kwargs), = item.items()
        path = ("layers", index, name)
    elif net.graph:
        out = net.output if isinstance(net.output, str) else None
        nodes = [n for n in net.graph if isinstance(n, dict)]
        node = next((n for n in nodes if n.get("id") == out), nodes[-1] if nodes and out is None else None)
        if node is None:
            return None, None
        name, kwargs = node.get("layer"), node
        path = ("graph", net.graph.index(node))
    else:
        return None, None
    kwargs = kwargs if isinstance(kwargs, dict) else {}
    if name == "Activation":
        return kwargs.get("activation"), path + ("activation",)
    return kwargs.get("activation", "linear"), path + ("activation",)


def check_output_activation_matches_range(spec):
    """A sigmoid output cannot reach [-1, 1] data, nor a tanh output sit in [0, 1]."""
    problems = []
    value_range = tuple(spec.data.range)
    for role in _GENERATOR_ROLES:
        net = spec.model.networks.get(role)
        if net is None:
            continue
        activation, path = _last_activation(net)
        if not isinstance(activation, str):
            continue  # not a name: the network builder reports it
        expected = _OUTPUT_ACTIVATION_RANGE.get(activation)
        if expected is not None and expected != value_range:
            fitting = next(a for a, r in _OUTPUT_ACTIVATION_RANGE.items() if r == value_range)
            problems.append(
                Problem(
                    ("model", "networks", role) + path,
                    f"a {activation} output lies in {list(expected)} but data.range is {list(value_range)}.",
                    f"Use activation: {fitting}, or set data.range to {list(expected)}.",
                )
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
    check_output_activation_matches_range,
]


def check(spec) -> list:
    problems = []
    for rule in RULES:
        problems += rule(spec)
    return problems
