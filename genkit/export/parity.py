"""Parity check: the ONNX file must compute what the Keras model computes.

A seeded random batch goes through `model(inputs, training=False)` and through
onnxruntime (CPU, so the check does not depend on the machine's GPU); the largest
absolute difference over all outputs is the network's parity error. Two batch sizes
(1 and 8) are run so a batch dimension frozen at export time is caught too.
"""

from __future__ import annotations

import keras
import numpy as np
import onnx
import onnxruntime as ort

__all__ = ["PARITY_BATCH_SIZES", "parity_max_abs_diff", "random_inputs"]

PARITY_BATCH_SIZES = (1, 8)


def random_inputs(model: keras.Model, batch: int, rng: np.random.Generator, ranges: dict | None = None) -> dict:
    """One random array per model input, keyed by input name.

    Float inputs are N(0, 1) unless `ranges[name] = (low, high)` asks for uniform values;
    integer inputs (labels, timesteps) are uniform in `[low, high)` from `ranges[name]`,
    which is required for them.
    """
    ranges = ranges or {}
    arrays = {}
    for tensor in model.inputs:
        shape = (batch, *tensor.shape[1:])
        if None in shape:
            raise ValueError(
                f"input '{tensor.name}' has a free non-batch dimension {tuple(tensor.shape)}; "
                "cannot build a parity batch"
            )
        dtype = np.dtype(tensor.dtype)
        if np.issubdtype(dtype, np.integer):
            if tensor.name not in ranges:
                raise ValueError(
                    f"integer input '{tensor.name}' needs input_ranges[...]['{tensor.name}'] = (low, high) "
                    "for the parity batch, e.g. (0, num_classes)"
                )
            low, high = ranges[tensor.name]
            arrays[tensor.name] = rng.integers(low, high, size=shape).astype(dtype)
        elif tensor.name in ranges:
            low, high = ranges[tensor.name]
            arrays[tensor.name] = rng.uniform(low, high, size=shape).astype(dtype)
        else:
            arrays[tensor.name] = rng.standard_normal(shape).astype(dtype)
    return arrays


def parity_max_abs_diff(
    model: keras.Model, proto: onnx.ModelProto, output_names: list[str], *, seed: int, ranges: dict | None = None
) -> float:
    """Largest |Keras - onnxruntime| over all outputs and the parity batches; NaN counts as failure (inf)."""
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0.0
    for batch in PARITY_BATCH_SIZES:
        feeds = random_inputs(model, batch, rng, ranges)
        structured = keras.tree.pack_sequence_as(model.input, [feeds[t.name] for t in model.inputs])
        expected = [keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(model(structured, training=False))]
        got = session.run(output_names, feeds)
        for want, have in zip(expected, got, strict=True):
            if want.shape != have.shape:
                return float("inf")
            diff = np.abs(want.astype(np.float64) - have.astype(np.float64))
            if diff.size:
                worst = max(worst, float(np.max(diff)) if np.all(np.isfinite(diff)) else float("inf"))
    return worst
