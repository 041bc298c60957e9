"""Write generated images: PNG grids (optionally with a label per row) and `.npz` arrays.

Reading input images (`read_images`, `load_npz`) is `genkit.runtime.input_images`.

Pillow and NumPy only. Every write is atomic (temporary file + `os.replace`), so a viewer or
a script polling the file never reads half a PNG.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from genkit.atomic import atomic_write_bytes  # standard library only; no TensorFlow
from genkit.errors import GenkitError
from genkit.runtime.input_images import read_images  # reading lives there; imported from here too

__all__ = [
    "COMPARED_PER_ROW",
    "MAX_GRID_PIXELS",
    "OUTPUT_SUFFIXES",
    "check_grid_size",
    "check_output_path",
    "compared_rows",
    "read_images",
    "save_compared",
    "save_grid",
    "save_samples",
]

OUTPUT_SUFFIXES = (".png", ".npz")
# Budget, checked before the allocation it bounds.
MAX_GRID_PIXELS = 2**27  # a PNG grid's pixels after scaling (134 M: e.g. 20,000 28x28 digits at scale 2)
_PAD = 1  # pixels between cells, before scaling
_BACKGROUND = 255  # white padding separates the (often dark) cells
_INK = 0
_MAX_LABELLED_COLUMNS = 16
COMPARED_PER_ROW = 8  # images per row of a `save_compared` grid


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

    The grid's size is checked before it is drawn: at most MAX_GRID_PIXELS (134 M) pixels.

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

    check_grid_size(rows, ncol, (h, w, c), path, scale)
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


def check_grid_size(rows: int, ncol: int, image_shape, path=None, scale: int = 2) -> None:
    """Raise unless a grid of `rows` x `ncol` images of `image_shape` ((H, W, C) or (H, W)) fits
    MAX_GRID_PIXELS once scaled; checked before anything is decoded or drawn."""
    if len(image_shape) not in (2, 3):
        return  # save_grid refuses such images itself
    h, w, c = (*image_shape, 1)[:3]
    height, width = (rows * (h + _PAD) + _PAD) * scale, (ncol * (w + _PAD) + _PAD) * scale
    if height * width * c > MAX_GRID_PIXELS:
        where = f" {path}" if path is not None else ""
        raise GenkitError(
            f"The PNG grid{where} of {rows} rows x {ncol} columns of images would be {width:,} x {height:,} pixels; at most "
            f"{MAX_GRID_PIXELS:,} values fit. Write an .npz for this many images, or ask for fewer (--n)."
        )


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


def save_compared(path: str | Path, rows: dict, *, value_range=(0.0, 1.0), per_row: int = COMPARED_PER_ROW) -> Path:
    """Save images that belong together as a PNG grid: `rows` maps a label to `(N, H, W, C)` images
    (e.g. "input", "corrupted", "denoised"); each block of `per_row` images shows one row per label,
    so image k of every label lies in the same column. Check the size first with
    `check_grid_size(compared_rows(len(rows), N), per_row, ...)`."""
    stacks = [np.asarray(images, np.float32) for images in rows.values()]
    n, cells, labels = len(stacks[0]), [], []
    for i in range(0, n, per_row):
        for label, images in zip(rows, stacks, strict=True):
            block = images[i : i + per_row]
            cells.append(np.concatenate([block, np.full((per_row - len(block), *block.shape[1:]), np.nan, np.float32)]))
            labels.append(label)
    return save_grid(np.concatenate(cells), path, nrow=per_row, row_labels=labels, value_range=value_range)


def compared_rows(labels: int, n: int, per_row: int = COMPARED_PER_ROW) -> int:
    """The rows of a `save_compared` grid of `labels` rows of `n` images each."""
    return labels * math.ceil(n / per_row)


def check_output_path(path: str | Path, suffixes=OUTPUT_SUFFIXES) -> Path:
    """The output path as a Path; a GenkitError when its suffix is not one of `suffixes`
    (.png/.npz), it is an existing folder, or a parent is a file (it could not be created)."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise GenkitError(
            f"Cannot write samples to '{path}': the file must end in .png (an image grid) "
            f"or .npz (arrays x and y); got suffix '{path.suffix}'."
        )
    check_writable_file(path)
    return path


def check_writable_file(path: Path, flag: str = "--out") -> None:
    """Raise unless `path` can be written as a file: not an existing folder, no parent that is a file."""
    if path.is_dir():
        raise GenkitError(f"{flag} {path} is a folder; give a file name inside it, e.g. {path / ('samples' + (path.suffix or '.png'))}.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise GenkitError(f"{flag} {path}: {parent} is a file, not a folder, so nothing can be written under it.")
            break


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
