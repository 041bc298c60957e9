"""Make one layer from a spec entry, and call it, turning Keras's complaints into `Problem`s.

Both network forms (layer lists and graphs) go through `make_layer` and `call_layer`, so a
typo'd keyword or a shape mismatch reads the same wherever it was written: the spec path,
what Keras said, and — for an unknown keyword — the constructor's closest parameter names.
"""

from __future__ import annotations

import inspect
import re

import keras

from genkit.errors import Problem, SpecError, did_you_mean
from genkit.nets.registry import get_layer_class
from genkit.nets.user_blocks import make_user_block, written_use

__all__ = ["LayerNamer", "call_layer", "describe_shape", "keras_message", "make_layer"]

# Keyword arguments Keras accepts on every layer but that would fight the builder, which
# makes the inputs itself from the network's `input`/`inputs`.
_INPUT_KEYWORDS = ("input_shape", "batch_input_shape", "batch_size")  # not input_dim: Embedding needs it


def make_layer(layer_name, kwargs, path, name, *, name_path=None, blocks=None, active_blocks=()):
    """Construct the layer `layer_name(**kwargs)` named `name`.

    Args:
        layer_name: registry name written in the spec, e.g. `"Conv2D"`.
        kwargs: the keyword arguments from the spec (a mapping or None).
        path: spec path of the layer entry; keyword problems point below it.
        name: the Keras layer name to give it (unique inside its model).
        name_path: spec path of `layer_name` itself, for an unknown name; default `path`.
        blocks: the spec's YAML blocks (name -> BlockSpec); a use of one becomes a UserBlock.
        active_blocks: blocks being built around this layer (cycle detection).

    Returns:
        `(layer, problems)`: the layer, or None with the problems that prevented it.
    """
    path = tuple(path)
    if blocks and layer_name in blocks:
        if kwargs is not None and not isinstance(kwargs, dict):
            return None, [Problem(path, f"the parameters of block {layer_name} must be a mapping; got {kwargs!r}.", "")]
        return make_user_block(layer_name, blocks[layer_name], kwargs, path, name, blocks, active_blocks)
    try:
        cls = get_layer_class(layer_name, path if name_path is None else name_path)
    except SpecError as err:
        return None, list(err.problems)
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        return None, [
            Problem(
                path,
                f"the keyword arguments of {layer_name} must be a mapping; got {_kind(kwargs)} {kwargs!r}.",
                f"Write e.g. `{layer_name}: {{{_example_keyword(cls)}: ...}}` (or `{layer_name}: {{}}` for none).",
            )
        ]
    problems = [
        Problem(
            path + (key,),
            f"'{key}' is not accepted here: the network's inputs are declared once, not per layer.",
            "Set the network's 'input' (or 'inputs' for a graph) instead.",
        )
        for key in kwargs
        if key in _INPUT_KEYWORDS
    ]
    if problems:
        return None, problems
    kwargs = {key: _tuples(value) for key, value in kwargs.items()}
    kwargs.setdefault("name", name)
    try:
        return cls(**kwargs), []
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as err:  # Keras's own checks vary
        return None, _explain_construction(cls, layer_name, kwargs, path, err)


def call_layer(layer, inputs, path, *, label):
    """Call `layer` on `inputs` (a tensor or list of tensors) while building a model.

    Args:
        layer: a constructed layer.
        inputs: a KerasTensor or a list of them.
        path: spec path of the layer entry.
        label: how to name the layer in the message, e.g. "Conv2D" or "node 'd1' (ResBlock)".

    Returns:
        `(output, problem)`: the output tensor(s), or None and the problem.
    """
    try:
        return layer(inputs), None
    except (TypeError, ValueError, IndexError, NotImplementedError, AttributeError, KeyError) as err:
        return None, Problem(
            tuple(path),
            f"{label} cannot take its input of shape {describe_shape(inputs)}: {keras_message(err)}",
            "Check the layer's arguments against the shape it receives from above.",
        )


class LayerNamer:
    """Deterministic, readable, unique layer names inside one model.

    Keras's own default names (`conv2d_17`) depend on how many layers the process has made
    before, so the same spec would name its weights differently in a test and in a run.
    This gives `conv2d`, `conv2d_1`, ... counted per model, skipping names already taken.
    """

    def __init__(self, taken=()):
        self.taken = set(taken)

    def reserve(self, name: str) -> None:
        self.taken.add(name)

    def unique(self, base: str) -> str:
        name, n = base, 0
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name

    def for_class(self, layer_name: str) -> str:
        return self.unique(_snake_case(layer_name))


def describe_shape(tensors) -> str:
    """'(None, 7, 7, 64)' for a tensor, '[(None, 8), (None, 4)]' for a list."""
    if isinstance(tensors, (list, tuple)):
        return "[" + ", ".join(describe_shape(t) for t in tensors) + "]"
    return str(tuple(tensors.shape))


def keras_message(err: Exception) -> str:
    """Keras's message on one line, without its terminal colours and argument dumps."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    text = text.split("Arguments received by", 1)[0]
    text = re.sub(r"Exception encountered when calling [\w.]+\(\)\.", "", text)
    text = " ".join(text.split()) or type(err).__name__
    return text if text.endswith((".", "?", "!")) else text + "."


# --------------------------------------------------------------------------- helpers
def _explain_construction(cls, layer_name, kwargs, path, err):
    """Problems for a failed `cls(**kwargs)`, as precise as Keras's message allows."""
    accepted = accepted_keywords(cls)
    given = [key for key in kwargs if key != "name"]
    unknown = [key for key in given if key not in accepted]
    if unknown:
        # An unknown keyword is usually a typo of a real one (`filter` for `filters`), and
        # Python then also reports the real one as missing: name the typo, not the symptom.
        return [
            Problem(
                path + (key,),
                f"{layer_name} has no keyword argument {key!r}.",
                did_you_mean(key, accepted) or f"Its keyword arguments are: {', '.join(sorted(accepted))}.",
            )
            for key in unknown
        ]
    missing = [
        p.name
        for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in kwargs
    ]
    if missing:
        return [
            Problem(
                path,
                f"{layer_name} needs the keyword argument{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(m) for m in missing)}.",
                f"Add {'them' if len(missing) > 1 else 'it'} here: {written_use(layer_name, missing, path)}.",
            )
        ]
    if isinstance(err, TypeError):
        # A count given as text ('filters: abc') fails a comparison deep in Keras
        # ("'<=' not supported between instances of 'str' and 'int'"): name the argument.
        counts = [key for key in given if key in _COUNT_KEYWORDS and (not isinstance(kwargs[key], int) or isinstance(kwargs[key], bool))]
        if counts:
            return [Problem(path + (key,), f"got {kwargs[key]!r}; expected an integer.", "") for key in counts]
    message = keras_message(err)
    named = [key for key in given if re.search(rf"\b{re.escape(key)}\b", message)]
    if len(named) != 1:
        return [Problem(path, f"{layer_name} refused its arguments: {message}", "")]
    key = named[0]
    hint = ""
    if key == "activation" and isinstance(kwargs[key], str):
        hint = did_you_mean(kwargs[key], _activation_names())
    return [Problem(path + (key,), f"{layer_name} refused its arguments: {message}", hint)]


# Keyword arguments that are counts (integers) in every layer that takes them.
_COUNT_KEYWORDS = ("units", "filters", "latent_dim", "embedding_dim", "num_classes", "output_dim", "input_dim", "num_heads", "key_dim", "groups")


def accepted_keywords(cls) -> list:
    """Keyword arguments the constructor of `cls` accepts, following `**kwargs` up the bases."""
    names = []
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = list(inspect.signature(klass.__init__).parameters.values())[1:]
        names += [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if klass is keras.layers.Layer or not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return sorted(set(names) - set(_INPUT_KEYWORDS))


def _activation_names() -> list:
    skip = {"get", "serialize", "deserialize"}
    return [n for n in dir(keras.activations) if not n.startswith("_") and n not in skip]


def _tuples(value):
    """YAML lists as tuples, recursively: Keras wants tuples for shapes and kernel sizes."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _snake_case(name: str) -> str:
    # The same rule Keras uses for its default names: Conv2DTranspose -> conv2d_transpose.
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _example_keyword(cls) -> str:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    named = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return named[0] if named else "name"


def _kind(value) -> str:
    return {str: "a string", int: "a number", float: "a number", list: "a list", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )
