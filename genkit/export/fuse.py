"""Graph rewrites that make tf2onnx's output fast in onnxruntime: fused group normalisation.

tf2onnx expands Keras' `GroupNormalization` (channels last) into about 20 primitive nodes per
layer: a Reshape to (N, H, W, G, C/G), two ReduceMeans over axes (1, 2, 4), and the
element-wise arithmetic between them. Profiled with `benchmarks/profile_onnx.py`, those
nodes took about 30% of the diffusion U-Net's kernel time at batch 32, and they block
onnxruntime's transpose optimiser from cancelling the Transposes tf2onnx puts around every
convolution (NHWC Keras, NCHW ONNX convolutions).

`fuse_group_norms` replaces each such pattern by

    Transpose(NHWC -> NCHW) -> Reshape (N, G, C/G·H·W) -> InstanceNormalization
    -> Reshape (N, C, H, W) -> Mul γ -> Add β -> Transpose(NCHW -> NHWC)

InstanceNormalization over G "channels" of the reshaped tensor is group normalisation. Why
not ONNX's own `GroupNormalization` (opset 18): onnxruntime 1.31 has no CPU kernel for it and
runs its function body, the same ReduceMean/Sub/Mul nodes (measured: no faster than
tf2onnx's pattern), while InstanceNormalization is one native kernel. The Transposes it adds
cancel against the convolutions' (onnxruntime's transpose optimiser, any optimisation level
from basic), so the normalised tensors stay NCHW between convolutions.

Every rewrite is checked by the export's parity check against Keras on the final file.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = ["fuse_group_norms", "remove_dead_nodes"]

_GROUP_AXES = [1, 2, 4]  # (N, H, W, G, C/G): reduce over H, W and the channels of a group


class _Graph:
    """Producer/consumer maps and constant values of a GraphProto, for pattern matching."""

    def __init__(self, graph: onnx.GraphProto):
        self.graph = graph
        self.producer = {out: node for node in graph.node for out in node.output}
        self.consumers = defaultdict(list)
        for node in graph.node:
            for name in dict.fromkeys(node.input):  # a node reading a tensor twice (x·x) counts once
                self.consumers[name].append(node)
        self.consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)

    def only_consumer(self, name: str, op_type: str):
        users = self.consumers.get(name, [])
        return users[0] if len(users) == 1 and users[0].op_type == op_type else None

    def const(self, name: str):
        return self.consts.get(name)


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _reduce_axes(g: _Graph, node) -> list | None:
    axes = _attr(node, "axes")
    if axes is None and len(node.input) > 1:  # opset >= 18: axes are an input
        value = g.const(node.input[1])
        axes = None if value is None else value.tolist()
    return None if axes is None or _attr(node, "keepdims", 1) != 1 else sorted(int(a) for a in axes)


def _other(node, name: str) -> str:
    """The input of a binary node that is not `name` (None if both are)."""
    a, b = node.input
    return b if a == name else a if b == name else None


def _match(g: _Graph, mean) -> dict | None:
    """The Keras GroupNormalization pattern around its first ReduceMean, or None."""
    if mean.op_type != "ReduceMean" or _reduce_axes(g, mean) != _GROUP_AXES:
        return None
    split = g.producer.get(mean.input[0])  # Reshape (N, H, W, C) -> (N, H, W, G, C/G)
    if split is None or split.op_type != "Reshape":
        return None
    shape5 = g.const(split.input[1])
    if shape5 is None or shape5.shape != (5,) or min(shape5[1:]) < 1:
        return None
    h, w, groups, per_group = (int(v) for v in shape5[1:])
    reshaped, mean_out = split.output[0], mean.output[0]
    users = g.consumers[mean_out]
    sub = next((n for n in users if n.op_type == "Sub" and list(n.input) == [reshaped, mean_out]), None)
    neg = next((n for n in users if n.op_type == "Neg"), None)
    if sub is None or neg is None or len(users) != 2:
        return None
    square = g.only_consumer(sub.output[0], "Mul")
    if square is None or list(square.input) != [sub.output[0]] * 2:
        return None
    var = g.only_consumer(square.output[0], "ReduceMean")
    if var is None or _reduce_axes(g, var) != _GROUP_AXES:
        return None
    add_eps = g.only_consumer(var.output[0], "Add")
    eps = None if add_eps is None else g.const(_other(add_eps, var.output[0]))
    if eps is None or eps.size != 1:
        return None
    sqrt = g.only_consumer(add_eps.output[0], "Sqrt")
    recip = sqrt and g.only_consumer(sqrt.output[0], "Reciprocal")
    if recip is None:
        return None
    channels = groups * per_group
    scale_out, gamma = recip.output[0], np.ones(channels, np.float32)
    scale = g.only_consumer(scale_out, "Mul")  # inv·γ, when the layer has a scale
    if scale is not None and g.const(_other(scale, scale_out)) is not None:
        gamma = g.const(_other(scale, scale_out)).reshape(-1)
        scale_out = scale.output[0]
    # normalised = x·a + (β - mean·a): Mul(x, a), Mul(Neg(mean), a) [+ β], then Add.
    a_users = g.consumers[scale_out]
    mul_x = next((n for n in a_users if n.op_type == "Mul" and _other(n, scale_out) == reshaped), None)
    mul_m = next((n for n in a_users if n.op_type == "Mul" and _other(n, scale_out) == neg.output[0]), None)
    if mul_x is None or mul_m is None or len(a_users) != 2 or gamma.size != channels:
        return None
    shift_out, beta = mul_m.output[0], np.zeros(channels, np.float32)
    center = g.only_consumer(shift_out, "Add")
    if center is not None and g.const(_other(center, shift_out)) is not None:
        beta = g.const(_other(center, shift_out)).reshape(-1)
        shift_out = center.output[0]
    final = g.only_consumer(mul_x.output[0], "Add")
    if final is None or _other(final, mul_x.output[0]) != shift_out or beta.size != channels:
        return None
    merge = g.only_consumer(final.output[0], "Reshape")  # back to (N, H, W, C)
    if merge is None or len(g.consumers[reshaped]) != 3:  # the mean, the Sub and the Mul only
        return None
    return {
        "x": split.input[0],
        "out": merge.output[0],
        "shape": (h, w, groups, per_group),
        "epsilon": float(eps.reshape(())),
        "gamma": gamma.astype(np.float32),
        "beta": beta.astype(np.float32),
        "name": mean.name.rsplit("/moments", 1)[0],
    }


def _fused_nodes(m: dict, index: int) -> tuple[list, list]:
    """(nodes, initializers) computing m["out"] from m["x"] with one InstanceNormalization."""
    h, w, groups, per_group = m["shape"]
    channels, p = groups * per_group, f"GroupNorm_{index}"
    inits = [
        numpy_helper.from_array(np.array([0, groups, -1], np.int64), f"{p}/groups_shape"),
        numpy_helper.from_array(np.array([0, channels, h, w], np.int64), f"{p}/nchw_shape"),
        numpy_helper.from_array(np.ones(groups, np.float32), f"{p}/ones"),
        numpy_helper.from_array(np.zeros(groups, np.float32), f"{p}/zeros"),
        numpy_helper.from_array(m["gamma"].reshape(channels, 1, 1), f"{p}/gamma"),
        numpy_helper.from_array(m["beta"].reshape(channels, 1, 1), f"{p}/beta"),
    ]
    nodes = [
        helper.make_node("Transpose", [m["x"]], [f"{p}/nchw"], name=f"{p}/to_nchw", perm=[0, 3, 1, 2]),
        helper.make_node("Reshape", [f"{p}/nchw", f"{p}/groups_shape"], [f"{p}/grouped"], name=f"{p}/group"),
        helper.make_node(
            "InstanceNormalization",
            [f"{p}/grouped", f"{p}/ones", f"{p}/zeros"],
            [f"{p}/normed"],
            name=f"{p}/normalise",
            epsilon=m["epsilon"],
        ),
        helper.make_node("Reshape", [f"{p}/normed", f"{p}/nchw_shape"], [f"{p}/ungrouped"], name=f"{p}/ungroup"),
        helper.make_node("Mul", [f"{p}/ungrouped", f"{p}/gamma"], [f"{p}/scaled"], name=f"{p}/scale"),
        helper.make_node("Add", [f"{p}/scaled", f"{p}/beta"], [f"{p}/shifted"], name=f"{p}/shift"),
        helper.make_node("Transpose", [f"{p}/shifted"], [m["out"]], name=f"{p}/to_nhwc", perm=[0, 2, 3, 1]),
    ]
    return nodes, inits


def fuse_group_norms(proto: onnx.ModelProto) -> int:
    """Replace every Keras GroupNormalization pattern in `proto` (in place); return how many."""
    graph = proto.graph
    g = _Graph(graph)
    matches = [m for m in (_match(g, node) for node in graph.node) if m is not None]
    if not matches:
        return 0
    # Each fused block takes the place of its final Reshape: the graph stays topologically sorted.
    blocks = {}
    for index, m in enumerate(matches):
        nodes, inits = _fused_nodes(m, index)
        blocks[m["out"]] = nodes
        graph.initializer.extend(inits)
    ordered = []
    for node in graph.node:
        replaced = node.op_type == "Reshape" and node.output[0] in blocks
        ordered.extend(blocks[node.output[0]] if replaced else [node])
    _set_repeated(graph.node, ordered)
    remove_dead_nodes(proto)
    return len(matches)


def remove_dead_nodes(proto: onnx.ModelProto) -> None:
    """Drop nodes no graph output depends on, and initializers no node reads."""
    graph = proto.graph
    needed = {value.name for value in graph.output}
    alive = []
    for node in reversed(graph.node):
        if any(out in needed for out in node.output):
            alive.append(node)
            needed.update(node.input)
    _set_repeated(graph.node, reversed(alive))
    _set_repeated(graph.initializer, [init for init in graph.initializer if init.name in needed])
    _set_repeated(graph.value_info, [v for v in graph.value_info if v.name in needed])


def _set_repeated(field, items) -> None:
    # Copies first: messages taken out of a repeated field must not be read after it is cleared.
    copies = [type(item).FromString(item.SerializeToString()) for item in items]
    del field[:]
    field.extend(copies)
