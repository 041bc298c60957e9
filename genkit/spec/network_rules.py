"""Cross-field rules about what the networks written in a spec end in and contain.

The card says which roles output images, logits or critic scores, and which role is fed a
reference batch; these rules hold the networks as written to that.
"""

from __future__ import annotations

from genkit.errors import Problem, dotted_path
from genkit.spec.card import card, cards

__all__ = [
    "check_discriminator_outputs_a_logit",
    "check_output_activation_matches_range",
    "check_scores_are_unbounded",
    "check_virtual_batch_norm_only_in_generators",
    "last_activation",
    "layer_entries",
]


_OUTPUT_ACTIVATION_RANGE = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
# Layers that move values without changing them: the activation before them is the output's.
_SHAPE_ONLY = {"Reshape", "Flatten", "Permute", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D"}


def last_activation(net):
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
    for role in card(spec.model.family).output_roles:
        net = spec.model.networks.get(role)
        if net is None:
            continue
        activation, path = last_activation(net)
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


# Output activations that bound a score: a critic must be free to grow, and the GAN losses
# apply the sigmoid themselves (cross-entropy from logits is the numerically stable form).
_BOUNDED_OUTPUTS = ("sigmoid", "hard_sigmoid", "softmax", "tanh")


def _bounded_output_problem(spec, role, why, fix):
    net = spec.model.networks.get(role)
    if net is None:
        return []
    activation, path = last_activation(net)
    if activation not in _BOUNDED_OUTPUTS:
        return []
    return [Problem(("model", "networks", role) + path, f"the {role} ends in {activation}: {why}", fix)]


def check_scores_are_unbounded(spec):
    """A critic's score must be free to grow: its mean difference estimates the Wasserstein distance."""
    problems = []
    for role in card(spec.model.family).score_roles:
        problems += _bounded_output_problem(
            spec,
            role,
            f"a {role} outputs an unbounded score whose mean difference estimates the Wasserstein distance.",
            f"End the {role} with a linear layer, e.g. 'Dense: {{units: 1}}'.",
        )
    return problems


def check_discriminator_outputs_a_logit(spec):
    problems = []
    for role in card(spec.model.family).logit_roles:
        problems += _bounded_output_problem(
            spec,
            role,
            "the family reads the output as a logit and applies the sigmoid inside its cross-entropy.",
            f"End the {role} with a linear layer, e.g. 'Dense: {{units: 1}}'.",
        )
    return problems


def layer_entries(net):
    """(path below the network, layer name, keyword arguments) of each layer a network writes out
    (layers inside YAML blocks are not listed)."""
    entries = []
    for i, item in enumerate(net.layers or []):
        if isinstance(item, dict) and len(item) == 1:
            ((name, kwargs),) = item.items()
            entries.append((("layers", i), name, kwargs if isinstance(kwargs, dict) else {}))
    for i, node in enumerate(net.graph or []):
        if isinstance(node, dict):
            entries.append((("graph", i), node.get("layer"), node))
    return entries


_VBN = "VirtualBatchNormalization"
_VBN_INSTEAD = {
    "discriminator": f"{_VBN} is for the generator; in the discriminator use BatchNormalization or MinibatchStdDev.",
    "critic": f"{_VBN} is for the generator; in the critic use LayerNormalization or MinibatchStdDev.",
}


def check_virtual_batch_norm_only_in_generators(spec):
    """VBN needs the reference batch that only the adversarial families feed, and only to their
    generator; all of a generator's VBN layers share that one batch, so one reference_size."""
    problems = []
    for role, net in spec.model.networks.items():
        entries = [(path, kwargs) for path, name, kwargs in layer_entries(net) if name == _VBN]
        where = ("model", "networks", role)
        if role != card(spec.model.family).reference_batch_role:
            fed = [c.name for c in cards().values() if c.reference_batch_role]
            problems += [
                Problem(
                    where + path,
                    f"{_VBN} normalises with a reference batch that only the generator of the "
                    f"{', '.join(fed)} families is fed; the {spec.model.family} {role} is not.",
                    _VBN_INSTEAD.get(role, "Use BatchNormalization or GroupNormalization instead."),
                )
                for path, _ in entries
            ]
            continue
        # A missing reference_size is the builder's error (a required argument), reported there.
        sizes = [(path, kwargs["reference_size"]) for path, kwargs in entries if "reference_size" in kwargs]
        first_path, first = sizes[0] if sizes else (None, None)
        problems += [
            Problem(
                where + path + ((_VBN,) if path[0] == "layers" else ()) + ("reference_size",),
                f"is {size} but {dotted_path(where + first_path)} uses {first}: all {_VBN} layers of a generator "
                "normalise with the one reference batch the family feeds it.",
                f"Use reference_size: {first} here too.",
            )
            for path, size in sizes[1:]
            if size != first
        ]
    return problems
