"""What a data source is: a named function from a `DataSpec` to the arrays it found.

A source only finds and reads data. It returns the train and test images as stored
(uint8 counts 0-255, or floats already in [0, 1]) with their integer labels, plus a
sentence saying where they came from. Everything after that — `limit`, the validation
split, the value range, the channel axis — is `load_data`'s job, so every source gets
it the same way.

Example:

    @register_source("mnist")
    def mnist(data: DataSpec) -> RawData:
        ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genkit.data.factors import FactorSpace
from genkit.errors import Problem, SpecError, did_you_mean

__all__ = ["SOURCES", "RawData", "data_error", "existing_path", "get_source", "register_source"]


@dataclass(frozen=True)
class RawData:
    """Images and labels as a source found them, before genkit splits and rescales them.

    `x_*` are (N, H, W), (N, H, W, C) or flat (N, D) arrays of uint8 counts or of floats in
    [0, 1]; `y_*` are (N,) or (N, 1) non-negative integer labels, or None when the source
    has none (both splits have labels, or neither does). A source that knows the factors
    each image was made from (`shapes`) returns them as (N, F) int32 value indices in
    `factors_*`, described by `factor_space` (see `genkit.data.factors`); others leave them None.
    """

    x_train: np.ndarray
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    origin: str  # where the arrays really came from, for `Dataset.describe()`
    factors_train: np.ndarray | None = None
    factors_test: np.ndarray | None = None
    factor_space: FactorSpace | None = None


SourceFn = Callable[..., RawData]

SOURCES: dict[str, SourceFn] = {}


def register_source(name: str):
    """Decorator: make `fn(data_spec) -> RawData` the loader of `data.source: name`."""

    def register(fn: SourceFn) -> SourceFn:
        if name in SOURCES:
            raise ValueError(f"data source {name!r} is registered twice")
        SOURCES[name] = fn
        return fn

    return register


def data_error(field: str, message: str) -> SpecError:
    """The error for a problem with the spec's `data.<field>`, to raise where it is found.

    A SpecError whose one Problem carries the field path ("data", field) as data, so the
    CLI can point at the spec line that set it; its text reads `data.<field>: <message>`.
    """
    return SpecError([Problem(("data", field), message)])


def get_source(name: str) -> SourceFn:
    try:
        return SOURCES[name]
    except KeyError:
        raise data_error("source", f"got {name!r}. {did_you_mean(name, SOURCES)}") from None


def existing_path(path: str | None, source: str, kind: str) -> Path:
    """`data.path` as a Path that exists and is a `kind` ("file" or "folder"), else a SpecError on it."""
    what = "a .npz file" if kind == "file" else "a folder with one sub-folder of images per class"
    if not path:
        raise data_error("path", f"the {source} source reads {what}, but data.path is not set.")
    found = Path(path).expanduser()
    if not found.exists():
        raise data_error(
            "path",
            f"{path!r} does not exist. Give the path of {what} "
            "(a relative data.path in a spec file is read from that file's folder)."
        )
    if (kind == "file") != found.is_file():
        raise data_error("path", f"{path!r} is not {what}.")
    return found
