"""Parameter counts and a compact per-layer table of a built network (for `genkit inspect`)."""

from __future__ import annotations

import math

__all__ = ["count_params", "summarize"]


def count_params(model) -> tuple:
    """(total, trainable) number of parameters of `model`, each variable counted once.

    Non-trainable parameters are weights not updated by the optimizer, such as
    BatchNormalization's moving mean and variance. Noise-generator state is not a weight
    and is not counted.
    """
    total = _size(model.weights)
    trainable = _size(model.trainable_weights)
    return total, trainable


def summarize(model) -> str:
    """A compact table of `model`'s layers: name, class, output shape, parameters.

    Example:

    ```
    encoder
    name       class         output shape        params
    x          InputLayer    (None, 28, 28, 1)   0
    conv2d     Conv2D        (None, 26, 26, 32)  320
    ...
    total 93,770 params (93,770 trainable)
    ```
    """
    rows = [("name", "class", "output shape", "params")]
    for layer in model.layers:
        rows.append((layer.name, type(layer).__name__, _output_shape(layer), f"{_size(layer.weights):,}"))
    widths = [max(len(row[k]) for row in rows) for k in range(3)]
    lines = [model.name]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    total, trainable = count_params(model)
    lines.append(f"total {total:,} params ({trainable:,} trainable)")
    return "\n".join(lines)


def _size(variables) -> int:
    seen = {}
    for v in variables:
        seen[id(v)] = math.prod(v.shape)
    return int(sum(seen.values()))


def _output_shape(layer) -> str:
    try:
        out = layer.output
    except (AttributeError, ValueError):  # a layer used several times has no single output
        return "?"
    if isinstance(out, (list, tuple)):
        return ", ".join(str(tuple(o.shape)) for o in out)
    return str(tuple(out.shape))
