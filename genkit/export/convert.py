"""Keras functional model -> ONNX ModelProto with readable input, output and batch names.

The model is traced through a `tf.function` whose input signature names every input after
its Keras `Input` layer (`z`, `y`, `x`) and which returns a dict, so the ONNX outputs carry
chosen names (`z_mean`, `z_log_var`) rather than the last layer's. tf2onnx names the free
batch dimension `unk__N`; we rename it `batch` on every graph input and output. Group
normalisations are fused into single InstanceNormalization nodes (`genkit.export.fuse`: 1.4-2x
faster diffusion U-Nets in onnxruntime); the file stays standard ONNX of the chosen opset.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import onnx
import tensorflow as tf
import tf2onnx

from genkit.export.fuse import fuse_group_norms

__all__ = [
    "default_output_names",
    "describe_io",
    "fix_negative_conv_transpose_pads",
    "metadata_facts",
    "name_batch_dim",
    "set_metadata",
    "to_onnx",
]

BATCH = "batch"
_METADATA_MAX_CHARS = 4096  # keep big arrays (a prior's scale_tril) in manifest.json only


def default_output_names(model: keras.Model) -> list[str]:
    """Names for the model's outputs, in `keras.tree.flatten` order.

    Dict outputs: their keys. Otherwise the output layers' names (`model.output_names`).
    """
    if isinstance(model.output, dict):
        return keras.tree.flatten({key: key for key in model.output})
    return list(model.output_names)


def to_onnx(model: keras.Model, output_names: list[str], opset: int) -> onnx.ModelProto:
    """Convert `model` (in inference mode) with inputs named after its Input layers."""
    signature = [
        tf.TensorSpec((None, *tensor.shape[1:]), tf.as_dtype(tensor.dtype), name=tensor.name) for tensor in model.inputs
    ]

    @tf.function(input_signature=signature)
    def serve(*args):
        outputs = keras.tree.flatten(model(keras.tree.pack_sequence_as(model.input, list(args)), training=False))
        return dict(zip(output_names, outputs, strict=True))

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=signature, opset=opset)
    fix_negative_conv_transpose_pads(proto)
    fuse_group_norms(proto)
    _order_outputs(proto, output_names)
    name_batch_dim(proto)
    return proto


def fix_negative_conv_transpose_pads(proto: onnx.ModelProto) -> None:
    """Make tf2onnx's ConvTranspose nodes with negative `pads` loadable, and right.

    A Keras `Conv2DTranspose(padding="same")` whose kernel is smaller than its stride
    (kernel 3, strides 4) outputs `in * stride` values, more than the transposed convolution
    covers. TensorFlow pads nothing and puts the extra positions (bias only) at the end of
    each axis; tf2onnx 1.17 encodes them as negative pads split over both ends, which
    onnxruntime refuses to load ("Attribute pads must not contain negative values") and
    which would misplace the image by a pixel if it loaded. ONNX's `output_padding` (extra
    positions at the end, < stride) says exactly what TensorFlow does. Parity confirms it.
    """
    for node in proto.graph.node:
        if node.op_type != "ConvTranspose":
            continue
        attrs = {a.name: a for a in node.attribute}
        if "pads" not in attrs or min(attrs["pads"].ints, default=0) >= 0:
            continue
        pads = list(attrs["pads"].ints)  # [begin_1..begin_r, end_1..end_r] over spatial axes
        rank = len(pads) // 2
        extra = [0] * rank
        for i in range(rank):
            total = pads[i] + pads[rank + i]
            if min(pads[i], pads[rank + i]) >= 0:
                continue
            if total >= 0:  # not tf2onnx's pattern: refuse rather than guess
                raise RuntimeError(f"ConvTranspose {node.name}: unexpected pads {pads}")
            pads[i] = pads[rank + i] = 0
            extra[i] = -total
        attrs["pads"].ints[:] = pads
        if "output_padding" in attrs:
            attrs["output_padding"].ints[:] = [a + b for a, b in zip(attrs["output_padding"].ints, extra, strict=True)]
        else:
            node.attribute.append(onnx.helper.make_attribute("output_padding", extra))


def name_batch_dim(proto: onnx.ModelProto) -> None:
    """Rename the symbolic first dimension of every graph input and output to `batch`."""
    for value in [*proto.graph.input, *proto.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = BATCH


def describe_io(proto: onnx.ModelProto) -> dict[str, list[dict]]:
    """`{"inputs": [{"name", "shape" (batch as None), "dtype"}], "outputs": [...]}`."""

    def describe(value) -> dict:
        tensor = value.type.tensor_type
        shape = [dim.dim_value if dim.HasField("dim_value") else None for dim in tensor.shape.dim]
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name
        return {"name": value.name, "shape": shape, "dtype": dtype}

    return {
        "inputs": [describe(v) for v in proto.graph.input],
        "outputs": [describe(v) for v in proto.graph.output],
    }


def metadata_facts(manifest: dict) -> dict[str, str]:
    """The manifest's small facts as ONNX `metadata_props` (strings; JSON for non-strings).

    Top-level scalars and flat lists (`family`, `latent_dim`, ...) keep their key; one
    level down they are dotted (`data.range`, `versions.genkit`, `prior.kind`). Per-network
    entries and anything longer than 4096 characters stay in manifest.json only.
    """
    facts = {}

    def add(key: str, value) -> None:
        if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, (list, dict)) for v in value)):
            return
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) <= _METADATA_MAX_CHARS:
            facts[key] = text

    for key, value in manifest.items():
        if key in ("networks", "spec"):  # per-network entries; the whole resolved spec
            continue
        if isinstance(value, dict):
            for sub, inner in value.items():
                add(f"{key}.{sub}", inner)
        else:
            add(key, value)
    return facts


def set_metadata(proto: onnx.ModelProto, props: dict[str, str]) -> None:
    """Replace the file's `metadata_props` with `props`."""
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)


def _order_outputs(proto: onnx.ModelProto, output_names: list[str]) -> None:
    # tf2onnx emits a dict's outputs in its own (sorted) order; keep the caller's order.
    by_name = {value.name: value for value in proto.graph.output}
    if sorted(by_name) != sorted(output_names):
        raise RuntimeError(f"tf2onnx produced outputs {sorted(by_name)}, expected {output_names}")
    ordered = [onnx.ValueInfoProto.FromString(by_name[n].SerializeToString()) for n in output_names]
    del proto.graph.output[:]
    proto.graph.output.extend(ordered)
