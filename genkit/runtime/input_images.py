"""Read the images `genkit sample --input` (and `explore`/`score`'s --data) feed an export.

Pillow and NumPy only. Images whose size or channels differ from the export's data shape are never
changed silently: a size is resized with a one-line warning on stderr (none with `resize=True`,
`--resize`), and colour images are turned gray only with `resize=True`, since that loses their colour.
Every budget is checked from a header before the pixels are decoded or loaded.
"""

from __future__ import annotations

import math
import sys
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from genkit.errors import GenkitError

__all__ = ["INPUT_SUFFIXES", "MAX_INPUT_IMAGES", "MAX_INPUT_PIXELS", "MAX_NPZ_BYTES", "check_pixels", "load_npz", "read_images"]

INPUT_SUFFIXES = (".png", ".jpg", ".jpeg")
# Budgets, each checked before the allocation it bounds.
MAX_INPUT_PIXELS = 2**24  # one input image file: width x height from its header (16.8 megapixels)
MAX_INPUT_IMAGES = 100_000  # images read from a folder or an .npz at a time
MAX_NPZ_BYTES = 2**30  # one array of an input .npz, from its .npy header (1 GiB)
_GRAY_BANDS = {"L", "A", "1", "I", "F"}  # PIL bands of images without colour (L, LA, 1, I, F modes)
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601-2, as Pillow's convert("L")


def read_images(path: str | Path, shape, value_range=(0.0, 1.0), *, flag: str = "--input", resize: bool = False, warn=None) -> np.ndarray:
    """Images `(N, *shape)` float32 in `value_range` from an .npz, one PNG/JPEG file or a folder of them.

    `.npz`: the array `x` (or the file's only array), `(N, H, W)` or `(N, H, W, C)`, as 8-bit counts
    (uint8 0-255) or as floats already in `value_range` (what `genkit sample --out FILE.npz` writes);
    other integer types (uint16, int8, ...), NaN, empty arrays and other shapes are errors.
    Image files are read in name order from a folder; grayscale files become RGB for an RGB export.

    Images of another height and width are resized bilinearly to `shape`'s (e.g. 14x14 digits
    for a 28x28 super-resolution model), with one warning line through `warn` (default: stderr)
    saying from what to what, unless `resize` asks for it. Colour images for a grayscale export
    are an error naming --resize, unless `resize`: then they are turned gray (Pillow's luma).
    A colour image file whose three channels are equal is gray already and read as such.

    Budgets, checked before decoding or loading: an image file's width x height (from its
    header) at most MAX_INPUT_PIXELS (16.8 M); at most MAX_INPUT_IMAGES (100,000) images; an
    .npz array at most MAX_NPZ_BYTES (1 GiB) by its header. `flag` names the argument in errors.
    """
    path = Path(path)
    if len(shape) != 3:
        raise GenkitError(f"{flag}: images are read for exports of (H, W, C) images; this one has data.shape {list(shape)}.")
    if not path.exists():
        raise GenkitError(f"{flag}: {path} does not exist.")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in INPUT_SUFFIXES and p.is_file())
        if not files:
            raise GenkitError(f"{flag}: folder {path} holds no {'/'.join(INPUT_SUFFIXES)} images.")
        if len(files) > MAX_INPUT_IMAGES:
            raise GenkitError(f"{flag}: folder {path} holds {len(files):,} images; at most {MAX_INPUT_IMAGES:,} are read at a time.")
    elif path.suffix.lower() == ".npz":
        x, sizes = _npz_images(path, shape, value_range, flag, resize)
        _say_resized(sizes, len(x), shape, flag, resize, warn)
        return x
    elif path.suffix.lower() in INPUT_SUFFIXES:
        files = [path]
    else:
        raise GenkitError(f"{flag}: {path} is not an .npz file, a {'/'.join(INPUT_SUFFIXES)} image or a folder of them.")
    _check_image_budget(len(files), shape, flag)
    images = np.empty((len(files), *shape), np.float32)
    sizes = Counter()  # (height, width) -> how many files had it, of those resized
    for k, file in enumerate(files):
        images[k] = _image_file(file, shape, flag, resize, sizes)
    _say_resized(sizes, len(files), shape, flag, resize, warn)
    low, high = (float(v) for v in value_range)
    return images / 255.0 * (high - low) + low


def _image_file(file: Path, shape, flag: str, resize: bool, sizes: Counter) -> np.ndarray:
    """One image file as float32 `shape` pixel counts 0-255; a size it was resized from is counted in `sizes`."""
    h, w, c = shape
    try:
        with Image.open(file) as image:  # reads the header only: size is known before decoding
            width, height = image.size
            if width * height > MAX_INPUT_PIXELS or width < 1 or height < 1:
                raise GenkitError(
                    f"{flag}: image {file} is {width:,} x {height:,} pixels; at most {MAX_INPUT_PIXELS:,} pixels "
                    "are read. Shrink it first."
                )
            if c == 1 and not set(image.getbands()) <= _GRAY_BANDS and not resize and _has_colour(np.asarray(image.convert("RGB"))):
                raise GenkitError(_colour_refused(f"image {file} is a colour ({image.mode}) image", shape, flag))
            image = image.convert("L" if c == 1 else "RGB")
            if image.size != (w, h):
                sizes[(height, width)] += 1
                image = image.resize((w, h), Image.Resampling.BILINEAR)  # PIL sizes are (w, h)
            return np.asarray(image, np.float32).reshape(h, w, c)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as error:
        raise GenkitError(f"{flag}: cannot read image {file}: {error}") from None


def _has_colour(rgb: np.ndarray) -> bool:
    """Whether `(..., 3)` pixels differ between channels: turning them gray would lose something."""
    return bool((rgb[..., 0] != rgb[..., 1]).any() or (rgb[..., 1] != rgb[..., 2]).any())


def _colour_refused(what: str, shape, flag: str) -> str:
    return (
        f"{flag}: {what}, but this export reads grayscale images (data.shape {list(shape)}); turning it gray would "
        "lose its colour. Pass --resize (resize=True) to convert to gray anyway, or give grayscale images."
    )


def _say_resized(sizes: Counter, n: int, shape, flag: str, resize: bool, warn) -> None:
    """One warning line for images resized without `resize`: how many, from which sizes, to which."""
    if not sizes or resize:
        return
    (h0, w0), _ = sizes.most_common(1)[0]
    others = f" and {len(sizes) - 1} other size(s)" if len(sizes) > 1 else ""
    line = (
        f"warning: {flag}: resized {sum(sizes.values()):,} of {n:,} images from {h0}x{w0}{others} to {shape[0]}x{shape[1]} "
        f"(bilinear) for this export's data.shape {list(shape)}; pass --resize (resize=True) to resize without this warning."
    )
    (warn or (lambda text: print(text, file=sys.stderr)))(line)


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


def _npz_images(path: Path, shape, value_range, flag: str, resize: bool) -> tuple[np.ndarray, Counter]:
    """The images of an .npz as `read_images` returns them, and the size they were resized from (if any)."""
    arrays = load_npz(path, flag)
    if "x" not in arrays and len(arrays) != 1:
        raise GenkitError(f"{flag}: {path.name} needs an array named 'x' (it holds {sorted(arrays) or 'nothing'}).")
    x = arrays.get("x", next(iter(arrays.values())))
    origin = f"{flag} {path}"
    if shape[-1] == 1 and x.ndim == 4 and x.shape[-1] == 3:  # (N, H, W, 3) colour for a grayscale export
        if not resize:  # an array's channels are its writer's choice: refused whatever their values
            raise GenkitError(_colour_refused(f"{path} holds RGB images {x.shape}", shape, flag))
        x = check_pixels(x, (*shape[:-1], 3), value_range, origin) @ _LUMA  # (N, H, W); the weights sum to 1
    x = check_pixels(x, shape, value_range, origin)
    _check_image_budget(len(x), shape, flag)
    sizes = Counter({tuple(x.shape[1:3]): len(x)}) if x.shape[1:3] != tuple(shape[:2]) else Counter()
    return _resized(x, shape), sizes
