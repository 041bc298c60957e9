"""Building a family's networks around the user's trunks, and the checks every family makes.

The spec declares each role's trunk; the family supplies its input (it may add label
channels) and wraps it. These functions do the parts every family repeats.
"""

from __future__ import annotations

import keras

from genkit.errors import Problem, SpecError
from genkit.nets import LabelEmbedding, build_network

__all__ = [
    "build_all",
    "build_from_latent",
    "build_trunk",
    "check_one_score",
    "check_output_shape",
    "condition_classes",
    "label_vector",
]


def build_trunk(spec, role, input_shape, input_name, data_shape=None):
    """Build the user's network for `role` on the input the family feeds it.

    The family supplies the input shape itself, so a declared `input` only has to agree with
    `data_shape`, the data the spec trains on.
    """
    net = spec.model.networks[role]
    if net.input is not None and data_shape is not None and tuple(net.input) != tuple(data_shape):
        raise SpecError(
            [
                Problem(
                    ("model", "networks", role, "input"),
                    f"declares input {list(net.input)} but the data has shape {list(data_shape)}.",
                    _input_fix(spec.data, tuple(net.input), tuple(data_shape)),
                )
            ]
        )
    net = net.model_copy(update={"input": None})
    return build_network(role, net, input_shape=tuple(input_shape), input_name=input_name, blocks=spec.blocks)


_COLOR_MODES = {1: "grayscale", 3: "rgb"}  # data.color_mode by channel count


def _input_fix(data, declared, data_shape) -> str:
    """How to make a declared input agree with the data. Folder images that differ only in channels
    are read in the other data.color_mode: removing 'input' would silently train on the wrong one."""
    if data.source == "folder" and declared[:-1] == data_shape[:-1] and declared[-1] in _COLOR_MODES:
        mode = _COLOR_MODES[declared[-1]]
        return f"Set 'data.color_mode: {mode}' to read the images with {declared[-1]} channel(s) (now {data.color_mode}), or declare input {list(data_shape)}."
    return f"Declare input {list(data_shape)}, or remove 'input' (the family knows the data shape)."


def label_vector(condition, y, name):
    """The label's vector (one-hot or a learned embedding, `model.condition.encoding`)."""
    return LabelEmbedding(condition.num_classes, encoding=condition.encoding, embedding_dim=condition.embedding_dim, name=name)(y)


def build_from_latent(spec, role, latent_dim, trunks: dict, condition=None):
    """The network for `role` (a decoder or generator) on z, as a keras.Model named `role`.

    With `condition` (model.condition), it also takes an int label y, whose vector is joined
    to z before the user's trunk. The trunk is recorded in `trunks[role]`.
    """
    z = keras.Input((latent_dim,), name="z")
    inputs, h = [z], z
    if condition is not None:
        y = keras.Input((), dtype="int32", name="y")
        inputs.append(y)
        h = keras.layers.Concatenate(name="z_with_label")([z, label_vector(condition, y, f"{role}_label")])
    trunk = build_trunk(spec, role, h.shape[1:], "z")
    trunks[role] = trunk
    return keras.Model(inputs if condition is not None else z, trunk(h), name=role)


def build_all(builders: dict) -> dict:
    """role -> builder(): build every network, reporting all their spec problems at once.

    The networks do not depend on each other, so a user fixing a spec sees every network's
    problems in one error instead of one network per run.
    """
    built, problems = {}, []
    for role, build in builders.items():
        try:
            built[role] = build()
        except SpecError as err:
            # A YAML block two networks use reports its problem once, not once per network.
            problems += [p for p in err.problems if p not in problems]
    if problems:
        raise SpecError(problems)
    return built


def condition_classes(condition, num_classes) -> int:
    """The label's class count (model.condition.num_classes); it must cover the data's classes."""
    if num_classes is not None and num_classes > condition.num_classes:
        raise SpecError(
            [
                Problem(
                    ("model", "condition", "num_classes"),
                    f"is {condition.num_classes} but the data has {num_classes} classes.",
                    f"Set it to {num_classes}.",
                )
            ]
        )
    return condition.num_classes


def check_output_shape(network, role, data_shape):
    """A network that outputs images must output the data's shape."""
    got, data_shape = tuple(network.output.shape[1:]), tuple(data_shape)
    if got != data_shape:
        fix = "Adjust the last layers (strides, filters, Reshape) so the output matches the data."
        if got[:-1] == data_shape[:-1] and got[-1] in _COLOR_MODES:
            fix += f" Folder images: or set 'data.color_mode: {_COLOR_MODES[got[-1]]}' to read them with {got[-1]} channel(s)."
        raise SpecError([Problem(("model", "networks", role), f"outputs shape {list(got)} but the data has shape {list(data_shape)}.", fix)])


def check_one_score(output, role):
    """A discriminator or critic must give one number per image: (B, 1)."""
    if tuple(output.shape[1:]) != (1,):
        raise SpecError(
            [
                Problem(
                    ("model", "networks", role),
                    f"outputs shape {list(output.shape[1:])}; the {role} must give one score per image, shape [1].",
                    "End it with 'Flatten: {}' and 'Dense: {units: 1}'.",
                )
            ]
        )
