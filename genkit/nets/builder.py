"""Build a `keras.Model` from a `NetworkSpec`: a list of layers, or a graph of nodes.

A family asks for each of its roles with `build_network("encoder", spec.model.networks["encoder"],
input_shape=...)`. A layer list becomes a chain on one input; a graph (see `genkit.nets.graph`)
wires named inputs and nodes through `from`. Every mistake the spec can hold is reported as a
`SpecError` whose problems carry the field path, and all construction problems of a network
are reported together rather than one per run.

Example:

```python
spec = NetworkSpec(layers=[{"Dense": {"units": 64, "activation": "relu"}}, {"Dense": {"units": 2}}])
model = build_network("critic", spec, input_shape=(10,))
model.input.name   # "x"
```
"""

from __future__ import annotations

import keras

from genkit.errors import Problem, SpecError
from genkit.nets.construct import LayerNamer, call_layer, make_layer
from genkit.nets.graph import build_graph
from genkit.nets.user_blocks import use_network_builder
from genkit.spec.schema import NetworkSpec

__all__ = ["build_network", "resolve_input_shape"]


def build_network(
    name: str, spec: NetworkSpec, *, input_shape=None, inputs=None, path=None, input_name="x", blocks=None, active_blocks=()
):
    """Build the network `name` described by `spec`.

    Args:
        name: the model's name (the role, e.g. `"encoder"`); also names the error paths.
        spec: the validated `NetworkSpec`.
        input_shape: shape without the batch axis of the single input, when the caller (the
            family) knows it; must agree with `spec.input` when both are given. `()` means
            one scalar per example.
        inputs: graphs only: name -> shape of the inputs the caller feeds; must agree with
            `spec.inputs` when both are given.
        path: spec path of the network, default `("model", "networks", name)`.
        input_name: the name of the single input (layer lists, or graphs with `input`).
        blocks: the spec's `blocks:` (name -> BlockSpec), usable like layers.
        active_blocks: blocks being built around this one (cycle detection).

    Returns:
        A functional `keras.Model` named `name`. Its inputs are `keras.Input`s named after
        the input names, in declaration order (one input is passed bare, several as a list;
        calling with a dict keyed by those names works too). Several outputs come as a list.

    Raises:
        SpecError: every problem found in the spec of this network.
    """
    path = ("model", "networks", name) if path is None else tuple(path)
    if spec.graph is not None:
        return build_graph(
            name, spec, path, _graph_inputs(spec, input_shape, inputs, path, input_name), blocks or {}, active_blocks
        )
    if inputs is not None:
        raise TypeError("build_network: `inputs` (named inputs) is for graph networks; pass `input_shape`.")
    if spec.inputs is not None:
        raise SpecError(
            [
                Problem(
                    path + ("inputs",),
                    "a layer list has one input, so it takes 'input' (a shape), not 'inputs'.",
                    "Write 'input: [28, 28, 1]', or use 'graph' for a network with several inputs.",
                )
            ]
        )
    shape = resolve_input_shape(spec.input, input_shape, path + ("input",))
    return _build_layer_list(name, spec.layers, path, keras.Input(shape=shape, name=input_name), blocks or {}, active_blocks)


def resolve_input_shape(declared, supplied, path) -> tuple:
    """The input shape from the spec (`declared`) and the caller (`supplied`): one, or both agreeing."""
    if declared is None and supplied is None:
        raise SpecError(
            [
                Problem(
                    tuple(path),
                    "this network needs an input shape.",
                    "Add 'input: [...]' with the shape of one example.",
                )
            ]
        )
    if declared is not None and supplied is not None and not _same_shape(declared, supplied):
        raise SpecError(
            [
                Problem(
                    tuple(path),
                    f"the spec says the input shape is {list(declared)}, but the model feeds this network "
                    f"{list(supplied)}.",
                    f"Remove the spec's shape or write {list(supplied)}.",
                )
            ]
        )
    return tuple(supplied if supplied is not None else declared)


def _graph_inputs(spec, input_shape, inputs, path, input_name) -> dict:
    """name -> shape of a graph's inputs, merged from the spec and the caller.

    `input`/`input_shape` are shorthands for one input named `input_name`; the spec and
    the caller may each say what the inputs are, and must then agree.
    """
    if inputs is not None and input_shape is not None:
        raise TypeError("build_network: pass `inputs` or `input_shape`, not both.")
    single = spec.inputs is None
    declared = spec.inputs if not single else None if spec.input is None else {input_name: spec.input}
    supplied = inputs if inputs is not None else None if input_shape is None else {input_name: input_shape}
    field = path + (("input",) if single else ("inputs",))
    if declared is None and supplied is None:
        raise SpecError(
            [
                Problem(
                    path, "this graph needs inputs.", "Add 'inputs: {x: [28, 28, 1]}' (name -> shape of one example)."
                )
            ]
        )
    if declared is None or supplied is None:
        return {key: tuple(shape) for key, shape in (declared or supplied).items()}
    if set(declared) != set(supplied):
        raise SpecError(
            [
                Problem(
                    field,
                    f"the spec declares the inputs {sorted(declared)}, but the model feeds this network "
                    f"{sorted(supplied)}.",
                    f"Declare 'inputs' named {', '.join(sorted(supplied))}.",
                )
            ]
        )
    problems = []
    for key in declared:
        try:
            resolve_input_shape(declared[key], supplied[key], field if single else field + (key,))
        except SpecError as err:
            problems += err.problems
    if problems:
        raise SpecError(problems)
    return {key: tuple(supplied[key]) for key in declared}


def _same_shape(a, b) -> bool:
    # None is an unknown size (e.g. a variable image side) and agrees with any size.
    a, b = tuple(a), tuple(b)
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


# --------------------------------------------------------------------------- layer lists
def _build_layer_list(name, items, path, x, blocks, active_blocks):
    if not items:
        raise SpecError([Problem(path + ("layers",), "the layer list is empty.", "Add at least one layer.")])
    entries, problems = _parse_items(items, path + ("layers",))
    namer = LayerNamer(taken=[x.name])
    for entry in entries:  # names the user chose win over generated ones
        user_name = (entry["kwargs"] or {}).get("name") if isinstance(entry["kwargs"], dict) else None
        if user_name is not None:
            if user_name in namer.taken:
                problems.append(
                    Problem(
                        entry["path"] + ("name",),
                        f"the layer name {user_name!r} is used twice.",
                        "Give each layer its own name.",
                    )
                )
            namer.reserve(user_name)
    layers = []
    for entry in entries:
        layer, found = make_layer(
            entry["layer"], entry["kwargs"], entry["path"], namer.for_class(str(entry["layer"])),
            blocks=blocks, active_blocks=active_blocks,
        )
        problems += found
        layers.append((entry, layer))
    if problems:
        raise SpecError(problems)
    h = x
    for entry, layer in layers:
        # Each layer takes the one before it, so the first call that fails ends the build.
        h, problem = call_layer(layer, h, entry["path"], label=f"layer {entry['index']} ({entry['layer']})")
        if problem:
            raise SpecError([problem])
    return keras.Model(inputs=x, outputs=h, name=name)


def _parse_items(items, path):
    """Check each item is `{LayerName: kwargs}`; return entries and problems."""
    entries, problems = [], []
    for i, item in enumerate(items):
        where = path + (i,)
        if isinstance(item, str):
            problems.append(
                Problem(where, f"a layer is a one-key mapping; got the string {item!r}.", f"Write '- {item}: {{}}'.")
            )
        elif not isinstance(item, dict) or len(item) != 1:
            got = f"keys {', '.join(map(str, item))}" if isinstance(item, dict) else repr(item)
            problems.append(
                Problem(
                    where,
                    f"a layer is a one-key mapping {{LayerName: {{keyword: value}}}}; got {got}.",
                    "Nest the keyword arguments under the layer name, e.g. "
                    "'- Conv2D: {filters: 32, kernel_size: 3}'.",
                )
            )
        else:
            (layer_name, kwargs), = item.items()
            entries.append({"index": i, "layer": layer_name, "kwargs": kwargs, "path": where + (layer_name,)})
    return entries, problems


use_network_builder(build_network)
