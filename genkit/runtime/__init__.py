"""Sample from genkit exports with onnxruntime, NumPy and Pillow only.

This package must never import TensorFlow or Keras, directly or through another genkit
package: an export has to sample on a machine that has only `onnxruntime` (start-up
~0.35 s / 65 MB instead of ~5.5 s / 520 MB with TensorFlow). A test checks it.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from genkit.errors import GenkitError
from genkit.runtime.codes import parse_code_flags
from genkit.runtime.images import check_grid_size, check_output_path, save_grid, save_samples
from genkit.runtime.inputs import input_main
from genkit.runtime.providers import make_session
from genkit.runtime.sampler import Sampler, check_count

__all__ = ["Sampler", "input_main", "make_session", "sample_main", "save_grid", "save_samples"]


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
    guidance_interval: tuple[int, int] | None = None,
    truncation: float | None = None,
    mix: int | None = None,
    crossover: int | None = None,
    codes: list[str] | None = None,
) -> str:
    """`genkit sample EXPORT_DIR --n N [--label K] [--code NAME=VALUE ...] [--steps S] --out FILE.png|FILE.npz`.

    Returns the one-line summary the CLI prints. `steps`, `sampler`, `eta`, `guidance_scale`
    and `guidance_interval` are for diffusion exports (default: the export's own settings); giving
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
    given = {"steps": steps, "sampler": sampler, "eta": eta, "guidance_scale": guidance_scale, "guidance_interval": guidance_interval}
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




def _check_png_budget(n: int, image_shape, out) -> None:
    """A grid of `n` images (about square, or class rows of up to 16) must fit MAX_GRID_PIXELS."""
    ncol = math.ceil(math.sqrt(n))
    check_grid_size(math.ceil(n / ncol), ncol, image_shape, out)
