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

import numpy as np

from genkit.data.arrays import checked_images, checked_labels
from genkit.data.readers import READ_ERRORS
from genkit.data.source import RawData, data_error, existing_path, register_source
from genkit.data.splits import holdout
from genkit.errors import did_you_mean

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
    x = checked_images(arrays[data.x_key], f"data.x_key ({data.x_key!r} in {path.name})")
    y = checked_labels(arrays, data.y_key, len(x), path.name)
    origin = f"npz file {path} (images {data.x_key!r}, {_label_note(data.y_key, y)})"

    if "x_test" in arrays and data.x_key != "x_test":
        x_test = checked_images(arrays["x_test"], f"'x_test' in {path.name}")
        if x_test.shape[1:] != x.shape[1:]:
            raise data_error(
                "path",
                f"in {path.name}, 'x_test' has images of shape {x_test.shape[1:]} but "
                f"{data.x_key!r} has {x.shape[1:]}."
            )
        y_test = checked_labels(arrays, "y_test", len(x_test), path.name) if y is not None else None
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






def _label_note(key: str | None, y: np.ndarray | None) -> str:
    if key is None:
        return "no labels: data.y_key is null"
    return f"labels {key!r}" if y is not None else f"no labels: no array {key!r}"
