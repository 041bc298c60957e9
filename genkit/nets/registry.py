"""The names a spec may use for layers: every public `keras.layers` class plus genkit blocks.

A spec names a layer by its class name (`Conv2D`, `GroupNormalization`, `Sampling`), and the
builder looks the name up here. The lookup is a dictionary read and nothing else: user text
is never evaluated, imported or resolved through Keras's own deserialisation, so a spec can
only reach the classes listed by `list_layers()`.

genkit blocks join with `register_block`, which refuses a class that could not be saved in a
`.keras` file and loaded back — a network that trains but cannot be reloaded is worse than
one that fails at import.

Custom layers of other packages join through the entry-point group `genkit.layers` and
nothing else (no spec text is ever imported): a package declares, in its pyproject.toml,

```toml
[project.entry-points."genkit.layers"]
PixelNorm = "mypkg.layers:PixelNorm"
```

and the class must be registered with `keras.saving.register_keras_serializable`.

Example:

```python
from genkit.nets.registry import get_layer_class, list_layers

get_layer_class("Conv2D")        # keras.layers.Conv2D
get_layer_class("Conv2d")        # SpecError: ... Did you mean 'Conv2D'?
"GroupNormalization" in list_layers()
```
"""

from __future__ import annotations

import inspect

import keras

from genkit.errors import Problem, SpecError, did_you_mean

__all__ = ["get_layer_class", "is_block", "list_blocks", "list_layers", "register_block"]

# Public keras.layers classes a spec cannot usefully or safely name: the abstract bases,
# the input layer (the builder makes inputs from `input`/`inputs`), layers that run
# arbitrary Python (`Lambda`) and wrappers of foreign objects or files on disk.
_EXCLUDED_KERAS = frozenset(
    {
        "FlaxLayer",
        "InputLayer",
        "JaxLayer",
        "Lambda",
        "Layer",
        "TFSMLayer",
        "TorchModuleWrapper",
        "Wrapper",
    }
)

_GENKIT_PACKAGE = "genkit"


def _keras_layers() -> dict:
    """Every public Layer class of `keras.layers`, by its public name (aliases included)."""
    found = {}
    for name in dir(keras.layers):
        obj = getattr(keras.layers, name)
        if (
            not name.startswith("_")
            and name not in _EXCLUDED_KERAS
            and inspect.isclass(obj)
            and issubclass(obj, keras.layers.Layer)
        ):
            found[name] = obj
    return found


_KERAS = _keras_layers()
_BLOCKS: dict = {}
_PLUGINS: dict = {}
_PLUGIN_GROUP = "genkit.layers"
_plugins_loaded = False


def _load_plugins() -> None:
    """Register the layer classes other installed packages offer under `genkit.layers`."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    from genkit.errors import GenkitError

    for point in entry_points(group=_PLUGIN_GROUP):
        try:
            cls = point.load()
        except Exception as err:  # a broken plugin is the plugin author's error, reported as such
            raise GenkitError(f"the layer plugin {point.name!r} ({point.value}) failed to import: {err}") from None
        if not (inspect.isclass(cls) and issubclass(cls, keras.layers.Layer)):
            raise GenkitError(f"the layer plugin {point.name!r} ({point.value}) is not a keras.layers.Layer subclass.")
        registered = keras.saving.get_registered_name(cls)
        if keras.saving.get_registered_object(registered) is not cls:
            raise GenkitError(
                f"the layer plugin {point.name!r} ({point.value}) is not registered with "
                "keras.saving.register_keras_serializable, so models using it could not be loaded again."
            )
        if point.name in _KERAS or point.name in _BLOCKS:
            raise GenkitError(f"the layer plugin {point.name!r} ({point.value}) takes a name genkit already uses.")
        _PLUGINS[point.name] = cls


def register_block(cls):
    """Class decorator: let specs name the genkit block `cls` by its class name.

    Apply it on top of `keras.saving.register_keras_serializable(package="genkit")`, so the
    class is already registered with Keras when this check runs:

    ```python
    @register_block
    @keras.saving.register_keras_serializable(package="genkit")
    class Sampling(keras.layers.Layer):
        ...
    ```

    Args:
        cls: a `keras.layers.Layer` subclass.

    Returns:
        `cls`, unchanged.

    Raises:
        TypeError: `cls` is not a Layer, is not registered as serialisable under the
            "genkit" package, has constructor arguments but no `get_config` of its own,
            or its name is already taken by a Keras layer or another block.
    """
    if not (inspect.isclass(cls) and issubclass(cls, keras.layers.Layer)):
        raise TypeError(f"register_block expects a keras.layers.Layer subclass; got {cls!r}.")
    name = cls.__name__
    expected = f"{_GENKIT_PACKAGE}>{name}"
    if keras.saving.get_registered_name(cls) != expected or keras.saving.get_registered_object(expected) is not cls:
        raise TypeError(
            f"{name} is not registered as serialisable under the '{_GENKIT_PACKAGE}' package, so a saved "
            f"model using it could not be loaded. Decorate it with "
            f'@keras.saving.register_keras_serializable(package="{_GENKIT_PACKAGE}") below @register_block.'
        )
    if _own_init_arguments(cls) and cls.get_config is keras.layers.Layer.get_config:
        raise TypeError(
            f"{name} takes constructor arguments {_own_init_arguments(cls)} but does not define get_config(); "
            "return exactly those arguments (plus super().get_config()) so it round-trips."
        )
    if name in _KERAS or (name in _BLOCKS and _BLOCKS[name] is not cls):
        raise TypeError(f"the layer name {name!r} is already taken; give the block another class name.")
    _BLOCKS[name] = cls
    return cls


def _own_init_arguments(cls) -> list:
    """Constructor parameters of `cls` beyond those every Layer accepts."""
    base = set(inspect.signature(keras.layers.Layer.__init__).parameters)
    return [
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name not in base and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def get_layer_class(name, path=()) -> type:
    """The layer class a spec means by `name`.

    Args:
        name: the layer name as written in the spec, e.g. `"Conv2D"`.
        path: the spec field path of that name, used in the error.

    Returns:
        The `keras.layers.Layer` subclass.

    Raises:
        SpecError: `name` is not a registered layer; the message offers the closest names.
    """
    path = tuple(path)
    _load_plugins()
    if isinstance(name, str):
        if name in _PLUGINS:
            return _PLUGINS[name]
        if name in _BLOCKS:
            return _BLOCKS[name]
        if name in _KERAS:
            return _KERAS[name]
    names = list_layers()
    # A case slip (`Conv2d`) is the most common miss; name the exact match alone.
    same_case = [n for n in names if n.lower() == str(name).lower()]
    hint = f"Did you mean {same_case[0]!r}?" if same_case else did_you_mean(str(name), names)
    if not hint:
        hint = "Run `genkit layers` to list the names a spec may use."
    raise SpecError([Problem(path, f"unknown layer {name!r}.", hint)])


def list_layers() -> list:
    """Every layer name a spec may use (Keras layers, genkit blocks, plugins), sorted."""
    _load_plugins()
    return sorted({*_KERAS, *_BLOCKS, *_PLUGINS})


def list_blocks() -> list:
    """The names of the genkit blocks, sorted."""
    return sorted(_BLOCKS)


def is_block(name: str) -> bool:
    """True when `name` is a genkit block rather than a Keras layer."""
    return name in _BLOCKS
