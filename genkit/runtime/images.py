"""Write generated images: PNG grids (optionally with a label per row) and `.npz` arrays.

Pillow and NumPy only. Every write is atomic (temporary file + `os.replace`), so a viewer or
a script polling the file never reads half a PNG.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from genkit.errors import GenkitError
from genkit.atomic import atomic_write_bytes  # standard library only; no TensorFlow

__all__ = ["INPUT_SUFFIXES", "OUTPUT_SUFFIXES", "check_output_path", "read_images", "save_grid", "save_samples"]

OUTPUT_SUFFIXES = (".png", ".npz")
INPUT_SUFFIXES = (".png", ".jpg", ".jpeg")
_PAD = 1  # pixels between cells, before scaling
_BACKGROUND = 255  # white padding separates the (often dark) cells
_INK = 0
_MAX_LABELLED_COLUMNS = 16


def save_grid(
    images,
    path: str | Path,
    *,
    nrow: int | None = None,
    row_labels=None,
    value_range=(0.0, 1.0),
    scale: int = 2,
) -> Path:
    """Save images `(N, H, W, C)` (C = 1 or 3) or `(N, H, W)` as one PNG grid.

    Args:
        images: pixel values in `value_range`; a cell that is all NaN is left blank.
        path: the PNG file to write (parent folders are created).
        nrow: images per row, as in torchvision's `make_grid`; default `ceil(sqrt(N))`.
        row_labels: one string per grid row, drawn at the left with Pillow's default font.
        value_range: `(low, high)` mapped to black..white.
        scale: integer magnification (nearest neighbour), so 28x28 digits stay legible.

    Example:
        save_grid(x, "grid.png", nrow=8, row_labels=[str(k) for k in range(10)])
    """
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[..., None]  # (N, H, W) -> (N, H, W, 1)
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3) or arr.shape[0] == 0:
        raise GenkitError(f"save_grid expects images of shape (N, H, W, 1|3) with N > 0; got {arr.shape}.")
    n, h, w, c = arr.shape
    ncol = int(nrow) if nrow else math.ceil(math.sqrt(n))
    if ncol < 1:
        raise GenkitError(f"save_grid: nrow must be at least 1; got {nrow}.")
    rows = math.ceil(n / ncol)
    if row_labels is not None and len(row_labels) != rows:
        raise GenkitError(f"save_grid: {len(row_labels)} row labels for a grid of {rows} rows.")

    low, high = (float(v) for v in value_range)
    pixels = np.clip((arr - low) / (high - low), 0.0, 1.0)
    pixels = np.nan_to_num(pixels, nan=_BACKGROUND / 255.0)
    pixels = np.round(pixels * 255.0).astype(np.uint8)
    canvas = np.full((rows * (h + _PAD) + _PAD, ncol * (w + _PAD) + _PAD, c), _BACKGROUND, np.uint8)
    for i in range(n):
        r, k = divmod(i, ncol)
        top, left = _PAD + r * (h + _PAD), _PAD + k * (w + _PAD)
        canvas[top : top + h, left : left + w] = pixels[i]

    mode = "L" if c == 1 else "RGB"
    image = Image.fromarray(canvas[..., 0] if c == 1 else canvas, mode)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    if row_labels is not None:
        image = _add_row_labels(image, [str(t) for t in row_labels], top=_PAD * scale, row_height=(h + _PAD) * scale)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return atomic_write_bytes(path, buffer.getvalue())


def save_samples(path: str | Path, x, y=None, *, value_range=(0.0, 1.0)) -> Path:
    """Save samples by the file's suffix.

    `.png`: a grid; with labels `y`, one row per class (in class order, labelled at the
    left; a class with more than 16 samples wraps onto further rows). `.npz`: arrays `x`
    (float32 `(N, H, W, C)`) and, when given, `y` (int32 `(N,)`).
    """
    path = check_output_path(path)
    x = np.asarray(x, dtype=np.float32)
    if path.suffix.lower() == ".npz":
        arrays = {"x": x}
        if y is not None:
            arrays["y"] = np.asarray(y, dtype=np.int32)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return atomic_write_bytes(path, buffer.getvalue())
    if y is None:
        return save_grid(x, path, value_range=value_range)
    cells, labels, ncol = _rows_by_class(x, np.asarray(y))
    return save_grid(cells, path, nrow=ncol, row_labels=labels, value_range=value_range)


def read_images(path: str | Path, shape, value_range=(0.0, 1.0)) -> np.ndarray:
    """Images `(N, *shape)` float32 in `value_range` from an .npz, one PNG/JPEG file or a folder of them.

    `.npz`: the array `x` (or the file's only array), `(N, H, W)` or `(N, H, W, C)`, as 8-bit counts
    0-255 or as floats already in `value_range` (what `genkit sample --out FILE.npz` writes).
    Image files (a folder's are read in name order) are converted to the channels of `shape`
    (grayscale or RGB). Both are resized with bilinear interpolation to its height and width,
    so e.g. 14x14 digits become the 28x28 inputs of a super-resolution model.
    """
    path = Path(path)
    h, w, c = shape
    low, high = (float(v) for v in value_range)
    if not path.exists():
        raise GenkitError(f"--input: {path} does not exist.")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in INPUT_SUFFIXES)
        if not files:
            raise GenkitError(f"--input: folder {path} holds no {'/'.join(INPUT_SUFFIXES)} images.")
    elif path.suffix.lower() == ".npz":
        return _npz_images(path, shape, low, high)
    elif path.suffix.lower() in INPUT_SUFFIXES:
        files = [path]
    else:
        raise GenkitError(f"--input: {path} is not an .npz file, a {'/'.join(INPUT_SUFFIXES)} image or a folder of them.")
    images = []
    for file in files:
        try:
            with Image.open(file) as image:
                image = image.convert("L" if c == 1 else "RGB")
                if image.size != (w, h):
                    image = image.resize((w, h), Image.Resampling.BILINEAR)  # PIL sizes are (w, h)
                images.append(np.asarray(image, np.float32).reshape(h, w, c))
        except OSError as error:
            raise GenkitError(f"--input: cannot read image {file}: {error}") from None
    return np.stack(images) / 255.0 * (high - low) + low


def _resized(x: np.ndarray, shape) -> np.ndarray:
    """(N, H', W', C) float32 images resized bilinearly to `shape`'s height and width, as
    image files are (e.g. 14x14 digits for a 28x28 super-resolution model)."""
    h, w, _ = shape
    if x.shape[1:3] == (h, w):
        return x
    return np.stack(
        [
            np.stack([np.asarray(Image.fromarray(image[..., k], mode="F").resize((w, h), Image.Resampling.BILINEAR)) for k in range(image.shape[-1])], axis=-1)
            for image in x
        ]
    ).astype(np.float32)


def _npz_images(path: Path, shape, low: float, high: float) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as error:
        raise GenkitError(f"--input: {path} is not a readable .npz file ({error}).") from None
    if "x" not in arrays and len(arrays) != 1:
        raise GenkitError(f"--input: {path.name} needs an array named 'x' (it holds {sorted(arrays)}).")
    x = arrays.get("x", next(iter(arrays.values())))
    if x.ndim == len(shape) and shape[-1] == 1:
        x = x[..., None]  # (N, H, W) -> (N, H, W, 1)
    if x.ndim != len(shape) + 1 or x.shape[-1] != shape[-1]:
        raise GenkitError(f"--input: {path.name} holds images of shape {x.shape[1:]}; this export reads {tuple(shape)}.")
    if np.issubdtype(x.dtype, np.integer):
        return _resized(x.astype(np.float32), shape) / 255.0 * (high - low) + low
    x = _resized(x.astype(np.float32), shape)
    if not np.isfinite(x).all() or x.min() < low - 1e-6 or x.max() > high + 1e-6:
        raise GenkitError(
            f"--input: float values of {path.name} span [{np.nanmin(x):g}, {np.nanmax(x):g}]; this export reads "
            f"[{low:g}, {high:g}]. Rescale them, or save 8-bit counts (uint8 0-255)."
        )
    return x


def check_output_path(path: str | Path) -> Path:
    """The output path as a Path, or a GenkitError when its suffix is not .png/.npz."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise GenkitError(
            f"Cannot write samples to '{path}': the file must end in .png (an image grid) "
            f"or .npz (arrays x and y); got suffix '{path.suffix}'."
        )
    return path


def _rows_by_class(x: np.ndarray, y: np.ndarray):
    """Rearrange `x` into class rows; blank cells are NaN (left blank by save_grid)."""
    classes = np.unique(y)
    per_class = [x[y == k] for k in classes]
    ncol = min(max(len(group) for group in per_class), _MAX_LABELLED_COLUMNS)
    cells, labels = [], []
    for k, group in zip(classes, per_class, strict=True):
        nrows = math.ceil(len(group) / ncol)
        block = np.full((nrows * ncol, *x.shape[1:]), np.nan, np.float32)
        block[: len(group)] = group
        cells.append(block)
        labels += [str(int(k))] + [""] * (nrows - 1)
    return np.concatenate(cells), labels, ncol


def _add_row_labels(image: Image.Image, labels: list[str], top: int, row_height: int) -> Image.Image:
    font = _font(size=max(10, min(row_height // 2, 24)))
    measure = ImageDraw.Draw(image)
    widths = [measure.textbbox((0, 0), t, font=font)[2] for t in labels]
    margin = max(widths, default=0) + 8
    out = Image.new(image.mode, (image.width + margin, image.height), _fill(image.mode, _BACKGROUND))
    out.paste(image, (margin, 0))
    draw = ImageDraw.Draw(out)
    for r, text in enumerate(labels):
        if text:
            # Centre from the text's own box: bitmap fonts do not support anchor="lm".
            _, y0, _, y1 = draw.textbbox((0, 0), text, font=font)
            centre = top + r * row_height + (row_height - _PAD) // 2
            draw.text((4, centre - (y0 + y1) // 2), text, fill=_fill(image.mode, _INK), font=font)
    return out


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)  # scalable when Pillow has FreeType
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _fill(mode: str, value: int):
    return value if mode == "L" else (value, value, value)
