"""Blocks written in YAML: named sub-networks with parameters, used like layers.

A spec's top-level `blocks:` declares them once:

    blocks:
      Residual:
        params: {filters: null, kernel_size: 3}      # null: the use must give it
        graph:
          - {id: h, layer: Conv2D, filters: $filters, kernel_size: $kernel_size, padding: same, activation: relu, from: x}
          - {id: skip, layer: Conv2D, filters: $filters, kernel_size: 1, from: x}
          - {id: out, layer: Activation, activation: relu, from: {add: [h, skip]}}

and a network uses them like any layer: `- Residual: {filters: 64}` in a layer list, or
`{id: r1, layer: Residual, filters: 64, from: h0}` in a graph. Each use becomes a nested
functional Keras model built when it is called (its input shapes are known then), so
saving, ONNX export and error reporting work exactly as for the networks themselves.
A value written `$name` (the whole value) is replaced by the parameter `name`.
"""

from __future__ import annotations

from genkit.errors import Problem, SpecError, did_you_mean

__all__ = ["UserBlock", "make_user_block", "use_network_builder", "written_use"]

# How a block's body becomes a network: `genkit.nets.builder.build_network`, handed over by
# the builder when it loads. The builder reaches this module (through `construct`) to build
# blocks, so importing it back here would make the two modules a cycle.
_BUILD = {}


def use_network_builder(build_network) -> None:
    """Set the function that builds a block's body: (name, NetworkSpec, **options) -> keras.Model."""
    _BUILD["network"] = build_network


def written_use(layer_name, keys, path) -> str:
    """How a use at `path` gives `keys`: beside id and from in a graph node, in the mapping of a layer-list entry."""
    given = ", ".join(f"{key}: ..." for key in keys)
    if len(path) >= 2 and path[-2] == "graph":
        return f"'{{id: ..., layer: {layer_name}, {given}, from: ...}}'"
    return f"'- {layer_name}: {{{given}}}'"


def make_user_block(block_name, block_spec, kwargs, path, name, blocks, active=()):
    """(UserBlock, problems) for a use of the YAML block `block_name` with `kwargs`."""
    kwargs = dict(kwargs or {})
    kwargs.pop("name", None)
    problems = []
    for key in kwargs:
        if key not in block_spec.params:
            problems.append(
                Problem(
                    path + (key,),
                    f"block {block_name!r} has no parameter {key!r}; its parameters are {sorted(block_spec.params) or 'none'}.",
                    did_you_mean(key, block_spec.params) if block_spec.params else "",
                )
            )
    values = {**block_spec.params, **kwargs}
    for key, value in values.items():
        if value is None:
            problems.append(
                Problem(path, f"block {block_name!r} needs the parameter {key!r}.", f"Give it at this use: {written_use(block_name, [key], path)}.")
            )
    if block_name in active:
        chain = " -> ".join((*active, block_name))
        problems.append(Problem(("blocks", block_name), f"blocks use each other in a cycle: {chain}.", "Break the cycle."))
    if problems:
        return None, problems
    return UserBlock(block_name, block_spec, values, name, blocks, (*active, block_name)), []


class UserBlock:
    """A callable standing in for a layer: builds and applies the block's sub-network."""

    def __init__(self, block_name, block_spec, values, name, blocks, active):
        self.block_name = block_name
        self.block_spec = block_spec
        self.values = values
        self.name = name
        self.blocks = blocks
        self.active = active

    def __call__(self, inputs):
        build_network = _BUILD["network"]
        tensors = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        names = self.block_spec.inputs
        if len(tensors) != len(names):
            raise SpecError(
                [
                    Problem(
                        ("blocks", self.block_name, "inputs"),
                        f"block {self.block_name!r} takes {len(names)} input(s) {names} but is given {len(tensors)}.",
                        "",
                    )
                ]
            )
        body = _substitute(self.block_spec.model_dump(exclude={"params", "inputs"}), self.values, ("blocks", self.block_name))
        from genkit.spec.schema import NetworkSpec

        spec = NetworkSpec(
            inputs={n: list(t.shape[1:]) for n, t in zip(names, tensors)} if body["graph"] is not None else None,
            input=list(tensors[0].shape[1:]) if body["layers"] is not None else None,
            layers=body["layers"],
            graph=body["graph"],
            output=body["output"],
        )
        model = build_network(
            self.name, spec, path=("blocks", self.block_name), input_name=names[0], blocks=self.blocks, active_blocks=self.active
        )
        return model(tensors if len(tensors) > 1 else tensors[0])


def _substitute(value, values, path):
    if isinstance(value, str) and value.startswith("$"):
        key = value[1:]
        if key not in values:
            raise SpecError(
                [Problem(path, f"{value!r} names no parameter of this block; parameters: {sorted(values) or 'none'}.", did_you_mean(key, values))]
            )
        return values[key]
    if isinstance(value, dict):
        return {k: _substitute(v, values, path + (k,)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values, path + (i,)) for i, v in enumerate(value)]
    return value
