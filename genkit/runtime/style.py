"""Sampling a style-based export (stylegan) with onnxruntime: z -> mapping -> truncation -> ws -> synthesis.

The manifest's `style` section (see `genkit.manifest.StyleFacts`) names the two networks and
holds w_avg. For n samples:

    w   = mapping(z)                    z ~ N(0, I), (n, latent_dim)
    w'  = w_avg + ψ·(w − w_avg)         the truncation trick (Karras et al. 2019, section 3.1 and
                                        appendix B): ψ = 1 leaves w alone, ψ = 0 gives every z w_avg
    ws  = (w', …, w')                   one style per synthesis layer, (n, num_ws, w_dim)
    ws[:, k:] = w'₂                     style mixing (optional): the styles from the crossover k on
                                        come from a second latent z₂; default k = len(coarse), so
                                        coarse styles (pose, shape) come from z and fine ones
                                        (colour, detail) from z₂ (Karras et al. 2019, figure 3)
    x   = synthesis(ws, noise)          one N(0, I) image per noise input and sample

Seeded draws, so the same seed gives the same images whatever the batch size: z, then each
noise input's images, all from `numpy.random.default_rng(seed)`; z₂ from
`default_rng(mix)`. `decode` (latent figures) feeds every latent the same noise images, drawn
from seed 0, so images change with the latent only.

Example:
    sampler = Sampler("exports/stylegan_shapes")
    x, _ = sampler.sample(16, seed=0, truncation=0.7)
    x, _ = sampler.sample(16, seed=0, mix=1, crossover=4)    # styles 0-3 from seed 0, the rest from seed 1
"""

from __future__ import annotations

import math

import numpy as np

from genkit.errors import GenkitError

__all__ = ["StyleSampler"]


class StyleSampler:
    """The mapping and synthesis networks of a style export, as one sampler.

    Args:
        manifest: the loaded manifest (with its `style` section).
        run: `run(network, feeds, outputs, batch_size) -> [arrays]`, the Sampler's batched onnxruntime call.
    """

    def __init__(self, manifest: dict, run):
        self.name = manifest["name"]
        self.facts = manifest["style"]
        self.latent_dim = manifest["latent_dim"]
        self.num_ws = self.facts["num_ws"]
        self.w_avg = np.asarray(self.facts["w_avg"], np.float32)
        self.crossover = len(self.facts["coarse"])
        self._run = run

    def expected_shapes(self, image_shape) -> list[tuple]:
        """(network, side, tensor, shape, what) the exported networks must have, for the Sampler's check."""
        s = self.facts
        shapes = [
            (s["mapping"], "inputs", s["latent_input"], [None, self.latent_dim], "latent_dim"),
            (s["mapping"], "outputs", s["w_output"], [None, s["w_dim"]], "style.w_dim"),
            (s["synthesis"], "inputs", s["ws_input"], [None, self.num_ws, s["w_dim"]], "style.num_ws and w_dim"),
            (s["synthesis"], "outputs", s["output"], [None, *image_shape], "data.shape"),
        ]
        return shapes + [(s["synthesis"], "inputs", n["name"], [None, *n["shape"]], "style.noise_inputs") for n in s["noise_inputs"]]

    def values_per_sample(self) -> int:
        """float32 values one sample needs on the way (latents, styles, noise): for the budget check."""
        noise = sum(math.prod(n["shape"]) for n in self.facts["noise_inputs"])
        return 4 * self.latent_dim + 2 * self.num_ws * self.facts["w_dim"] + 2 * noise

    def check_options(self, truncation=None, mix=None, crossover=None) -> tuple[float, int]:
        """(ψ, k) from the caller's settings, or a GenkitError naming the flag."""
        psi = 1.0 if truncation is None else truncation
        if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not math.isfinite(psi):
            raise GenkitError(f"--truncation must be a finite number (ψ: 1 none, 0.5-0.7 typical, 0 the average image); got {truncation!r}.")
        if mix is None:
            if crossover is not None:
                raise GenkitError("--crossover chooses where the styles of --mix SEED take over; give --mix too.")
            return float(psi), self.num_ws
        if isinstance(mix, bool) or not isinstance(mix, (int, np.integer)) or mix < 0:
            raise GenkitError(f"--mix must be a non-negative integer seed (of the latents whose fine styles are used); got {mix!r}.")
        k = self.crossover if crossover is None else crossover
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < self.num_ws:
            raise GenkitError(
                f"--crossover must be an integer in [1, {self.num_ws - 1}]: styles 0..k-1 come from --seed, k..{self.num_ws - 1} "
                f"from --mix; {self.name} has {self.num_ws} styles (coarse {_span(self.facts['coarse'])}, fine "
                f"{_span(self.facts['fine'])}). Got {crossover!r}."
            )
        return float(psi), int(k)

    def styles(self, z, truncation: float = 1.0, batch_size: int = 256) -> np.ndarray:
        """w' = w_avg + ψ·(mapping(z) − w_avg), (N, w_dim)."""
        s = self.facts
        w = self._run(s["mapping"], {s["latent_input"]: np.asarray(z, np.float32)}, [s["w_output"]], batch_size)[0]
        return (self.w_avg + truncation * (w - self.w_avg)).astype(np.float32)

    def sample(self, n: int, seed, *, truncation=None, mix=None, crossover=None, batch_size: int = 256) -> np.ndarray:
        """n images (unclipped), drawn as the module docstring says."""
        psi, k = self.check_options(truncation, mix, crossover)
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((n, self.latent_dim))
        noise = [rng.standard_normal((n, *entry["shape"])) for entry in self.facts["noise_inputs"]]
        ws = np.repeat(self.styles(z, psi, batch_size)[:, None, :], self.num_ws, axis=1)  # (n, num_ws, w_dim)
        if mix is not None:
            z_mixed = np.random.default_rng(mix).standard_normal((n, self.latent_dim))
            ws[:, k:] = self.styles(z_mixed, psi, batch_size)[:, None, :]
        return self.synthesize(ws, noise, batch_size)

    def decode(self, z, batch_size: int = 256) -> np.ndarray:
        """Images of latents z (N, latent_dim) with ψ = 1 and the same noise images for every latent (seed 0)."""
        rng = np.random.default_rng(0)
        noise = [np.repeat(rng.standard_normal((1, *entry["shape"])), len(z), axis=0) for entry in self.facts["noise_inputs"]]
        return self.synthesize(np.repeat(self.styles(z, 1.0, batch_size)[:, None, :], self.num_ws, axis=1), noise, batch_size)

    def synthesize(self, ws, noise, batch_size: int = 256) -> np.ndarray:
        """synthesis(ws, noise): ws (N, num_ws, w_dim), noise one (N, H, W, 1) array per noise input, in order."""
        s = self.facts
        feeds = {s["ws_input"]: np.asarray(ws, np.float32)}
        feeds.update({entry["name"]: np.asarray(n, np.float32) for entry, n in zip(s["noise_inputs"], noise, strict=True)})
        return self._run(s["synthesis"], feeds, [s["output"]], batch_size)[0]


def _span(indices) -> str:
    return f"{indices[0]}..{indices[-1]}" if len(indices) > 1 else str(indices[0])
