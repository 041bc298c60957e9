"""The `folder` source: PNG and JPEG images sorted into one sub-folder per class.

    data.path/
      cat/   001.png  002.jpg ...
      dog/   001.png ...

Sub-folder names, sorted, give the labels 0..K-1 (here cat = 0, dog = 1); hidden
folders are skipped. Images are read with Pillow in `data.color_mode` (grayscale or
rgb) and resized to `data.image_size` [height, width] when it is set — otherwise all
images must have the same size. Every tenth image of each class is held out as the
test split (see `splits.holdout`), the same images on every run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from genkit.data.source import RawData, data_error, existing_path, register_source
from genkit.data.splits import holdout

__all__ = ["folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
HOLDOUT_EVERY = 10  # one image in ten of each class is test
_PIL_MODE = {"grayscale": "L", "rgb": "RGB"}


@register_source("folder")
def folder(data) -> RawData:
    root = existing_path(data.path, "folder", "folder")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise data_error(
            "path",
            f"{data.path!r} has no class sub-folders; put the images of each class in a "
            "folder of its own (e.g. cat/, dog/), even when there is only one class."
        )
    files, labels = [], []
    for label, class_dir in enumerate(classes):
        images = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            kinds = "/".join(IMAGE_SUFFIXES)
            raise data_error("path", f"class folder {class_dir} holds no {kinds} images.")
        files += images
        labels += [label] * len(images)

    x = read_images(files, data.color_mode, data.image_size)
    y = np.asarray(labels, np.int64)
    train, test = holdout(y, every=HOLDOUT_EVERY)
    if len(train) == 0:
        raise data_error("path", f"{data.path!r} holds {len(files)} image(s); at least 2 are needed.")
    names = ", ".join(c.name for c in classes[:5]) + (", ..." if len(classes) > 5 else "")
    origin = f"image folder {root} ({len(classes)} classes: {names})"
    return RawData(x[train], y[train], x[test], y[test], origin=origin)


def read_images(files: list[Path], color_mode: str, image_size) -> np.ndarray:
    """(N, H, W) for grayscale or (N, H, W, 3) for rgb, uint8."""
    images = []
    for path in files:
        try:
            with Image.open(path) as image:
                image = image.convert(_PIL_MODE[color_mode])
                if image_size is not None:
                    height, width = image_size
                    image = image.resize((width, height), Image.Resampling.BILINEAR)  # PIL sizes are (w, h)
                images.append(np.asarray(image, np.uint8))
        except (UnidentifiedImageError, OSError) as error:
            raise data_error("path", f"cannot read image {path}: {error}") from None
        if images[-1].shape != images[0].shape:
            raise data_error(
                "image_size",
                f"images differ in size ({_size(images[0])} in {files[0]}, "
                f"{_size(images[-1])} in {path}); set data.image_size: [height, width] to resize them all."
            )
    return np.stack(images)


def _size(image: np.ndarray) -> str:
    return f"{image.shape[0]}x{image.shape[1]}"
