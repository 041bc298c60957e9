"""Budgets checked before anything is built: sizes a spec asks for that would allocate until
the machine runs out of memory are refused with the field that asks for them.

Three budgets, each a default that an environment variable raises (or lowers):

- GENKIT_MAX_LAYER_SIZE (default 65,536): the largest integer a size argument of a layer
  (`SIZE_ARGUMENTS`: units, filters, latent_dim, embedding_dim, num_classes, output_dim) and
  model.latent_dim, model.condition.num_classes and model.condition.embedding_dim may hold.
  These arguments must also be integers.
- GENKIT_MAX_PARAMETERS (default 100,000,000, 400 MB of float32 weights, so building a network
  to validate it stays within `genkit validate`'s ~1.5 GB): the parameters of
  one network, estimated from the shapes its layers are written with (`estimate_network`).
- GENKIT_MAX_ACTIVATIONS (default 1,000,000,000, 4 GB of float32): the values one layer
  outputs for a whole batch (data.batch_size examples), estimated the same way.

The estimate follows a `layers` network from its `input` shape (or from the first Reshape
whose target shape is written) through Dense, convolution, pooling, up-sampling, Flatten,
Reshape, global pooling, normalisation and shape-keeping layers, and stops at the first layer
it does not know: what it reports is a lower bound, enough to refuse an impossible size
before Keras allocates it. The networks themselves are built, and counted exactly, later.
"""

from __future__ import annotations

import math
import os
import re

from genkit.errors import Problem
from genkit.spec.network_rules import layer_entries

__all__ = [
    "BUDGETS",
    "SIZE_ARGUMENTS",
    "budget",
    "check_layer_sizes",
    "check_network_budgets",
    "estimate_network",
]

SIZE_ARGUMENTS = ("units", "filters", "latent_dim", "embedding_dim", "num_classes", "output_dim")

# Environment variable -> (default, what it bounds).
BUDGETS = {
    "GENKIT_MAX_LAYER_SIZE": (65_536, "size argument of a layer (units, filters, latent_dim, ...)"),
    "GENKIT_MAX_PARAMETERS": (100_000_000, "parameters of one network"),
    "GENKIT_MAX_ACTIVATIONS": (1_000_000_000, "values one layer outputs for a batch"),
}


def budget(name: str) -> int:
    """The budget `name` (a key of BUDGETS): its environment variable, or the default."""
    default = BUDGETS[name][0]
    raw = os.environ.get(name, "").replace("_", "").replace(",", "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw)) if any(c in raw for c in ".eE") else int(raw)
    except (ValueError, OverflowError):
        return default
    return value if value >= 1 else default


def _raise_hint(name: str) -> str:
    return f"Use a smaller value, or raise the budget deliberately with {name}=<number> (default {BUDGETS[name][0]:,})."


def _bodies(spec):
    """(field path prefix, network or block) of every network and block in the spec."""
    for role, net in spec.model.networks.items():
        yield ("model", "networks", role), net
    for name, block in spec.blocks.items():
        yield ("blocks", name), block


def _argument_path(prefix, entry_path, name, key):
    return prefix + entry_path + ((name,) if entry_path[0] == "layers" else ()) + (key,)


def _size_problem(path, key, value, cap):
    if not isinstance(value, int) or isinstance(value, bool):
        return [Problem(path, f"got {value!r}; expected an integer (a count), e.g. {key}: 64.", "")]
    if value > cap:
        return [Problem(path, f"is {value:,}, above the largest layer size {cap:,}.", _raise_hint("GENKIT_MAX_LAYER_SIZE"))]
    return []


def check_layer_sizes(spec):
    """Size arguments of layers, and the model's sizes: integers, and within GENKIT_MAX_LAYER_SIZE.

    A block parameter that a block passes to a size argument (`filters: $f`) is checked at its
    default and at every use of the block that gives it."""
    cap = budget("GENKIT_MAX_LAYER_SIZE")
    problems = []
    size_params: dict = {}  # block name -> {parameter: the size argument it reaches}
    entries = [(prefix, entry) for prefix, body in _bodies(spec) for entry in layer_entries(body)]
    for prefix, (entry_path, name, kwargs) in entries:
        for key in SIZE_ARGUMENTS:
            if key not in kwargs:
                continue
            value = kwargs[key]
            if isinstance(value, str) and value.startswith("$"):
                if prefix[0] == "blocks":
                    size_params.setdefault(prefix[1], {})[value[1:]] = key
                continue
            problems += _size_problem(_argument_path(prefix, entry_path, name, key), key, value, cap)
    for block_name, params in size_params.items():
        defaults = spec.blocks[block_name].params
        for param, key in params.items():
            if defaults.get(param) is not None and not (isinstance(defaults[param], str) and defaults[param].startswith("$")):
                problems += _size_problem(("blocks", block_name, "params", param), key, defaults[param], cap)
        for prefix, (entry_path, name, kwargs) in entries:
            for param, key in params.items():
                value = kwargs.get(param) if name == block_name else None
                if value is not None and not (isinstance(value, str) and value.startswith("$")):
                    problems += _size_problem(_argument_path(prefix, entry_path, name, param), key, value, cap)
    model = spec.model
    sizes = [(("model", "latent_dim"), model.latent_dim)]
    if model.condition is not None:
        sizes += [
            (("model", "condition", "num_classes"), model.condition.num_classes),
            (("model", "condition", "embedding_dim"), model.condition.embedding_dim),
        ]
    for path, value in sizes:
        if value is not None and value > cap:
            problems.append(Problem(path, f"is {value:,}, above the largest layer size {cap:,}.", _raise_hint("GENKIT_MAX_LAYER_SIZE")))
    return problems


# --------------------------------------------------------------------------- estimates
_SHAPE_KEEPING = {
    "Activation", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "LeakyReLU", "ReLU", "ELU", "Softmax", "Identity", "ActivityRegularization",
}
_NORMALIZATIONS = {"BatchNormalization": 4, "LayerNormalization": 2, "GroupNormalization": 2, "UnitNormalization": 0}


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def _tuple(value, rank):
    """An int or a list of `rank` ints as a tuple, else None."""
    if _int(value):
        return (value,) * rank
    if isinstance(value, (list, tuple)) and len(value) == rank and all(_int(v) for v in value):
        return tuple(value)
    return None


def _conv_rank(name):
    """1, 2 or 3 for a layer named like Conv2D, Conv2DTranspose, MaxPooling1D, UpSampling3D."""
    found = re.search(r"([123])D(Transpose)?$", name)
    return int(found.group(1)) if found else None


def _spatial(sizes, kernel, strides, dilation, padding, transpose):
    out = []
    for s, k, st, d in zip(sizes, kernel, strides, dilation):
        span = (k - 1) * d + 1
        if transpose:
            out.append(s * st if padding == "same" else (s - 1) * st + span)
        else:
            out.append(-(-s // st) if padding == "same" else (s - span) // st + 1)
    return tuple(out) if all(o >= 1 for o in out) else None


def _step(name, kwargs, shape):
    """(parameters, output shape or None) of one layer on an input `shape` (None: unknown)."""
    if name == "Embedding":
        n, d = _int(kwargs.get("input_dim")), _int(kwargs.get("output_dim"))
        return (n * d if n and d else 0), None
    if name == "Reshape":
        target = kwargs.get("target_shape")
        if isinstance(target, (list, tuple)) and target and all(_int(t) for t in target):
            return 0, tuple(target)
        return 0, None
    if shape is None:
        return 0, None
    if name in _SHAPE_KEEPING:
        return 0, shape
    if name in _NORMALIZATIONS:
        return _NORMALIZATIONS[name] * shape[-1], shape
    if name == "Flatten":
        return 0, (math.prod(shape),)
    if name == "Dense":
        units = _int(kwargs.get("units"))
        if not units:
            return 0, None
        bias = units if kwargs.get("use_bias", True) else 0
        return shape[-1] * units + bias, shape[:-1] + (units,)
    if name.startswith(("GlobalAveragePooling", "GlobalMaxPooling")):
        return 0, None if kwargs.get("keepdims") else (shape[-1],)
    rank = _conv_rank(name)
    if rank is None or len(shape) != rank + 1 or kwargs.get("data_format") == "channels_first":
        return 0, None
    spatial, channels = shape[:-1], shape[-1]
    padding = kwargs.get("padding", "valid")
    if name.startswith("UpSampling"):
        size = _tuple(kwargs.get("size", 2), rank)
        return 0, (tuple(s * f for s, f in zip(spatial, size)) + (channels,)) if size else None
    if name.startswith(("MaxPooling", "AveragePooling")):
        pool = _tuple(kwargs.get("pool_size", 2), rank)
        strides = _tuple(kwargs.get("strides") or kwargs.get("pool_size", 2), rank)
        if not (pool and strides):
            return 0, None
        out = _spatial(spatial, pool, strides, (1,) * rank, padding, False)
        return 0, (out + (channels,)) if out else None
    if name in (f"Conv{rank}D", f"Conv{rank}DTranspose"):
        filters, kernel = _int(kwargs.get("filters")), _tuple(kwargs.get("kernel_size"), rank)
        strides = _tuple(kwargs.get("strides", 1), rank)
        dilation = _tuple(kwargs.get("dilation_rate", 1), rank)
        if not (filters and kernel and strides and dilation) or kwargs.get("output_padding") is not None:
            return 0, None
        params = math.prod(kernel) * channels * filters + (filters if kwargs.get("use_bias", True) else 0)
        out = _spatial(spatial, kernel, strides, dilation, padding, name.endswith("Transpose"))
        return params, (out + (filters,)) if out else None
    return 0, None


def estimate_network(net):
    """[(index, layer name, parameters, output values per example or None)] of a `layers`
    network, as far as its shapes can be followed from what the spec writes."""
    shape = tuple(net.input) if net.input and all(_int(s) for s in net.input) else None
    rows = []
    for i, item in enumerate(net.layers or []):
        if not (isinstance(item, dict) and len(item) == 1):
            shape = None
            continue
        ((name, kwargs),) = item.items()
        if not isinstance(name, str):
            shape = None
            continue
        params, shape = _step(name, kwargs if isinstance(kwargs, dict) else {}, shape)
        rows.append((i, name, params, math.prod(shape) if shape else None))
    return rows


def check_network_budgets(spec):
    """The estimated parameters of each network and values of each layer's output for a batch,
    within GENKIT_MAX_PARAMETERS and GENKIT_MAX_ACTIVATIONS."""
    max_params, max_values = budget("GENKIT_MAX_PARAMETERS"), budget("GENKIT_MAX_ACTIVATIONS")
    batch = spec.data.batch_size
    oversized = {p.path[:3] for p in check_layer_sizes(spec)}  # reported there, not again here
    problems = []
    for role, net in spec.model.networks.items():
        where = ("model", "networks", role)
        if where in oversized:
            continue
        rows = estimate_network(net)
        total = sum(params for _, _, params, _ in rows)
        if total > max_params:
            i, name, params, _ = max(rows, key=lambda row: row[2])
            problems.append(
                Problem(
                    where,
                    f"has at least {total:,} parameters (layers[{i}] {name} alone {params:,}), above the budget of "
                    f"{max_params:,} parameters a network.",
                    _raise_hint("GENKIT_MAX_PARAMETERS"),
                )
            )
        for i, name, _, values in rows:
            if values is not None and values * batch > max_values:
                problems.append(
                    Problem(
                        where + ("layers", i, name),
                        f"outputs {values:,} values an example, {values * batch:,} for a batch of {batch} "
                        f"(data.batch_size), above the budget of {max_values:,} values a layer.",
                        "Use fewer units or filters (or a smaller batch_size), or raise the budget deliberately "
                        f"with GENKIT_MAX_ACTIVATIONS=<number> (default {BUDGETS['GENKIT_MAX_ACTIVATIONS'][0]:,}).",
                    )
                )
                break  # the first layer over the budget: the ones after it follow from it
    return problems
