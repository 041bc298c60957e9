"""Say what a long silent phase is doing, then how long it took.

Evaluation (training the feature extractor, sampling, metrics) and export (conversion,
parity checks) can each take from seconds to minutes without any output of their own;
`phase` gives each one line on standard output:

    evaluating: sampling 1,000 images for fid, kid … 41.3 s

The line is written when the phase starts and finished with its time when it ends. A
phase that starts inside another ends the outer line first, and the outer phase then
reports on a line of its own (`evaluating: fid, kid: done in 52.0 s`). Standard output
is looked up at each write, so a caller that redirects it (the Python API's quiet mode)
silences these lines too.

Example:

    with phase(f"evaluating: sampling {n:,} images for fid"):
        fake = draw_samples(model, n, labels, seed)
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

__all__ = ["phase"]

_OPEN = {"phase": None}  # the phase whose line is still waiting for its time, if any


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


@contextmanager
def phase(what: str):
    """Print `what …`, run the block, then print the seconds it took (see the module docstring)."""
    if _OPEN["phase"] is not None:
        _write("\n")  # a phase inside another: the outer line ends here
    token = object()
    _OPEN["phase"] = token
    _write(f"{what} … ")
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        _end(token, what, f"stopped after {time.perf_counter() - start:.1f} s")
        raise
    _end(token, what, f"{time.perf_counter() - start:.1f} s")


def _end(token, what: str, said: str) -> None:
    if _OPEN["phase"] is token:
        _write(said + "\n")
    else:
        _write(f"{what}: {'done in ' + said if said[0].isdigit() else said}\n")
    _OPEN["phase"] = None
