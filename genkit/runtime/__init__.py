"""Sample from genkit exports with onnxruntime, NumPy and Pillow only.

This package must never import TensorFlow or Keras, directly or through another genkit
package: an export has to sample on a machine that has only `onnxruntime` (start-up
~0.35 s / 65 MB instead of ~5.5 s / 520 MB with TensorFlow). A test checks it.
"""

from __future__ import annotations

import time
from pathlib import Path

from genkit.errors import GenkitError
from genkit.runtime.images import check_output_path, save_grid, save_samples
from genkit.runtime.providers import make_session
from genkit.runtime.sampler import Sampler

__all__ = ["Sampler", "make_session", "sample_main", "save_grid", "save_samples"]


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
) -> str:
    """`genkit sample EXPORT_DIR --n N [--label K] [--steps S] --out FILE.png|FILE.npz`.

    Returns the one-line summary the CLI prints. `steps`, `sampler`, `eta` and
    `guidance_scale` are for diffusion exports (default: the export's own settings); giving
    one for any other export is an error rather than silently ignored. Diffusion sampling
    draws a progress bar on stderr.
    """
    out = check_output_path(out)  # before the (slower) loading, so a typo fails fast
    start = time.perf_counter()
    model = Sampler(export_dir)
    given = {"steps": steps, "sampler": sampler, "eta": eta, "guidance_scale": guidance_scale}
    given = {k: v for k, v in given.items() if v is not None}
    if given and not model.is_diffusion:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        verb, them = ("applies", "it") if len(given) == 1 else ("apply", "them")
        raise GenkitError(f"{flags} {verb} to diffusion exports; {Path(export_dir)} is a '{model.family}' export. Drop {them}.")
    if model.is_diffusion:
        x, y = model.sample(n, labels=label, seed=seed, progress=True, **given)
    else:
        x, y = model.sample(n, labels=label, seed=seed)
    save_samples(out, x, y, value_range=model.value_range)
    seconds = time.perf_counter() - start
    if label is not None:
        labels = f", label {label}"
    elif y is not None:
        labels = f", labels 0..{model.num_classes - 1} in turn"
    else:
        labels = ""
    return (
        f"Wrote {len(x)} samples of {model.name} ({model.family}{labels}) "
        f"to {out} in {seconds:.2f} s with onnxruntime on {model.provider}."
    )
