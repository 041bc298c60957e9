"""Write generated images: PNG grids (optionally with a label per row) and `.npz` arrays.

Pillow and NumPy only. Every write is atomic (temporary file + `os.replace`), so a viewer or
a script polling the file never reads half a PNG.
"""

from __future__ import annotations

import io
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from genkit.errors import GenkitError
from genkit.atomic import atomic_write_bytes  # standard library only; no TensorFlow

__all__ = [
    "INPUT_SUFFIXES",
    "MAX_GRID_PIXELS",
    "MAX_INPUT_IMAGES",
    "MAX_INPUT_PIXELS",
    "MAX_NPZ_BYTES",
    "OUTPUT_SUFFIXES",
    "check_grid_size",
    "check_output_path",
    "check_pixels",
    "load_npz",
    "read_images",
    "save_grid",
    "save_samples",
]

OUTPUT_SUFFIXES = (".png", ".npz")
INPUT_SUFFIXES = (".png", ".jpg", ".jpeg")
# Budgets, each checked before the allocation it bounds.
MAX_INPUT_PIXELS = 2**24  # one input image file: width x height from its header (16.8 megapixels)
MAX_INPUT_IMAGES = 100_000  # images read from a folder or an .npz at a time
MAX_NPZ_BYTES = 2**30  # one array of an input .npz, from its .npy header (1 GiB)
MAX_GRID_PIXELS = 2**27  # a PNG grid's pixels after scaling (134 M: e.g. 20,000 28x28 digits at scale 2)
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


def read_images(path: str | Path, shape, value_range=(0.0, 1.0), *, flag: str = "--input") -> np.ndarray:
    """Images `(N, *shape)` float32 in `value_range` from an .npz, one PNG/JPEG file or a folder of them.

    `.npz`: the array `x` (or the file's only array), `(N, H, W)` or `(N, H, W, C)`, as 8-bit counts
    (uint8 0-255) or as floats already in `value_range` (what `genkit sample --out FILE.npz` writes);
    other integer types (uint16, int8, ...), NaN, empty arrays and other shapes are errors.
    Image files (a folder's are read in name order) are converted to the channels of `shape`
    (grayscale or RGB). Both are resized with bilinear interpolation to its height and width,
    so e.g. 14x14 digits become the 28x28 inputs of a super-resolution model.

    Budgets, checked before decoding or loading: an image file's width x height (from its
    header) at most MAX_INPUT_PIXELS (16.8 M); at most MAX_INPUT_IMAGES (100,000) images; an
    .npz array at most MAX_NPZ_BYTES (1 GiB) by its header. `flag` names the argument in errors.
    """
    path = Path(path)
    if len(shape) != 3:
        raise GenkitError(f"{flag}: images are read for exports of (H, W, C) images; this one has data.shape {list(shape)}.")
    h, w, c = shape
    low, high = (float(v) for v in value_range)
    if not path.exists():
        raise GenkitError(f"{flag}: {path} does not exist.")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in INPUT_SUFFIXES and p.is_file())
        if not files:
            raise GenkitError(f"{flag}: folder {path} holds no {'/'.join(INPUT_SUFFIXES)} images.")
        if len(files) > MAX_INPUT_IMAGES:
            raise GenkitError(f"{flag}: folder {path} holds {len(files):,} images; at most {MAX_INPUT_IMAGES:,} are read at a time.")
    elif path.suffix.lower() == ".npz":
        return _npz_images(path, shape, low, high, flag)
    elif path.suffix.lower() in INPUT_SUFFIXES:
        files = [path]
    else:
        raise GenkitError(f"{flag}: {path} is not an .npz file, a {'/'.join(INPUT_SUFFIXES)} image or a folder of them.")
    _check_image_budget(len(files), shape, flag)
    images = np.empty((len(files), h, w, c), np.float32)
    for k, file in enumerate(files):
        try:
            with Image.open(file) as image:  # reads the header only: size is known before decoding
                width, height = image.size
                if width * height > MAX_INPUT_PIXELS or width < 1 or height < 1:
                    raise GenkitError(
                        f"{flag}: image {file} is {width:,} x {height:,} pixels; at most {MAX_INPUT_PIXELS:,} pixels "
                        "are read. Shrink it first."
                    )
                image = image.convert("L" if c == 1 else "RGB")
                if image.size != (w, h):
                    image = image.resize((w, h), Image.Resampling.BILINEAR)  # PIL sizes are (w, h)
                images[k] = np.asarray(image, np.float32).reshape(h, w, c)
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as error:
            raise GenkitError(f"{flag}: cannot read image {file}: {error}") from None
    return images / 255.0 * (high - low) + low


def _check_image_budget(n: int, shape, flag: str) -> None:
    size = n * math.prod(shape) * 4
    if n > MAX_INPUT_IMAGES or size > MAX_NPZ_BYTES:
        raise GenkitError(
            f"{flag}: {n:,} images of {tuple(shape)} are too many at once (at most {MAX_INPUT_IMAGES:,} images and "
            f"{MAX_NPZ_BYTES / 2**30:.0f} GiB of float32); split them."
        )


def load_npz(path: str | Path, flag: str, *, max_bytes: int = MAX_NPZ_BYTES) -> dict[str, np.ndarray]:
    """The named arrays of an .npz file (numpy.savez), each checked from its .npy header first.

    Raises GenkitError, naming `flag` and the file, when it is empty, not a zip/.npz, damaged,
    holds object arrays, or an array is larger than `max_bytes` (MAX_NPZ_BYTES, 1 GiB) —
    the header's shape and dtype are read before any array is loaded.
    """
    path = Path(path)
    how = "save it with numpy.savez(path, x=images, y=labels)"
    if not path.is_file():
        raise GenkitError(f"{flag} {path}: no such file; {how}.")
    if path.stat().st_size == 0:
        raise GenkitError(f"{flag} {path} is empty (0 bytes); {how}.")
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if info.filename.endswith(".npy")]
            for info in members:
                name = info.filename[: -len(".npy")]
                with archive.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    shape, _, dtype = readers.get(version, np.lib.format.read_array_header_2_0)(f)
                if dtype.hasobject:
                    raise GenkitError(f"{flag} {path}: array '{name}' holds Python objects; expected numbers. {how}.")
                size = math.prod(shape) * dtype.itemsize
                if size > max_bytes:
                    raise GenkitError(
                        f"{flag} {path}: array '{name}' {tuple(shape)} {dtype} is {size / 2**30:.1f} GiB; at most "
                        f"{max_bytes / 2**30:.0f} GiB is loaded. Split the file."
                    )
            with np.load(path, allow_pickle=False) as loaded:
                for info in members:
                    name = info.filename[: -len(".npy")]
                    arrays[name] = np.asarray(loaded[name])
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, UnicodeDecodeError) as error:
        raise GenkitError(f"{flag} {path} is not a readable .npz file ({error}); {how}.") from None
    return arrays


def check_pixels(x: np.ndarray, shape, value_range, origin: str) -> np.ndarray:
    """Images `x` `(N, H, W, C)` (or `(N, H, W)` for one channel) as float32 in `value_range`.

    uint8 arrays are 8-bit counts 0-255, scaled to the range; float arrays must be finite and
    already in the range (with 1e-6 of slack). Any other dtype (uint16, int8, int64, bool,
    ...), an empty array or another number of dimensions or channels is an error naming
    `origin` and what was expected. The height and width may differ from `shape`'s (the
    caller resizes).
    """
    low, high = (float(v) for v in value_range)
    expected = f"(N, H, W, {shape[-1]})" + (" or (N, H, W)" if shape[-1] == 1 else "")
    if x.ndim == len(shape) and shape[-1] == 1:
        x = x[..., None]  # (N, H, W) -> (N, H, W, 1)
    if x.ndim != len(shape) + 1 or x.shape[-1] != shape[-1]:
        raise GenkitError(f"{origin} holds an array of shape {x.shape}; this export reads images {expected}, {tuple(shape)} each.")
    if x.size == 0:
        raise GenkitError(f"{origin} holds no images (shape {x.shape}); expected {expected} with N >= 1.")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0 * (high - low) + low
    if not np.issubdtype(x.dtype, np.floating):
        raise GenkitError(
            f"{origin} holds {x.dtype} values; expected uint8 pixels (0-255) or floats in [{low:g}, {high:g}]. "
            "Convert with x.astype(np.uint8) (8-bit counts) or scale to the range as floats."
        )
    x = x.astype(np.float32)
    finite = np.isfinite(x)
    if not finite.all():
        raise GenkitError(f"{origin} holds {int((~finite).sum()):,} NaN or infinite value(s); expected floats in [{low:g}, {high:g}].")
    if x.min() < low - 1e-6 or x.max() > high + 1e-6:
        raise GenkitError(
            f"{origin}: float values span [{x.min():g}, {x.max():g}]; this export reads "
            f"[{low:g}, {high:g}]. Rescale them, or save 8-bit counts (uint8 0-255)."
        )
    return np.clip(x, low, high)


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


def _npz_images(path: Path, shape, low: float, high: float, flag: str = "--input") -> np.ndarray:
    arrays = load_npz(path, flag)
    if "x" not in arrays and len(arrays) != 1:
        raise GenkitError(f"{flag}: {path.name} needs an array named 'x' (it holds {sorted(arrays) or 'nothing'}).")
    x = arrays.get("x", next(iter(arrays.values())))
    x = check_pixels(x, shape, (low, high), f"{flag} {path}")
    _check_image_budget(len(x), shape, flag)
    return _resized(x, shape)


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
