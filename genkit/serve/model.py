"""`ServedModel`: one export behind the service — what it accepts, its checks, and its batched calls.

The export is a `genkit.runtime.Sampler`; every request runs on the model's `ModelWorker`
thread. Sample requests with the same settings share a key, so the worker can run several as
one call: each request's draws come from its own seed (`StackedGenerator`), so a request gets
the images its seed gives alone, whatever it was batched with. Requests that decode given
latents (`z`, the page's latent map) batch with each other; translations and anomaly scores
run one request per call.

Example:
    model = ServedModel("exports/cvae_mnist")
    job = model.sample_job(SampleRequest(n=16, label=3, seed=0), max_n=256)
    x, y = model.worker.submit(job).result()
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np

from genkit.errors import GenkitError
from genkit.runtime.latent.maths import prior_moments
from genkit.runtime.reconstruction import METRICS, reconstruction_errors, require_reconstruction
from genkit.runtime.sampler import Sampler, check_count
from genkit.schedules import SAMPLERS
from genkit.serve.batcher import Job, ModelWorker
from genkit.serve.requests import SampleRequest
from genkit.serve.stacked_rng import StackedGenerator

__all__ = ["DEFAULT_N", "ServedModel"]

DEFAULT_N = 16  # images a sample request without n (or z) draws
_DIFFUSION_FIELDS = ("steps", "sampler", "eta", "guidance_scale", "guidance_interval")
_STYLE_FIELDS = ("truncation", "mix", "crossover")
_BOX_SIGMAS = 3.0  # the latent map spans the prior's mean ± 3 standard deviations per axis


@dataclass
class _Draw:
    """One sample request, checked: its image count, labels, seed, or the latents it decodes."""

    n: int
    labels: np.ndarray | None
    seed: int
    z: np.ndarray | None = None


class ServedModel:
    """An export opened with onnxruntime and its worker thread.

    Args:
        export_dir: the export folder (manifest.json and ONNX files).
        max_batch, max_queue, window_s: the worker's micro-batching settings (see `ModelWorker`).
    """

    def __init__(self, export_dir, *, max_batch: int = 64, max_queue: int = 64, window_s: float = 0.005):
        self.sampler = Sampler(export_dir)
        self.name = self.sampler.name
        s = self.sampler
        self.samples = s.manifest.get("sampling") is not None and not s.directions
        self.decodes = self.samples and not s.is_diffusion  # a latent to decode: the `z` field
        try:
            require_reconstruction(s)
            self.scores = True
        except GenkitError:
            self.scores = False
        self.worker = ModelWorker(self.name, self._run_batch, max_batch=max_batch, max_queue=max_queue, window_s=window_s)

    # ------------------------------------------------------------------ what it accepts
    def describe(self) -> dict:
        """The model as GET /v1/models lists it: data, classes, and what each endpoint accepts."""
        s, m = self.sampler, self.sampler.manifest
        diffusion = m.get("diffusion")
        sample = None
        if self.samples:
            sample = {
                "labels": list(range(s.num_classes)) if s.conditional else None,
                "z": self.decodes,
                "steps": {"default": diffusion["sample"]["steps"], "max": diffusion["timesteps"]} if diffusion else None,
                "samplers": list(SAMPLERS) if diffusion else None,
                "sampler": diffusion["sample"]["sampler"] if diffusion else None,
                "guidance_scale": bool(diffusion and s.conditional and diffusion.get("label_dropout") != 0),
                "guidance_interval": bool(diffusion and s.conditional and diffusion.get("label_dropout") != 0),
                "truncation": s.style is not None,
                "mix": s.style is not None,
                "codes": [{k: v[k] for k in ("name", "kind", "size", "prior") if k in v} for v in s.codes.variables] if s.codes else None,
            }
        return {
            "name": self.name,
            "family": s.family,
            "data": {"shape": list(s.image_shape), "range": list(s.value_range), "num_classes": s.num_classes},
            "latent_dim": s.latent_dim,
            "latent_box": self.latent_box() if self.decodes else None,
            "endpoints": [e for e, on in (("sample", self.samples), ("translate", bool(s.directions)), ("score", self.scores)) if on],
            "sample": sample,
            "translate": {"directions": list(s.directions)} if s.directions else None,
            "score": {"metrics": list(METRICS), "labels": s.conditional} if self.scores else None,
            "provider": s.provider,
        }

    def latent_box(self) -> list[list[float]]:
        """Per latent dimension, [low, high]: the prior's range (uniform) or mean ± 3 standard deviations."""
        prior, d = self.sampler.manifest["prior"], self.sampler.latent_dim
        if prior["kind"] == "uniform":
            return [[float(prior["low"]), float(prior["high"])]] * d
        if prior["kind"] in ("gaussian", "mixture"):
            mean, std = prior_moments(prior, d)
            return [[float(mu - _BOX_SIGMAS * sd), float(mu + _BOX_SIGMAS * sd)] for mu, sd in zip(mean, std)]
        spread = _BOX_SIGMAS * float(prior.get("std") or 1.0)
        return [[-spread, spread]] * d

    # ------------------------------------------------------------------ sample requests
    def sample_job(self, request: SampleRequest, *, max_n: int) -> Job:
        """The checked job for a sample request; a GenkitError names the field that is wrong."""
        s = self.sampler
        if not self.samples:
            raise GenkitError(f"{self.name} is a '{s.family}' export that does not draw samples; it answers {', '.join(self.describe()['endpoints'])}.")
        given = request.model_dump(exclude_none=True, exclude={"format", "n", "label", "seed", "z"})
        extra = [f for f in given if (f in _DIFFUSION_FIELDS and not s.is_diffusion) or (f in _STYLE_FIELDS and s.style is None)
                 or (f == "codes" and s.codes is None)]
        if extra:
            raise GenkitError(f"{', '.join(extra)}: {self.name} is a '{s.family}' export, which does not take {'it' if len(extra) == 1 else 'them'}. "
                              "GET /v1/models lists what each model accepts.")
        z = self._latents(request)
        n = len(z) if z is not None else (DEFAULT_N if request.n is None else request.n)
        if request.n is not None and z is not None and request.n != len(z):
            raise GenkitError(f"n is {request.n} but z holds {len(z)} latents; give one of them, or the same count.")
        if n > max_n:
            raise GenkitError(f"n is {n:,}: this server answers at most {max_n:,} images a request (genkit serve --max-n). Ask several times.")
        check_count(n, "n", s.image_shape)
        if s.is_diffusion:
            s.diffusion_options(**{k: given[k] for k in _DIFFUSION_FIELDS if k in given})  # steps etc., checked now
        if s.style is not None:
            s.style.check_options(*(given.get(k) for k in _STYLE_FIELDS))
        if s.codes is not None and "codes" in given:
            s.codes.check(given["codes"], 1)
        seed = secrets.randbelow(2**32) if request.seed is None else request.seed
        key = ("decode",) if z is not None else ("sample", *sorted((k, _hashable(v)) for k, v in given.items()))
        return Job(key=key, n=n, payload=(given, _Draw(n, self._labels(request.label, n), seed, z)))

    def _latents(self, request: SampleRequest) -> np.ndarray | None:
        if request.z is None:
            return None
        if not self.decodes:
            raise GenkitError(f"z: {self.name} is a '{self.sampler.family}' export without a latent to decode; leave z out.")
        z = np.asarray(request.z, dtype=np.float64)
        d = self.sampler.latent_dim
        if z.ndim != 2 or z.shape[1] != d or len(z) == 0:
            raise GenkitError(f"z must be a list of latents of {d} numbers each, e.g. [[{', '.join(['0.0'] * d)}]]; got shape {z.shape}.")
        if not np.isfinite(z).all():
            raise GenkitError("z holds a value that is not a finite number.")
        return z.astype(np.float32)

    def _labels(self, label: int | None, n: int) -> np.ndarray | None:
        s = self.sampler
        if not s.conditional:
            if label is not None:
                raise GenkitError(f"label: {self.name} is an unconditional '{s.family}' export; leave label out.")
            return None
        if label is None:
            return np.arange(n, dtype=np.int32) % s.num_classes  # what Sampler.sample draws for one request
        if label >= s.num_classes:
            raise GenkitError(f"label is {label}: {self.name} has {s.num_classes} classes, 0..{s.num_classes - 1}.")
        return np.full(n, label, dtype=np.int32)

    # ------------------------------------------------------------------ uploads
    def translate_job(self, x: np.ndarray, direction: str | None) -> Job:
        s = self.sampler
        if not s.directions:
            raise GenkitError(f"{self.name} is a '{s.family}' export; translate applies to translation exports (pix2pix, cyclegan).")
        direction = direction or s.directions[0]
        if direction not in s.directions:
            raise GenkitError(f"direction: {self.name} translates {' and '.join(s.directions)}; got {direction!r}.")
        return Job(key=None, n=len(x), payload=lambda: s.translate(x, direction, batch_size=max(len(x), 1)))

    def score_job(self, x: np.ndarray, metric: str, label: int | None) -> Job:
        if not self.scores:
            raise GenkitError(f"{self.name} is a '{self.sampler.family}' export; score needs an export with an encoder and a decoder (autoencoders).")
        if metric not in METRICS:
            raise GenkitError(f"metric: got {metric!r}; expected one of {', '.join(METRICS)}.")
        if self.sampler.conditional and label is None:
            raise GenkitError(f"label: {self.name} is conditional; give the class of the uploaded images.")
        y = self._labels(label, len(x))
        return Job(key=None, n=len(x), payload=lambda: reconstruction_errors(self.sampler, x, y, metric=metric, batch_size=max(len(x), 1)))

    # ------------------------------------------------------------------ the worker's call
    def _run_batch(self, payloads: list) -> list:
        """Run payloads sharing one key as one onnxruntime call (one per network, or per diffusion step)."""
        if callable(payloads[0]):
            return [payloads[0]()]
        given, draws = payloads[0][0], [draw for _, draw in payloads]
        total = sum(d.n for d in draws)
        labels = None if draws[0].labels is None else np.concatenate([d.labels for d in draws])
        if draws[0].z is not None:
            x, y = self.sampler.decode(np.concatenate([d.z for d in draws]), labels, batch_size=total), labels
        else:
            rng = StackedGenerator([np.random.default_rng(d.seed) for d in draws], [d.n for d in draws])
            x, y = self.sampler.sample(total, labels=labels, seed=rng, batch_size=total, **given)
        ends = np.cumsum([d.n for d in draws])[:-1]
        ys = [None] * len(draws) if y is None else np.split(y, ends)
        return [(xi, yi, d.seed) for xi, yi, d in zip(np.split(x, ends), ys, draws, strict=True)]


def _hashable(value):
    return tuple(sorted(value.items())) if isinstance(value, dict) else value
