"""Sample from genkit exports with onnxruntime, NumPy and Pillow only.

This package must never import TensorFlow or Keras, directly or through another genkit
package: an export has to sample on a machine that has only `onnxruntime` (start-up
~0.35 s / 65 MB instead of ~5.5 s / 520 MB with TensorFlow). A test checks it.
"""

from __future__ import annotations

import io
import math
import time
from pathlib import Path

import numpy as np

from genkit.atomic import atomic_write_bytes

from genkit.errors import GenkitError
from genkit.runtime.codes import parse_code_flags
from genkit.runtime.images import check_grid_size, check_output_path, read_images, save_grid, save_samples
from genkit.runtime.providers import make_session
from genkit.runtime.sampler import Sampler, check_count, positive_int

__all__ = ["Sampler", "make_session", "sample_main", "save_grid", "save_samples", "translate_main"]


def sample_main(
    export_dir,
    n: int,
    label: int | None,
    out,
    seed: int | None,
    steps: int | None = None,
    *,
    sampler: str | None = None,
    eta: float | None = None,
    guidance_scale: float | None = None,
    truncation: float | None = None,
    mix: int | None = None,
    crossover: int | None = None,
    codes: list[str] | None = None,
) -> str:
    """`genkit sample EXPORT_DIR --n N [--label K] [--code NAME=VALUE ...] [--steps S] --out FILE.png|FILE.npz`.

    Returns the one-line summary the CLI prints. `steps`, `sampler`, `eta` and
    `guidance_scale` are for diffusion exports (default: the export's own settings); giving
    one for any other export is an error rather than silently ignored. Diffusion sampling
    draws a progress bar on stderr. `codes` (`["digit=3", "c1=-1.0"]`) set an InfoGAN export's
    latent codes; an unknown name or a bad value is an error naming the export's codes.

    `truncation` (ψ), `mix` (the seed of a second latent, whose fine styles are used) and
    `crossover` (the first style taken from it) are for style-based exports (stylegan), see
    `genkit.runtime.style`; giving one for any other export is an error too.

    Budgets, checked before anything is drawn: 1 <= n <= MAX_SAMPLES (100,000) and the
    samples' float32 values at most 1 GiB (`check_count`); a `.png` grid at most
    MAX_GRID_PIXELS (134 M) pixels (write `.npz` for more); `steps` at most the export's
    timesteps. `out` must not be a folder or lie under a file.
    """
    out = check_output_path(out)  # before the (slower) loading, so a typo fails fast
    codes = parse_code_flags(codes)
    n = check_count(n, "--n", (1,))  # the count alone; its images are checked once the export is open
    start = time.perf_counter()
    model = Sampler(export_dir)
    if model.directions:
        raise GenkitError(
            f"{Path(export_dir)} is a '{model.family}' export: it translates images rather than drawing samples. "
            f"Give them with --input FILE.npz|IMAGE|FOLDER."
        )
    given = {"steps": steps, "sampler": sampler, "eta": eta, "guidance_scale": guidance_scale}
    given = {k: v for k, v in given.items() if v is not None}
    if given and not model.is_diffusion:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        verb, them = ("applies", "it") if len(given) == 1 else ("apply", "them")
        raise GenkitError(f"{flags} {verb} to diffusion exports; {Path(export_dir)} is a '{model.family}' export. Drop {them}.")
    n = check_count(n, "--n", model.image_shape)
    if out.suffix.lower() == ".png":
        _check_png_budget(n, model.image_shape, out)
    style = {"truncation": truncation, "mix": mix, "crossover": crossover}
    if model.is_diffusion:
        model.diffusion_options(**given)  # --steps etc. checked before the loop allocates its noise
        x, y = model.sample(n, labels=label, seed=seed, progress=True, **given, **style)
    else:
        x, y = model.sample(n, labels=label, seed=seed, **style, codes=codes)
    save_samples(out, x, y, value_range=model.value_range)
    seconds = time.perf_counter() - start
    if label is not None:
        labels = f", label {label}"
    elif y is not None:
        labels = f", labels 0..{model.num_classes - 1} in turn"
    else:
        labels = ""
    if codes:
        labels += ", " + ", ".join(f"{name} {value}" for name, value in codes.items())
    if model.style is not None:
        labels += f", truncation psi {1.0 if truncation is None else truncation:g}"
        if mix is not None:
            labels += f", styles {model.style.crossover if crossover is None else crossover}.. from seed {mix}"
    return (
        f"Wrote {len(x)} samples of {model.name} ({model.family}{labels}) "
        f"to {out} in {seconds:.2f} s with onnxruntime on {model.provider}."
    )


def translate_main(export_dir, input_path, out, n: int | None = None, direction: str | None = None) -> str:
    """`genkit sample EXPORT_DIR --input FILE.npz|IMAGE|FOLDER --out FILE.png|FILE.npz [--direction ab|ba]`.

    Translates (at most `n` of) the input images with the export's generator for `direction`
    (default "ab"). `.png` gets a grid of rows of 8: inputs, then their translations; `.npz`
    gets `x` (the translations, which `--input` reads back, e.g. for the other direction) and
    `source` (the inputs), float32 in the data range.

    `n` must be a positive integer; the inputs are checked as `read_images` says (uint8 or
    floats in the range, file sizes from their headers, at most 100,000 images), and a
    `.png` at most MAX_GRID_PIXELS (134 M) pixels.
    """
    out = check_output_path(out)
    if n is not None:
        n = positive_int(n, "--n")
    start = time.perf_counter()
    model = Sampler(export_dir)
    if not model.directions:
        raise GenkitError(f"--input applies to translation exports (pix2pix, cyclegan); {Path(export_dir)} is a '{model.family}' export.")
    direction = direction or model.directions[0]
    if direction not in model.directions:
        raise GenkitError(f"--direction: {Path(export_dir)} translates {' and '.join(model.directions)}; got {direction!r}.")
    x = read_images(input_path, model.image_shape, model.value_range)
    if n is not None:
        x = x[:n]
    if out.suffix.lower() == ".png":
        check_grid_size(2 * math.ceil(len(x) / 8), 8, model.image_shape, out)
    y = model.translate(x, direction)
    if out.suffix.lower() == ".npz":
        buffer = io.BytesIO()
        np.savez(buffer, x=y, source=x)
        atomic_write_bytes(out, buffer.getvalue())
    else:
        rows = [block for i in range(0, len(x), 8) for block in (x[i : i + 8], y[i : i + 8])]
        cells = [np.concatenate([r, np.full((8 - len(r), *r.shape[1:]), np.nan, np.float32)]) for r in rows]
        labels = ["input" if k % 2 == 0 else "output" for k in range(len(rows))]
        save_grid(np.concatenate(cells), out, nrow=8, row_labels=labels, value_range=model.value_range)
    seconds = time.perf_counter() - start
    return (
        f"Translated {len(x)} images ({direction}) with {model.name} ({model.family}) to {out} in {seconds:.2f} s "
        f"with onnxruntime on {model.provider}."
    )


def _check_png_budget(n: int, image_shape, out) -> None:
    """A grid of `n` images (about square, or class rows of up to 16) must fit MAX_GRID_PIXELS."""
    ncol = math.ceil(math.sqrt(n))
    check_grid_size(math.ceil(n / ncol), ncol, image_shape, out)
