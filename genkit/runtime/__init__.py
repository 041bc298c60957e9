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


def sample_main(export_dir, n: int, label: int | None, out, seed: int | None, steps: int | None = None) -> str:
    """`genkit sample EXPORT_DIR --n N [--label K] [--steps S] --out FILE.png|FILE.npz`.

    Returns the one-line summary the CLI prints. `steps` is for diffusion exports; giving it
    for any other export is an error rather than silently ignored.
    """
    out = check_output_path(out)  # before the (slower) loading, so a typo fails fast
    start = time.perf_counter()
    sampler = Sampler(export_dir)
    if steps is not None and not sampler.is_diffusion:
        raise GenkitError(
            f"--steps applies to diffusion exports; {Path(export_dir)} is a '{sampler.family}' export. Drop --steps."
        )
    x, y = sampler.sample(n, labels=label, seed=seed)
    save_samples(out, x, y, value_range=sampler.value_range)
    seconds = time.perf_counter() - start
    if label is not None:
        labels = f", label {label}"
    elif y is not None:
        labels = f", labels 0..{sampler.num_classes - 1} in turn"
    else:
        labels = ""
    return (
        f"Wrote {len(x)} samples of {sampler.name} ({sampler.family}{labels}) "
        f"to {out} in {seconds:.2f} s with onnxruntime on {sampler.provider}."
    )
