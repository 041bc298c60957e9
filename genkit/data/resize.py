"""`data.image_size`: images resized to the size the networks see, with NumPy only.

Bilinear interpolation, antialiased when shrinking: each output pixel is a weighted mean of
the input pixels under a triangle ("tent") filter whose width grows with the shrink factor,
as Pillow's BILINEAR and `tf.image.resize(..., antialias=True)` do. Without that widening a
2x shrink would read only some input pixels and alias thin strokes away. The filter is
separable, so rows and columns are each one matrix product.

Example:

    resize_images(x_uint8, (32, 32))   # (N, 28, 28) -> (N, 32, 32), uint8
"""

from __future__ import annotations

import numpy as np

from genkit.data.source import data_error

__all__ = ["at_size", "resize_images", "resize_weights"]

_CHUNK = 2048  # images resized at once: bounds the float32 working copy


def resize_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) rows of interpolation weights along one axis, each row summing to 1.

    Pixel centres are aligned (output pixel j sits at input position (j + 0.5) * n_in / n_out
    - 0.5); the tent is widened to the shrink factor when n_out < n_in. Near the border the
    weights are renormalised, which for enlarging is the same as repeating the edge pixel.
    """
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale - 0.5
    weights = np.maximum(0.0, 1.0 - np.abs(np.arange(n_in)[None, :] - centres[:, None]) / support)
    return weights / weights.sum(axis=1, keepdims=True)


def resize_images(x: np.ndarray, size) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) images resized to `size` = (height, width).

    uint8 counts stay uint8 (rounded); float images become float32.
    """
    height, width = size
    rows, cols = resize_weights(x.shape[1], height), resize_weights(x.shape[2], width)
    integer = np.issubdtype(x.dtype, np.integer)
    out = np.empty((len(x), height, width, *x.shape[3:]), np.uint8 if integer else np.float32)
    for start in range(0, len(x), _CHUNK):
        part = np.asarray(x[start : start + _CHUNK], np.float32)
        part = np.einsum("oh,nh...->no...", rows.astype(np.float32), part)  # (n, height, W, ...)
        part = np.einsum("pw,now...->nop...", cols.astype(np.float32), part)  # (n, height, width, ...)
        out[start : start + _CHUNK] = np.clip(np.rint(part), 0, 255) if integer else part
    return out


def at_size(x: np.ndarray, image_size, what: str) -> np.ndarray:
    """Images `x` resized to `image_size` (height, width); `x` itself when it is None or already met.

    `what` names the images in the error that flat (N, D) vectors, which have no size, raise.
    """
    if image_size is None:
        return x
    if x.ndim < 3:
        raise data_error(
            "image_size",
            f"{what} holds flat vectors of shape {x.shape[1:]}, not images to resize; remove "
            "data.image_size, or store the images as (N, H, W) or (N, H, W, C)."
        )
    size = tuple(int(n) for n in image_size)
    return x if x.shape[1:3] == size else resize_images(x, size)
