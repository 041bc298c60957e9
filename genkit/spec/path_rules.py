"""Paths a spec names, for the one path policy of `genkit.spec.loader`.

Every path a spec file names must resolve inside the project (working) folder unless the
person running genkit allows otherwise (--allow-outside-paths or GENKIT_ALLOW_OUTSIDE_PATHS=1):
the fields in `PATH_FIELDS`, `extends:`, and layer arguments that Keras reads as a file
(`PATH_ARGUMENTS`, e.g. the `vocabulary` of TextVectorization or StringLookup given as a
file name, or the `filepath` of TFSMLayer). This module finds the layer arguments in the
raw (not yet validated) spec mapping, networks and blocks alike, so an outside file is
refused before anything reads it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PATH_ARGUMENTS", "PATH_FIELDS", "is_inside", "layer_path_arguments"]

# Fields holding paths: written in a spec file, they must stay inside the project folder.
PATH_FIELDS = (
    ("data", "path"),
    ("data", "val_path"),
    ("data", "test_path"),
    ("evaluate", "feature_extractor"),
    ("runs_dir",),
    ("export", "dir"),
    ("first_stage", "export"),
)

# Layer keyword arguments that a layer reads as a file when given a string.
PATH_ARGUMENTS = ("vocabulary", "filepath", "file_path", "filename", "path")

# Keys of a graph node that are not the layer's arguments.
_NODE_KEYS = ("id", "layer", "from")


def is_inside(target, root: Path) -> bool:
    """Whether `target` (relative paths taken from `root`) resolves inside `root`."""
    resolved = (root / Path(target).expanduser()).resolve()
    return resolved == root or root in resolved.parents


def _layers(body: dict, prefix: tuple):
    """(field path, layer name, keyword arguments) of each layer in a network or block body."""
    for i, item in enumerate(body.get("layers") or [] if isinstance(body.get("layers"), list) else []):
        if isinstance(item, dict) and len(item) == 1:
            ((name, kwargs),) = item.items()
            if isinstance(kwargs, dict):
                yield prefix + ("layers", i, name), name, kwargs
    for i, node in enumerate(body.get("graph") or [] if isinstance(body.get("graph"), list) else []):
        if isinstance(node, dict):
            yield prefix + ("graph", i), node.get("layer"), {k: v for k, v in node.items() if k not in _NODE_KEYS}


def _bodies(data: dict):
    """(field path, body mapping) of every network and block written in a raw spec mapping."""
    model = data.get("model")
    networks = model.get("networks") if isinstance(model, dict) else None
    for role, net in (networks.items() if isinstance(networks, dict) else ()):
        if isinstance(net, dict):
            yield ("model", "networks", role), net
    blocks = data.get("blocks")
    for name, block in (blocks.items() if isinstance(blocks, dict) else ()):
        if isinstance(block, dict):
            yield ("blocks", name), block


def layer_path_arguments(data: dict) -> list:
    """(field path, value) of every layer argument in `data` that a layer would read as a file.

    A block whose body passes its parameter `$p` to such an argument makes `p` a path too:
    the parameter's default and every use of the block that gives `p` are listed.
    """
    blocks = data.get("blocks") if isinstance(data.get("blocks"), dict) else {}
    path_params: dict = {}  # block name -> names of its parameters that reach a path argument
    found = []
    layers = [entry for prefix, body in _bodies(data) for entry in _layers(body, prefix)]
    for field_path, _, kwargs in layers:
        for key in PATH_ARGUMENTS:
            value = kwargs.get(key)
            if not isinstance(value, str):
                continue
            if value.startswith("$"):
                if field_path[0] == "blocks":
                    path_params.setdefault(field_path[1], set()).add(value[1:])
                continue
            found.append((field_path + (key,), value))
    for name, params in path_params.items():
        block = blocks.get(name)
        defaults = block.get("params") if isinstance(block, dict) else None
        for param in sorted(params):
            if isinstance(defaults, dict) and isinstance(defaults.get(param), str):
                found.append((("blocks", name, "params", param), defaults[param]))
        for field_path, layer, kwargs in layers:
            for param in sorted(params):
                if layer == name and isinstance(kwargs.get(param), str) and not kwargs[param].startswith("$"):
                    found.append((field_path + (param,), kwargs[param]))
    return found
