"""`StackedGenerator`: one NumPy Generator whose draws are the rows of several requests' own generators.

Micro-batching runs several requests in one onnxruntime call, yet each request must get the
images its seed gives alone. The runtime draws everything a sample needs from one
`numpy.random.Generator` in a fixed order, each draw shaped `(n, ...)` with the samples first
(`LatentPrior.draw`, `LatentCodes.draw`, the diffusion loop's noise, a style export's z and
noise). A `StackedGenerator` over requests of n_1, n_2, ... samples answers a draw of
`(n_1 + n_2 + ..., ...)` with the concatenation of each request's generator drawing
`(n_i, ...)`: every request's generator sees exactly the calls it would see alone.

It subclasses `Generator` because `numpy.random.default_rng(g)` returns a Generator `g` as it is,
so `Sampler.sample(..., seed=stacked)` uses it unchanged. Only the draws the runtime makes are
stacked; any other method raises rather than silently drawing from a shared stream.

Example:
    rng = StackedGenerator([np.random.default_rng(7), np.random.default_rng(9)], [2, 3])
    z = rng.standard_normal((5, 16))   # rows 0-1 from seed 7, rows 2-4 from seed 9
"""

from __future__ import annotations

import numpy as np

__all__ = ["StackedGenerator"]

_STACKED = frozenset({"standard_normal", "uniform", "integers", "_rows", "_parts", "_total"})


class StackedGenerator(np.random.Generator):
    """Draws of `(sum(counts), ...)` made of `generators[i]` drawing `(counts[i], ...)`, in order."""

    def __init__(self, generators, counts):
        super().__init__(np.random.PCG64(0))  # never drawn from: every used method is overridden
        self._parts = list(zip(generators, (int(n) for n in counts), strict=True))
        self._total = sum(n for _, n in self._parts)

    def __getattribute__(self, name):
        # A draw the runtime does not make today would come from the placeholder stream above and
        # mix requests' randomness; refuse it so a new draw in the runtime is noticed here.
        if not name.startswith("__") and name not in _STACKED:
            raise AttributeError(f"StackedGenerator stacks standard_normal, uniform and integers only, not {name}")
        return super().__getattribute__(name)

    def _rows(self, method: str, size, **kwargs) -> np.ndarray:
        shape = (size,) if isinstance(size, (int, np.integer)) else tuple(size or ())
        if not shape or shape[0] != self._total:
            raise ValueError(f"a stacked draw needs the {self._total} samples first in its shape; got size {size!r}")
        return np.concatenate([getattr(g, method)(size=(n, *shape[1:]), **kwargs) for g, n in self._parts])

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        if out is not None:
            raise ValueError("StackedGenerator.standard_normal does not fill `out`")
        return self._rows("standard_normal", size, dtype=dtype)

    def uniform(self, low=0.0, high=1.0, size=None):
        return self._rows("uniform", size, low=low, high=high)

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return self._rows("integers", size, low=low, high=high, dtype=dtype, endpoint=endpoint)
