"""Each image's reconstruction error through an export (its anomaly score) — NumPy and onnxruntime only.

`sampler` below is a `genkit.runtime.Sampler` (not imported: `Sampler.score` calls this module).

An autoencoder trained on normal data only reconstructs normal images well; an image
unlike the training data comes back blurred toward something it has seen, so its
reconstruction error is larger. The score of an image is that error, one number per image.

Reference: Sakurada & Yairi, "Anomaly detection using autoencoders with nonlinear
dimensionality reduction", MLSDA 2014.

Example:
    scores = reconstruction_errors(Sampler("exports/anomaly_mnist"), x_test)   # (N,) float64
"""

from __future__ import annotations

import numpy as np

from genkit.errors import GenkitError, closest

__all__ = ["METRICS", "check_images", "check_metric", "reconstruction_errors", "require_reconstruction"]

METRICS = ("mse", "bce")
_BCE_EPSILON = 1e-7  # Keras's backend epsilon: log(0) guard on the reconstruction


def reconstruction_errors(sampler, x, y=None, *, metric: str = "mse", batch_size: int = 256) -> np.ndarray:
    """Per-image error of `x` against `sampler.reconstruct(x, y)`, shape `(N,)`, float64.

    Both the images and their reconstructions are first mapped from the export's value
    range to [0, 1], so a score means the same for [0, 1] and [-1, 1] exports:

    - `mse`: mean over pixels of (x - x_hat)^2, in [0, 1];
    - `bce`: mean over pixels of -(x log x_hat + (1 - x) log(1 - x_hat)), x_hat clipped
      to [1e-7, 1 - 1e-7]. Its minimum is the image's own entropy (zero only for binary
      pixels), so compare bce scores with each other, not with zero.

    The mean (not the training loss's sum) over pixels makes scores comparable across
    image sizes. `x` is `(N, H, W, C)` (or `(N, H, W)` for one channel) in the export's
    value range, or uint8 0..255, scaled as genkit.data scales training images. `y` is
    needed only by conditional exports (one label per image).

    Raises GenkitError when the export cannot reconstruct (no encoder or no decoder), the
    images do not have the export's shape, or they hold values outside its range.
    """
    check_metric(metric)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise GenkitError(f"batch_size must be a positive integer; got {batch_size!r}.")
    require_reconstruction(sampler)
    x = check_images(sampler, x)
    low, high = sampler.value_range
    scores = np.empty(len(x), dtype=np.float64)
    # Chunked here as well as inside the sampler, so the float64 copies stay small.
    for start in range(0, len(x), batch_size):
        part = slice(start, start + batch_size)
        x_hat = sampler.reconstruct(x[part], None if y is None else np.asarray(y)[part], batch_size=batch_size)
        target = (x[part].astype(np.float64) - low) / (high - low)  # (B, H, W, C) in [0, 1]
        output = (x_hat.astype(np.float64) - low) / (high - low)
        scores[part] = _pixel_error(target, output, metric).reshape(len(target), -1).mean(axis=1)
    return scores


def _pixel_error(target: np.ndarray, output: np.ndarray, metric: str) -> np.ndarray:
    if metric == "mse":
        return (target - output) ** 2
    output = np.clip(output, _BCE_EPSILON, 1.0 - _BCE_EPSILON)
    return -(target * np.log(output) + (1.0 - target) * np.log1p(-output))


# --------------------------------------------------------------------------- input checks
def check_metric(metric) -> None:
    """Raise unless `metric` is one of `METRICS`, suggesting the closest."""
    if metric not in METRICS:
        near = closest(metric, METRICS)
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise GenkitError(f"metric (--metric): got {metric!r}; expected one of {', '.join(METRICS)}.{hint}")


def require_reconstruction(sampler) -> None:
    """Raise unless the export has both an encoder and a decoder (and is not a diffusion export)."""
    missing = [section for section in ("encoding", "sampling") if sampler.manifest.get(section) is None]
    if missing or sampler.is_diffusion:
        why = "it is a diffusion export" if sampler.is_diffusion else f"its manifest has {missing[0]}: null"
        raise GenkitError(
            f"{sampler.export_dir} ({sampler.name}, {sampler.family}) cannot reconstruct images: {why}. "
            "Anomaly scores need both the encoder and the decoder: re-export with both networks "
            "(leave export.onnx.networks unset, or list encoder and decoder)."
        )


def check_images(sampler, x, origin: str = "images") -> np.ndarray:
    """`x` as float32 images of the export's shape and range (uint8 0..255 scaled as genkit.data does)."""
    x = np.asarray(x)
    given = x.shape
    if x.ndim == 3 and sampler.image_shape[-1] == 1:
        x = x[..., None]  # (N, H, W) -> (N, H, W, 1)
    if x.ndim != 4 or x.shape[1:] != sampler.image_shape or len(x) == 0:
        raise GenkitError(
            f"{origin}: got shape {given}; {sampler.name} reads images of shape "
            f"(N, {', '.join(map(str, sampler.image_shape))}) with N > 0, as it was trained on."
        )
    if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
        raise GenkitError(
            f"{origin}: got {x.dtype} values; expected uint8 pixels (0..255) or floats in "
            f"[{sampler.value_range[0]:g}, {sampler.value_range[1]:g}]."
        )
    low, high = sampler.value_range
    if x.dtype == np.uint8:
        return (x.astype(np.float32) / 255.0 * (high - low) + low).astype(np.float32)  # as genkit.data scales
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise GenkitError(f"{origin}: {int((~np.isfinite(x)).sum())} pixel value(s) are NaN or infinite.")
    slack = 1e-4 * (high - low)  # float rounding of an image saved in the range
    if x.min() < low - slack or x.max() > high + slack:
        raise GenkitError(
            f"{origin}: values span [{x.min():g}, {x.max():g}]; {sampler.name} reads [{low:g}, {high:g}]. "
            f"Scale the images to [{low:g}, {high:g}] as for training, or save them as uint8 0..255."
        )
    return np.clip(x, low, high)
