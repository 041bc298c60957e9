"""Sample diffusion exports with onnxruntime and NumPy: ancestral, DDIM and ODE-solver loops, guidance.

The exported denoiser is one network call per step; the schedule and the update between
calls are `genkit.schedules`, the same NumPy the family trained with, rebuilt from the
manifest's `diffusion` section (and checked against the ᾱ_t it stores). `Sampler` opens a
diffusion export like any other and hands its `sample` calls to `DiffusionLoop`.

Why a Python loop around the ONNX denoiser rather than one ONNX graph per step: measured
with `benchmarks/diffusion.py`, a graph holding the denoiser and the update was no faster
than the denoiser plus the NumPy update here (51.0 vs 49.2 ms a step at batch 32; the
update costs 0.07-0.34 ms); the loop also lets one export serve every sampler, step count
and guidance scale.

Example:
    sampler = Sampler("exports/ddpm_cond_mnist")
    x, y = sampler.sample(100, labels=7, seed=0, steps=50, guidance_scale=3.0, progress=True)
"""

from __future__ import annotations

import sys
import time

import numpy as np

from genkit.errors import GenkitError
from genkit.schedules import SAMPLERS, make_schedule, sample_loop, sampler_timesteps

__all__ = ["DiffusionLoop", "ProgressBar", "diffusion_shapes"]

_SCHEDULE_TOLERANCE = 1e-6  # float32 ᾱ_t recomputed here vs stored by the exporter


class DiffusionLoop:
    """The schedule, the sampling defaults and the denoiser call of one diffusion export.

    A latent diffusion export (manifest `diffusion.latent`) denoises latents of its latent shape,
    divides the result by the scale factor and decodes it: the whole chain of Rombach et al. 2022.

    Args:
        manifest: the export's manifest (with `diffusion` and `sampling` sections).
        run: `run(feeds, outputs) -> [arrays]`, the denoiser as the `Sampler` runs it.
        decode: latent diffusion: `decode(z) -> images`, the first-stage decoder as the `Sampler` runs it.
    """

    def __init__(self, manifest: dict, run, decode=None):
        d, s = manifest["diffusion"], manifest["sampling"]
        self.name = manifest["name"]
        try:
            self.schedule = make_schedule(
                d["schedule"], int(d["timesteps"]), beta_start=d["beta_start"], beta_end=d["beta_end"]
            )
        except ValueError as err:
            raise GenkitError(
                f"{self.name}: the manifest's diffusion schedule is invalid ({err}); re-run `genkit export`."
            ) from None
        stored = d.get("alphas_cumprod")
        if stored is not None and not np.allclose(
            stored, self.schedule.alphas_cumprod, rtol=0, atol=_SCHEDULE_TOLERANCE
        ):
            raise GenkitError(
                f"{self.name}: the noise schedule this genkit computes differs from the one the model was "
                "trained with (manifest diffusion.alphas_cumprod). Sample it with the genkit version that exported it."
            )
        self.timesteps = self.schedule.timesteps
        self.latent = d.get("latent")
        if self.latent is not None and decode is None:
            raise GenkitError(f"{self.name}: a latent diffusion export samples through its decoder; pass decode.")
        # The shape the denoiser works on: the image, or a latent of a latent diffusion export.
        self._image_shape = tuple(self.latent["shape"] if self.latent else manifest["data"]["shape"])
        self._decode = decode
        self.prediction = d["prediction"]
        self.null_class = d.get("null_class")
        self.label_dropout = d.get("label_dropout")
        self.defaults = dict(d["sample"])
        self._run = run
        self._image, self._time, self._label, self._output = (
            s["image_input"],
            s["time_input"],
            s.get("label_input"),
            s["output"],
        )

    def options(self, *, steps=None, sampler=None, eta=None, guidance_scale=None, guidance_interval=None) -> dict:
        """The export's sampling defaults with the given overrides, checked."""
        o = {"guidance_interval": None, **self.defaults}  # exports before guidance_interval lack it
        given = {"steps": steps, "sampler": sampler, "eta": eta, "guidance_scale": guidance_scale,
                 "guidance_interval": guidance_interval}
        o.update({k: v for k, v in given.items() if v is not None})
        if o["sampler"] not in SAMPLERS:
            raise GenkitError(f"{self.name}: sampler must be one of {', '.join(SAMPLERS)}; got {o['sampler']!r}.")
        if (
            isinstance(o["steps"], bool)
            or not isinstance(o["steps"], (int, np.integer))
            or not 1 <= o["steps"] <= self.timesteps
        ):
            raise GenkitError(
                f"{self.name}: steps must be an integer in [1, {self.timesteps}] (the model's timesteps); got {o['steps']!r}."
            )
        if not 0.0 <= float(o["eta"]) <= 1.0:
            raise GenkitError(f"{self.name}: eta must lie in [0, 1]; got {o['eta']!r}.")
        if eta is not None and o["sampler"] != "ddim":
            raise GenkitError(f"{self.name}: eta applies to the ddim sampler, not {o['sampler']}.")
        if float(o["guidance_scale"]) < 0:
            raise GenkitError(f"{self.name}: guidance_scale must be >= 0; got {o['guidance_scale']!r}.")
        interval = o.get("guidance_interval")
        if interval is not None:
            if (
                not isinstance(interval, (list, tuple))
                or len(interval) != 2
                or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in interval)
                or not 0 <= interval[0] <= interval[1] < self.timesteps
            ):
                raise GenkitError(
                    f"{self.name}: guidance_interval must be two timesteps [low, high] with 0 <= low <= high <= "
                    f"{self.timesteps - 1}; got {interval!r}."
                )
            o["guidance_interval"] = (int(interval[0]), int(interval[1]))
        if (guidance_scale is not None and guidance_scale != 1.0) or guidance_interval is not None:
            if self._label is None:
                raise GenkitError(f"{self.name} is unconditional; guidance applies to class-conditional exports.")
            if self.label_dropout == 0:
                raise GenkitError(
                    f"{self.name} was trained without label dropout, so it has no unconditional model to guide with."
                )
        if guidance_interval is not None and float(o["guidance_scale"]) == 1.0:
            raise GenkitError(
                f"{self.name}: guidance_interval applies when guidance_scale is not 1; at 1 no step is guided. "
                "Give a guidance scale too (e.g. --guidance-scale 1.5)."
            )
        return o

    def sample(self, n: int, y, rng: np.random.Generator, *, progress: bool = False, **overrides) -> np.ndarray:
        """n images (unclipped) for labels `y` (int32 (n,) or None), noise from `rng`."""
        o = self.options(**overrides)
        bar = ProgressBar(o["steps"], f"{self.name}: {o['sampler']} {o['steps']} steps") if progress else None
        x = sample_loop(
            self.schedule,
            self._predict,
            (n, *self._image_shape),
            sequence=sampler_timesteps(self.schedule, o["sampler"], o["steps"]),
            sampler=o["sampler"],
            prediction=self.prediction,
            eta=float(o["eta"]),
            variance=o["variance"],
            clip=bool(o["clip_denoised"]),
            rng=rng,
            labels=y,
            null_class=self.null_class,
            guidance_scale=float(o["guidance_scale"]) if y is not None else 1.0,
            guidance_interval=o["guidance_interval"],  # sample_loop reads it only when it guides
            progress=bar.update if bar else None,
        )
        if bar:
            bar.close()
        if self.latent is not None:
            # The denoiser saw s·z: the latent is x̂_0 / s (forgetting s decodes latents of the wrong spread).
            x = self._decode(x / np.float32(self.latent["scale_factor"]))
        return x

    def _predict(self, x, t, y):
        feeds = {self._image: x, self._time: t}
        if self._label is not None:
            feeds[self._label] = y
        return self._run(feeds, [self._output])[0]


def diffusion_shapes(manifest: dict) -> list:
    """[(network, side, tensor, shape, what)]: the shapes the runtime feeds and reads, for `Sampler` to check.

    The denoiser works on images of data.shape, or on latents of diffusion.latent.shape, which
    a latent diffusion export's decoder then turns into images.
    """
    s, latent = manifest["sampling"], manifest["diffusion"].get("latent")
    image = [None, *manifest["data"]["shape"]]
    shape, what = ([None, *latent["shape"]], "diffusion.latent.shape") if latent else (image, "data.shape")
    wanted = [
        (s["network"], "inputs", s["image_input"], shape, what),
        (s["network"], "outputs", s["output"], shape, what),
    ]
    if latent is not None:
        wanted += [
            (latent["decoder"], "inputs", latent["latent_input"], shape, what),
            (latent["decoder"], "outputs", latent["output"], image, "data.shape"),
        ]
    return wanted


class ProgressBar:
    """`label [#####.....] 25/50 1.2 s` on stderr: redrawn in place on a terminal, one final line otherwise."""

    def __init__(self, total: int, label: str, *, stream=None, width: int = 30):
        self.total, self.label, self.width = total, label, width
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self.done = 0

    def _line(self) -> str:
        filled = self.width * self.done // max(self.total, 1)
        return f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} {time.perf_counter() - self.start:.1f} s"

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if self.live:
            self.stream.write("\r" + self._line())
            self.stream.flush()

    def close(self) -> None:
        self.stream.write(("\r" if self.live else "") + self._line() + "\n")
        self.stream.flush()
