"""The `npz` source: your own arrays in one NumPy `.npz` file.

The file holds the images under `data.x_key` and, optionally, integer labels under
`data.y_key`. If it also holds `x_test` (and `y_test`), those are the test split;
otherwise every tenth example of each class (of the file, when unlabelled) is held out
as test — see `splits.holdout`.

Images are (N, H, W), (N, H, W, C) or flat (N, D) vectors (kept flat), stored as 8-bit
counts 0-255 (uint8, or any integer type within that range) or as floats already in
[0, 1].

Example, writing a file this source reads:

    np.savez("digits.npz", x=images_uint8, y=labels)   # data: {source: npz, path: digits.npz}
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from genkit.data.readers import READ_ERRORS
from genkit.data.source import RawData, data_error, existing_path, register_source
from genkit.data.splits import holdout
from genkit.errors import GenkitError, did_you_mean

__all__ = ["npz"]

HOLDOUT_EVERY = 10  # one example in ten is test when the file has no x_test


@register_source("npz")
def npz(data) -> RawData:
    path = existing_path(data.path, "npz", "file")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}
    except READ_ERRORS as error:
        raise data_error("path", f"{data.path!r} is not a readable .npz file ({error}).") from None
    if data.x_key not in arrays:
        raise data_error(
            "x_key",
            f"{path.name} has no array {data.x_key!r}; it holds {', '.join(sorted(arrays))}. "
            f"{did_you_mean(data.x_key, arrays)}"
        )
    x = _images(arrays[data.x_key], f"data.x_key ({data.x_key!r} in {path.name})")
    y = _labels(arrays, data.y_key, len(x), path.name)
    origin = f"npz file {path} (images {data.x_key!r}, {_label_note(data.y_key, y)})"

    if "x_test" in arrays and data.x_key != "x_test":
        x_test = _images(arrays["x_test"], f"'x_test' in {path.name}")
        if x_test.shape[1:] != x.shape[1:]:
            raise data_error(
                "path",
                f"in {path.name}, 'x_test' has images of shape {x_test.shape[1:]} but "
                f"{data.x_key!r} has {x.shape[1:]}."
            )
        y_test = _labels(arrays, "y_test", len(x_test), path.name) if y is not None else None
        if y is not None and y_test is None:
            origin = f"npz file {path} (images {data.x_key!r}, labels {data.y_key!r} but no 'y_test')"
            y = None  # labels in one split only are no labels
        return RawData(x, y, x_test, y_test, origin=origin)

    train, test = holdout(y if y is not None else np.zeros(len(x)), every=HOLDOUT_EVERY)
    if len(train) == 0:
        raise data_error("path", f"{path.name} holds {len(x)} image(s); at least 2 are needed.")
    return RawData(
        x[train], None if y is None else y[train], x[test], None if y is None else y[test], origin=origin
    )


def _images(x: np.ndarray, where: str) -> np.ndarray:
    """`x` checked to be images or vectors of 0-255 counts or [0, 1] floats (counts become uint8)."""
    if x.ndim not in (2, 3, 4) or len(x) == 0:
        raise GenkitError(
            f"{where}: got an array of shape {x.shape}; expected (N, H, W), (N, H, W, C) or flat (N, D) "
            "with N >= 1."
        )
    if np.issubdtype(x.dtype, np.integer):
        if x.min() < 0 or x.max() > 255:
            raise GenkitError(
                f"{where}: integer values span {x.min()}..{x.max()}; expected 8-bit counts 0-255."
            )
        return x.astype(np.uint8, copy=False)
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 1.0:
            raise GenkitError(
                f"{where}: float values span [{np.nanmin(x):g}, {np.nanmax(x):g}]; expected [0, 1] "
                "(or uint8 counts 0-255). Rescale the array before saving it."
            )
        return x
    raise GenkitError(f"{where}: got dtype {x.dtype}; expected uint8 counts or floats in [0, 1].")


def _labels(arrays: dict, key: Optional[str], n: int, name: str) -> Optional[np.ndarray]:
    """Integer labels under `key`, or None when `key` is null or absent."""
    if key is None or key not in arrays:
        return None
    y = arrays[key]
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]  # (N, 1), as keras.datasets.cifar10 stores labels
    field = "y_key" if key != "y_test" else "path"
    if y.shape != (n,):
        raise data_error(field, f"{key!r} in {name} has shape {y.shape}; expected ({n},), one integer per image.")
    # Labels saved through pandas or lists often arrive as floats; whole numbers are fine.
    whole = np.issubdtype(y.dtype, np.integer) or (
        np.issubdtype(y.dtype, np.floating) and bool((y == np.round(y)).all())
    )
    if not whole or y.min() < 0:
        raise data_error(field, f"{key!r} in {name} must hold class numbers 0, 1, 2, ...; got {y[:5]}...")
    return y.astype(np.int64)


def _label_note(key: Optional[str], y: Optional[np.ndarray]) -> str:
    if key is None:
        return "no labels: data.y_key is null"
    return f"labels {key!r}" if y is not None else f"no labels: no array {key!r}"
