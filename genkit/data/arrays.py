"""Array helpers every source shares: checking images and labels, scaling counts to the data range."""

from __future__ import annotations

import numpy as np

from genkit.data.source import data_error
from genkit.errors import GenkitError

__all__ = ["checked_images", "checked_labels", "limited_test_size", "scaled"]


def limited_test_size(limit: int) -> int:
    """Test examples kept when `data.limit` is `limit`: max(100, limit // 4)."""
    return max(100, limit // 4)


def scaled(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """float32 copy of `x` in [low, high], with a channel axis on (N, H, W) images.

    Integer data are 8-bit counts (0..255 -> [0, 1]); float data are already in [0, 1].
    """
    out = x.astype(np.float32)  # a copy, so the in-place steps below leave `x` alone
    if np.issubdtype(x.dtype, np.integer):
        out /= 255.0
    if (low, high) != (0.0, 1.0):
        out *= high - low  # [0, 1] -> [low, high]; for [-1, 1] this is x / 127.5 - 1
        out += low
    return out[..., None] if out.ndim == 3 else out  # (N, H, W) -> (N, H, W, 1)


def checked_images(x: np.ndarray, where: str) -> np.ndarray:
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


def checked_labels(arrays: dict, key: str | None, n: int, name: str) -> np.ndarray | None:
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
