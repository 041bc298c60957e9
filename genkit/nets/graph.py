"""Graph networks: named inputs and nodes wired by `from`, for skips and several inputs.

A node is a mapping `{id: d1, layer: ResBlock, from: [h0, temb], filters: 32}`: the layer
name, where its input comes from, and the layer's keyword arguments. `from` is

- an id or input name: the layer gets that tensor;
- a list of them: the layer gets the list (as a multi-input layer expects);
- a merge `{concat: [a, b, ...]}` (on the last axis) or `{add: [a, b, ...]}`, usable in place
  of any id above, e.g. `from: [{concat: [u2, d2]}, temb]`.

The nodes run in the order written and may only take ids defined above them, which is also
what rules out cycles. Every node's output has to be used (by a later node or as an output):
an unused node is almost always a wiring mistake, so it is an error.

Building is two passes. The first checks the structure and constructs every layer,
collecting all problems; the second calls the layers in order, collecting shape problems
of independent branches (a node after a failed one is skipped, not reported twice).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import keras

from genkit.errors import Problem, SpecError, did_you_mean
from genkit.nets.construct import LayerNamer, call_layer, describe_shape, keras_message, make_layer

__all__ = ["MERGES", "build_graph"]

# `from` merges: keyword -> the Keras layer that performs it.
MERGES = {"concat": keras.layers.Concatenate, "add": keras.layers.Add}

_NODE_KEYS = ("id", "layer", "from")
# Ids and input names become Keras layer names and ONNX tensor names: keep them plain.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLAIN = "Use letters, digits and underscores, starting with a letter."


@dataclass(frozen=True)
class Ref:
    """A reference to an input or an earlier node's output."""

    name: str
    path: tuple


@dataclass(frozen=True)
class Merge:
    """A `{concat: [...]}` or `{add: [...]}` of references or merges."""

    op: str
    items: tuple
    path: tuple


@dataclass
class Node:
    index: int
    id: str
    layer_name: str
    source: object  # Ref, Merge, or a list of them
    layer: object
    path: tuple


def build_graph(name, spec, path, input_shapes, blocks=None, active_blocks=()):
    """Build the functional model of a graph `spec`.

    Args:
        name: model name.
        spec: a `NetworkSpec` with `graph` (and optionally `output`).
        path: spec path of the network.
        input_shapes: input name -> shape without the batch axis, in input order.
        blocks, active_blocks: the spec's YAML blocks and the ones being built around this.

    Returns:
        A `keras.Model` with one `keras.Input` per input name, in the given order.

    Raises:
        SpecError: every structural, construction and shape problem found.
    """
    graph_path = path + ("graph",)
    if not spec.graph:
        raise SpecError([Problem(graph_path, "the graph has no nodes.", "Add nodes with 'id', 'layer' and 'from'.")])
    problems = _check_input_names(input_shapes, path)
    nodes, found = _parse_nodes(spec.graph, graph_path, list(input_shapes), blocks or {}, active_blocks)
    problems += found
    outputs, found = _parse_output(spec.output, spec.graph, path)
    problems += found
    if not problems:
        problems += _unused(nodes, outputs, input_shapes, path)
    if problems:
        raise SpecError(problems)
    return _call_nodes(name, nodes, outputs, input_shapes)


# --------------------------------------------------------------------------- pass 1: structure
def _check_input_names(input_shapes, path):
    return [
        Problem(path + ("inputs", key), f"input name {key!r} is not a plain name.", _PLAIN)
        for key in input_shapes
        if not _NAME.match(str(key))
    ]


def _parse_nodes(items, graph_path, input_names, blocks, active_blocks):
    """Check every node and construct its layer; return (nodes, problems)."""
    problems = []
    # Where each id is defined, to tell "defined later" (an ordering mistake) from a typo.
    defined_at = {}
    for i, item in enumerate(items):
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            defined_at.setdefault(item["id"], i)
    known = {key: "input" for key in input_names}  # names usable so far -> what they are
    nodes = []
    for i, item in enumerate(items):
        where = graph_path + (i,)
        if not isinstance(item, dict):
            problems.append(Problem(where, f"a graph node is a mapping with id, layer and from; got {item!r}.", ""))
            continue
        node_id = item.get("id")
        found = _check_id(node_id, where, known)
        problems += found
        ok = not found
        if "layer" not in item:
            problems.append(Problem(where, "this node has no 'layer'.", "Add e.g. 'layer: Conv2D'."))
            ok = False
        if "from" not in item:
            problems.append(Problem(where, "this node has no 'from'.", "Say which input or earlier id it takes."))
            source = None
            ok = False
        else:
            source, found = _parse_source(item["from"], where + ("from",), known, defined_at, node_id, i)
            problems += found
            ok = ok and not found
        kwargs = {k: v for k, v in item.items() if k not in _NODE_KEYS}
        if "name" in kwargs:
            problems.append(Problem(where + ("name",), "a graph node's layer is named by its 'id'.", "Remove 'name'."))
            kwargs.pop("name")
        layer = None
        if "layer" in item:
            layer, found = make_layer(
                item["layer"], kwargs, where, node_id if ok else "unnamed", name_path=where + ("layer",),
                blocks=blocks, active_blocks=active_blocks,
            )
            problems += found
        if isinstance(node_id, str) and node_id not in known:
            known[node_id] = i
        if ok and layer is not None:
            nodes.append(Node(i, node_id, item["layer"], source, layer, where))
    return nodes, problems


def _check_id(node_id, where, known):
    if node_id is None:
        return [Problem(where, "this node has no 'id'.", "Give it a name, e.g. 'id: h1'.")]
    if not isinstance(node_id, str) or not _NAME.match(node_id):
        return [Problem(where + ("id",), f"the id {node_id!r} is not a plain name.", _PLAIN)]
    if node_id in known:
        first = "an input" if known[node_id] == "input" else f"node {known[node_id]}"
        return [Problem(where + ("id",), f"the id {node_id!r} is already used by {first}.", "Give each its own id.")]
    return []


def _parse_source(value, where, known, defined_at, node_id, index):
    """Parse a `from` value into Ref / Merge / list; return (source, problems)."""
    if isinstance(value, list):
        if not value:
            return None, [Problem(where, "'from' is an empty list.", "Name at least one input or earlier id.")]
        parts, problems = [], []
        for j, item in enumerate(value):
            if isinstance(item, list):
                problems.append(Problem(where + (j,), "'from' lists cannot nest.", "Use a merge: {concat: [a, b]}."))
                continue
            part, found = _parse_item(item, where + (j,), known, defined_at, node_id, index)
            parts.append(part)
            problems += found
        return parts, problems
    return _parse_item(value, where, known, defined_at, node_id, index)


def _parse_item(value, where, known, defined_at, node_id, index):
    if isinstance(value, str):
        return Ref(value, where), _check_ref(value, where, known, defined_at, node_id, index)
    if isinstance(value, dict):
        if len(value) != 1 or next(iter(value)) not in MERGES:
            keys = ", ".join(map(str, value)) or "none"
            hint = did_you_mean(str(next(iter(value))), MERGES) if len(value) == 1 else ""
            return None, [
                Problem(
                    where,
                    f"a merge is a one-key mapping, one of {', '.join(MERGES)}; got keys {keys}.",
                    hint or "Write e.g. {concat: [a, b]}.",
                )
            ]
        (op, items), = value.items()
        at = where + (op,)
        if not isinstance(items, list) or len(items) < 2:
            return None, [
                Problem(at, f"'{op}' needs a list of at least two ids; got {items!r}.", f"Write {{{op}: [a, b]}}.")
            ]
        parts, problems = [], []
        for j, item in enumerate(items):
            part, found = _parse_item(item, at + (j,), known, defined_at, node_id, index)
            parts.append(part)
            problems += found
        return Merge(op, tuple(parts), at), problems
    return None, [
        Problem(where, f"'from' takes ids, lists of ids or merges; got {value!r}.", "Write an id, e.g. 'from: h0'.")
    ]


def _check_ref(name, where, known, defined_at, node_id, index):
    if name in known:
        return []
    if name == node_id:
        return [Problem(where, f"node {name!r} takes its own output.", "Take an input or an id defined above it.")]
    if name in defined_at and defined_at[name] > index:
        return [
            Problem(
                where,
                f"{name!r} is defined later (node {defined_at[name]}); a node may only take inputs and ids "
                "defined above it — nodes run in the order written, which also rules out cycles.",
                f"Move node {name!r} above this one.",
            )
        ]
    hint = did_you_mean(name, list(known))
    return [Problem(where, f"unknown id {name!r} in 'from'; inputs and earlier ids are: {', '.join(known)}.", hint)]


def _parse_output(output, items, path):
    """The output ids, checked; default the last node."""
    ids = [item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]
    if output is None:
        last = items[-1]
        if isinstance(last, dict) and isinstance(last.get("id"), str):
            return [last["id"]], []
        return [], []  # the last node's own problem is already reported
    names = [output] if isinstance(output, str) else list(output)
    problems = [
        Problem(path + ("output",), f"output {name!r} is not a node id.", did_you_mean(name, ids))
        for name in names
        if name not in ids
    ]
    return names, problems


def _unused(nodes, outputs, input_shapes, path):
    used = set(outputs)
    for node in nodes:
        used.update(_refs(node.source))
    problems = [
        Problem(
            node.path,
            f"the output of node {node.id!r} is never used: no later node takes it and it is not an output.",
            "Take it in a later node's 'from', list it under 'output', or remove the node.",
        )
        for node in nodes
        if node.id not in used
    ]
    problems += [
        Problem(path + ("inputs", key), f"input {key!r} is never used.", "Take it in some node's 'from'.")
        for key in input_shapes
        if key not in used
    ]
    return problems


def _refs(source):
    if isinstance(source, Ref):
        return [source.name]
    if isinstance(source, Merge):
        return [name for item in source.items for name in _refs(item)]
    if isinstance(source, list):
        return [name for item in source for name in _refs(item)]
    return []


# --------------------------------------------------------------------------- pass 2: calls
def _call_nodes(name, nodes, outputs, input_shapes):
    inputs = [keras.Input(shape=tuple(shape), name=key) for key, shape in input_shapes.items()]
    tensors = dict(zip(input_shapes, inputs))
    namer = LayerNamer(taken=[*input_shapes, *(node.id for node in nodes)])
    problems, failed = [], set()
    for node in nodes:
        if any(ref in failed for ref in _refs(node.source)):
            failed.add(node.id)  # its input failed: already reported
            continue
        x, problem = _resolve(node.source, tensors, namer, node.id)
        if problem is None:
            tensors[node.id], problem = call_layer(
                node.layer, x, node.path, label=f"node {node.id!r} ({node.layer_name})"
            )
        if problem is not None:
            problems.append(problem)
            failed.add(node.id)
    if problems:
        raise SpecError(problems)
    out = [tensors[key] for key in outputs]
    return keras.Model(
        inputs=inputs[0] if len(inputs) == 1 else inputs, outputs=out[0] if len(out) == 1 else out, name=name
    )


def _resolve(source, tensors, namer, node_id):
    """The tensor(s) `source` stands for, performing merges; (value, problem)."""
    if isinstance(source, Ref):
        return tensors[source.name], None
    if isinstance(source, list):
        values = []
        for item in source:
            value, problem = _resolve(item, tensors, namer, node_id)
            if problem is not None:
                return None, problem
            values.append(value)
        return values, None
    values = []
    for item in source.items:
        value, problem = _resolve(item, tensors, namer, node_id)
        if problem is not None:
            return None, problem
        values.append(value)
    layer = MERGES[source.op](name=namer.unique(f"{node_id}_{source.op}"))
    try:
        return layer(values), None
    except ValueError as err:
        shown = " and ".join(f"{_label(item)} {describe_shape(v)}" for item, v in zip(source.items, values))
        rule = "all axes but the last must agree" if source.op == "concat" else "shapes must agree"
        return None, Problem(
            source.path, f"cannot {source.op} {shown}: {rule}. Keras: {keras_message(err)}", ""
        )


def _label(item) -> str:
    return repr(item.name) if isinstance(item, Ref) else item.op
