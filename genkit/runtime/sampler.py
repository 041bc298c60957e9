"""Sample, decode, encode and reconstruct with an export's ONNX networks — no TensorFlow.

A latent-variable export (autoencoder, VAE, CVAE, GAN generator) samples in two steps:
draw `z` from the manifest's prior, then run the sampling network (the decoder or
generator) on `z` and, for conditional models, the class labels. A diffusion export
(DDPM) samples by running its denoiser once per step (`genkit.runtime.diffusion`).
A translation export (pix2pix, cyclegan) runs its generator for a direction ("ab", or "ba"
for cyclegan's second generator) on given images with `translate`.
Everything the sampler needs is in `manifest.json` (see `genkit.runtime.manifest`).

Example:
    sampler = Sampler("exports/cvae_mnist")
    x, y = sampler.sample(16, labels=3, seed=0)      # x: (16, 28, 28, 1) float32 in [0, 1]
    z = sampler.encode(x, y)
    print(sampler.provider)                          # "CPUExecutionProvider"
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np

from genkit.errors import GenkitError
from genkit.manifest import load_manifest
from genkit.runtime.codes import LatentCodes
from genkit.runtime.corruption import corrupt, corruption_settings
from genkit.runtime.diffusion import DiffusionLoop, diffusion_shapes
from genkit.runtime.prior import LatentPrior
from genkit.runtime.providers import ORT_ERRORS, make_session
from genkit.runtime.reconstruction import reconstruction_errors
from genkit.runtime.style import StyleSampler

__all__ = ["MAX_OUTPUT_VALUES", "MAX_SAMPLES", "Sampler", "check_count", "positive_int"]

# Budgets checked before anything is allocated (see `check_count`).
MAX_SAMPLES = 100_000  # images one call draws, decodes, encodes or translates
MAX_OUTPUT_VALUES = 2**28  # their float32 values in all: 1 GiB (e.g. 100,000 28x28 digits are 78 M)

# onnxruntime's tensor type names -> NumPy dtype names (the manifest's dtypes).
_ORT_DTYPES = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16", "tensor(bool)": "bool",
    "tensor(int8)": "int8", "tensor(int16)": "int16", "tensor(int32)": "int32", "tensor(int64)": "int64",
    "tensor(uint8)": "uint8", "tensor(uint16)": "uint16", "tensor(uint32)": "uint32", "tensor(uint64)": "uint64",
}


class Sampler:
    """The networks of one export, opened with onnxruntime.

    Args:
        export_dir: the folder holding `manifest.json` and the `.onnx` files.
        provider: "cpu" or "cuda" to force a device (default: see `make_session`).

    Raises GenkitError when the folder, its manifest or a listed ONNX file is missing.
    An export whose family cannot sample (manifest `sampling: null`) still opens, for
    `encode`; `sample`/`decode` then raise a GenkitError saying so.
    """

    def __init__(self, export_dir: str | Path, *, provider: str | None = None):
        self.export_dir = Path(export_dir)
        self.manifest = load_manifest(self.export_dir)
        m = self.manifest
        self.name: str = m["name"]
        self.family: str = m["family"]
        self.image_shape = tuple(m["data"]["shape"])
        self.value_range = tuple(float(v) for v in m["data"]["range"])
        self.num_classes: int | None = m["data"].get("num_classes")
        self.latent_dim: int | None = m.get("latent_dim")
        self.is_diffusion = m.get("diffusion") is not None
        self._sampling = m.get("sampling")
        self._encoding = m.get("encoding")
        self._prior = LatentPrior.from_manifest(m) if self._sampling and not self.is_diffusion else None
        self.codes = LatentCodes.from_manifest(m) if m.get("codes") else None  # InfoGAN: codes beside z

        # Open every network the manifest uses now, so a missing file fails here.
        self._sessions = {}
        self._recording: dict | None = None  # network -> the batches it ran, inside recording_feeds()
        self.provider: str | None = None
        self._translation = m.get("translation") or {}
        recognition = self.codes.recognition if self.codes else None
        latent = (m.get("diffusion") or {}).get("latent")  # latent diffusion: its decoder runs after the denoiser
        for section in (self._sampling, self._encoding, *self._translation.values(), recognition, latent and {"network": latent["decoder"]}):
            if section and section["network"] not in self._sessions:
                self._sessions[section["network"]] = self._open(section["network"], provider)
        self.style = StyleSampler(m, self._run) if m.get("style") else None  # stylegan: mapping, then synthesis
        for network in (self.style.facts["mapping"], self.style.facts["synthesis"]) if self.style else ():
            if network not in self._sessions:
                self._sessions[network] = self._open(network, provider)
        self._check_shapes()
        self._diffusion = None
        if self.is_diffusion and self._sampling:
            network = self._sampling["network"]
            decode = latent and (lambda z: self._run(latent["decoder"], {latent["latent_input"]: z}, [latent["output"]], self._batch_size)[0])
            self._diffusion = DiffusionLoop(m, lambda feeds, outputs: self._run(network, feeds, outputs, self._batch_size), decode)
        self._batch_size = 256

    @property
    def conditional(self) -> bool:
        """True when the sampling network takes class labels."""
        return bool(self._sampling and self._sampling.get("label_input"))

    # ------------------------------------------------------------------ sampling side
    def diffusion_options(self, **overrides) -> dict:
        """Diffusion exports: the sampler settings `sample` would use (steps <= timesteps, ...), checked."""
        if self._diffusion is None:
            raise GenkitError(f"{self.name} is a '{self.family}' export, not a diffusion export that samples.")
        return self._diffusion.options(**overrides)

    def sample(
        self, n: int, labels=None, seed: int | None = None, batch_size: int = 256, *, progress: bool = False, truncation=None, mix=None, crossover=None, codes=None, **diffusion
    ):
        """Draw `n` samples; returns `(x, y)`.

        `n` is checked before anything is allocated: 1 <= n <= MAX_SAMPLES (100,000), and the
        images' float32 values at most MAX_OUTPUT_VALUES (1 GiB) in all (see `check_count`).

        `x` is float32 `(n, H, W, C)` clipped to the data range. For conditional models `y`
        is int32 `(n,)`: `labels=None` cycles 0..K-1, an int gives every sample that class,
        an array gives one label per sample. For unconditional models `y` is None.
        The same `seed` gives the same samples whatever `batch_size` is. Style exports (stylegan)
        take `truncation` (ψ), `mix` (a second seed) and `crossover` (see `genkit.runtime.style`).

        Diffusion exports take `steps`, `sampler` (genkit.schedules.SAMPLERS), `eta`,
        `guidance_scale` and `guidance_interval` (default: the manifest's `diffusion.sample`), and `progress=True`
        draws a progress bar on stderr. InfoGAN exports take `codes` (name -> a value, or one per
        sample; the others are drawn from their priors, see `genkit.runtime.codes`).
        """
        if codes and self.codes is None:
            raise GenkitError(f"{self.name} is a '{self.family}' export without latent codes; codes (--code) apply to InfoGAN exports.")
        styling = [name for name, value in (("truncation", truncation), ("mix", mix), ("crossover", crossover)) if value is not None]
        if styling and self.style is None:
            flags = ", ".join(f"{name} (--{name})" for name in styling)
            raise GenkitError(f"{flags}: for style-based exports (stylegan); {self.name} is a '{self.family}' export.")
        if self._diffusion is not None:
            n = check_count(n, "n", self.image_shape)
            y = self._labels(n, labels)
            self._batch_size = positive_int(batch_size, "batch_size")
            x = self._diffusion.sample(n, y, np.random.default_rng(seed), progress=progress, **diffusion)
            return np.clip(x, *self.value_range, out=x), y
        if diffusion:
            raise GenkitError(f"{', '.join(sorted(diffusion))} apply to diffusion exports; {self.name} is a '{self.family}' export.")
        if self.style is not None:
            n = check_count(n, "n", self.image_shape, extra_values=self.style.values_per_sample())
            batch_size = positive_int(batch_size, "batch_size")
            x = self.style.sample(n, seed, truncation=truncation, mix=mix, crossover=crossover, batch_size=batch_size)
            return np.clip(x, *self.value_range, out=x), None
        self._require_sampling()
        n = check_count(n, "n", self.image_shape, extra_values=2 * self.latent_dim)  # + the float64 latents
        y = self._labels(n, labels)
        rng = np.random.default_rng(seed)
        z = self._prior.draw(rng, n, y)  # (n, latent_dim); a per-class prior draws from each label's Gaussian
        if self.codes is not None:
            z = self.codes.fill(z, self.codes.draw(rng, n, codes))
        return self.decode(z, y, batch_size=batch_size), y

    def decode(self, z, y=None, *, batch_size: int = 256) -> np.ndarray:
        """Run the sampling network on latents `z` `(N, latent_dim)` (and labels `y`)."""
        spec = self._require_sampling()
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise GenkitError(f"{self.name}: z must have shape (N, {self.latent_dim}); got {z.shape}.")
        if len(z):
            check_count(len(z), "the number of latents", self.image_shape)
        if not np.isfinite(z).all():
            raise GenkitError(f"{self.name}: z holds NaN or infinite values.")
        if self.style is not None:
            if y is not None:
                raise GenkitError(f"{self.name} is unconditional; it takes no labels.")
            x = self.style.decode(z, batch_size)
            return np.clip(x, *self.value_range, out=x)
        feeds = {spec["latent_input"]: z}
        if self.conditional:
            if y is None:
                raise GenkitError(f"{self.name} is conditional: pass one label per latent.")
            feeds[spec["label_input"]] = self._check_labels(y, len(z))
        elif y is not None:
            raise GenkitError(f"{self.name} is unconditional; it takes no labels.")
        x = self._run(spec["network"], feeds, [spec["output"]], batch_size)[0]
        return np.clip(x, *self.value_range, out=x)

    # ------------------------------------------------------------------ encoding side
    def encode(self, x, y=None, *, batch_size: int = 256) -> np.ndarray:
        """Latent codes of images `x` `(N, H, W, C)`: the encoder's first output (z_mean or z)."""
        spec = self._encoding
        if spec is None:
            raise GenkitError(f"{self.name} ({self.family}) was exported without an encoder; it cannot encode.")
        x = self._images(x)
        feeds = {spec["image_input"]: x}
        if spec.get("label_input"):
            if y is None:
                raise GenkitError(f"{self.name}'s encoder is conditional: pass one label per image.")
            feeds[spec["label_input"]] = self._check_labels(y, len(x))
        return self._run(spec["network"], feeds, spec["outputs"][:1], batch_size)[0]

    def infer_codes(self, x, *, batch_size: int = 256) -> dict:
        """InfoGAN exports: the codes the recognition network reads from images `x`: name -> `(N,)` class or mean."""
        recognition = self.codes.recognition if self.codes else None
        if recognition is None:
            raise GenkitError(f"{self.name} ({self.family}) was exported without a network that reads latent codes from images.")
        x = self._images(x)
        outputs = list(recognition["outputs"].values())
        return self.codes.read(dict(zip(outputs, self._run(recognition["network"], {recognition["image_input"]: x}, outputs, batch_size))))

    def reconstruct(self, x, y=None, *, batch_size: int = 256) -> np.ndarray:
        """Decode the encoding of `x`: the model's reconstruction, in the data range (of `corrupt(x)`: denoised)."""
        return self.decode(self.encode(x, y, batch_size=batch_size), y, batch_size=batch_size)

    def score(self, x, y=None, *, metric: str = "mse", batch_size: int = 256) -> np.ndarray:
        """Anomaly score per image, `(N,)`: its reconstruction error (`genkit score`; see `genkit.runtime.anomaly`)."""
        return reconstruction_errors(self, x, y, metric=metric, batch_size=batch_size)

    def corrupt(self, x, corruption: str | None = None, noise: float | None = None, *, seed: int | None = None) -> np.ndarray:
        """`x` corrupted as a denoising autoencoder is trained (`genkit.runtime.corruption`): by default a
        denoising_ae export's own `loss.corruption` and level; `corruption` ("masking" or "gaussian")
        and `noise` (its masking rate or σ) replace them, and are needed for any other export."""
        settings = corruption_settings(self.manifest, corruption, noise)
        if settings is None:
            raise GenkitError(f"{self.name} is a '{self.family}' export without corruption settings; pass corruption= and noise=.")
        return corrupt(self._images(x), *settings, self.value_range, seed)

    # ------------------------------------------------------------------ translation side
    @property
    def directions(self) -> tuple:
        """The directions this export translates: ("ab",) for pix2pix, ("ab", "ba") for cyclegan, () otherwise."""
        return tuple(self._translation)

    def translate(self, x, direction: str = "ab", *, batch_size: int = 256) -> np.ndarray:
        """The export's translation of images `x` `(N, H, W, C)` (in the data range), clipped to it."""
        if not self._translation:
            raise GenkitError(f"{self.name} is a '{self.family}' export; it does not translate images.")
        if direction not in self._translation:
            raise GenkitError(f"{self.name} translates in the direction(s) {', '.join(self._translation)}; got {direction!r}.")
        spec = self._translation[direction]
        x = self._images(x)
        y = self._run(spec["network"], {spec["input"]: x}, [spec["output"]], batch_size)[0]
        return np.clip(y, *self.value_range, out=y)

    # ------------------------------------------------------------------ helpers
    @contextlib.contextmanager
    def recording_feeds(self):
        """Inside the block, every batch each network runs is kept: yields {network: [feeds, ...]}, what
        the runtime really feeds its sessions (quantisation calibrates and checks parity on these)."""
        self._recording = {}
        try:
            yield self._recording
        finally:
            self._recording = None

    def _images(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != self.image_shape:
            raise GenkitError(f"{self.name}: images must have shape (N, {', '.join(map(str, self.image_shape))}); got {x.shape}.")
        return x

    def _open(self, network: str, provider: str | None):
        entry = self.manifest["networks"][network]
        path = self.export_dir / entry["file"]
        if not path.is_file():
            raise GenkitError(
                f"Export {self.export_dir} is incomplete: {entry['file']} (network '{network}') "
                "is listed in manifest.json but missing. Re-run `genkit export`."
            )
        session, used = make_session(path, provider=provider)
        self.provider = self.provider or used
        self._check_io(network, path, entry, session)
        dtypes = {io["name"]: np.dtype(io["dtype"]) for io in entry["inputs"]}
        return session, dtypes

    def _check_io(self, network: str, path: Path, entry: dict, session) -> None:
        """The ONNX file's real inputs/outputs are the manifest's (names, dtypes, fixed dimensions).

        A swapped or copied file (encoder.onnx holding the decoder) fails here, not mid-run.
        """
        redo = "The file does not belong to this manifest (swapped, copied or edited); re-run `genkit export`."
        for side, real in (("inputs", session.get_inputs()), ("outputs", session.get_outputs())):
            listed = {io["name"]: io for io in entry[side]}
            actual = {arg.name: arg for arg in real}
            if set(listed) != set(actual):
                raise GenkitError(
                    f"{path} has {side} {sorted(actual)}, but manifest.json lists {sorted(listed)} for "
                    f"network '{network}'. {redo}"
                )
            for name, arg in actual.items():
                want, dtype = listed[name], _ORT_DTYPES.get(arg.type, arg.type)
                if dtype != want["dtype"]:
                    raise GenkitError(
                        f"{path}: {side[:-1]} '{name}' is {dtype}, but manifest.json says {want['dtype']}. {redo}"
                    )
                if not _same_shape(arg.shape, want["shape"]):
                    raise GenkitError(
                        f"{path}: {side[:-1]} '{name}' has shape {_shape_text(arg.shape)}, but manifest.json says "
                        f"{_shape_text(want['shape'])}. {redo}"
                    )

    def _check_shapes(self) -> None:
        """The networks' image and latent tensors fit data.shape and latent_dim, as the runtime feeds them."""
        image = [None, *self.image_shape]
        wanted = []  # (network, side, tensor name, expected shape, what)
        s = self._sampling
        if s and self.is_diffusion:
            wanted += diffusion_shapes(self.manifest)  # the denoiser's (and a latent diffusion decoder's)
        elif s and self.style is None:
            wanted += [(s["network"], "inputs", s["latent_input"], [None, self.latent_dim], "latent_dim"),
                       (s["network"], "outputs", s["output"], image, "data.shape")]
        if self._encoding:
            e = self._encoding
            wanted.append((e["network"], "inputs", e["image_input"], image, "data.shape"))
            wanted.append((e["network"], "outputs", e["outputs"][0], [None, self.latent_dim], "latent_dim"))
        for t in self._translation.values():
            wanted += [(t["network"], "inputs", t["input"], image, "data.shape"),
                       (t["network"], "outputs", t["output"], image, "data.shape")]
        if self.style is not None:
            wanted += self.style.expected_shapes(self.image_shape)
        for network, side, name, shape, what in wanted:
            if what == "latent_dim" and self.latent_dim is None:
                continue
            session = self._sessions[network][0]
            real = next(arg.shape for arg in getattr(session, f"get_{side}")() if arg.name == name)
            if not _same_shape(real, shape):
                raise GenkitError(
                    f"{self.export_dir}: network '{network}' {side[:-1]} '{name}' has shape {_shape_text(real)}, "
                    f"which does not fit manifest.json's {what} ({_shape_text(shape)}). Re-run `genkit export`."
                )

    def _require_sampling(self) -> dict:
        if self._sampling is None:
            raise GenkitError(
                f"{self.name} is a '{self.family}' export that cannot sample "
                "(its manifest has sampling: null); use encode/reconstruct instead."
            )
        if self.is_diffusion:
            raise GenkitError(
                f"{self.name} is a diffusion export: it has no latent code to decode. Use sample(), "
                "which runs its denoiser step by step."
            )
        return self._sampling

    def _labels(self, n: int, labels) -> np.ndarray | None:
        if not self.conditional:
            if labels is not None:
                raise GenkitError(f"{self.name} is unconditional; labels (--label) apply to conditional exports.")
            return None
        if labels is None:
            return np.arange(n, dtype=np.int32) % self.num_classes
        if isinstance(labels, (int, np.integer)) and not isinstance(labels, bool):
            return self._check_labels(np.full(n, labels), n)
        return self._check_labels(labels, n)

    def _check_labels(self, y, n: int) -> np.ndarray:
        y = np.asarray(y)
        if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
            raise GenkitError(f"{self.name}: labels must be {n} integers, shape ({n},); got {y.dtype} {y.shape}.")
        bad = y[(y < 0) | (y >= self.num_classes)]
        if bad.size:
            raise GenkitError(
                f"{self.name}: label {int(bad[0])} is outside [0, {self.num_classes}); "
                f"this model has {self.num_classes} classes, 0..{self.num_classes - 1}."
            )
        return y.astype(np.int32)

    def _run(self, network: str, feeds: dict, outputs: list[str], batch_size: int) -> list[np.ndarray]:
        batch_size = positive_int(batch_size, "batch_size")
        session, dtypes = self._sessions[network]
        feeds = {name: value.astype(dtypes[name], copy=False) for name, value in feeds.items()}
        total = len(next(iter(feeds.values())))
        chunks = []
        try:
            for i in range(0, max(total, 1), batch_size):  # one (empty) run when total == 0
                batch = {name: value[i : i + batch_size] for name, value in feeds.items()}
                if self._recording is not None:
                    self._recording.setdefault(network, []).append({name: np.array(v) for name, v in batch.items()})
                chunks.append(session.run(outputs, batch))
        except ORT_ERRORS as exc:
            reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise GenkitError(
                f"onnxruntime could not run network '{network}' of {self.export_dir}: {reason}. Its ONNX file "
                "may not match manifest.json; re-run `genkit export`."
            ) from None
        return [np.concatenate([c[k] for c in chunks]) for k in range(len(outputs))]


def _same_shape(real, listed) -> bool:
    """Same rank, and equal wherever both give a fixed size (a str/None dimension is free)."""
    if real is None or listed is None or len(real) != len(listed):
        return False
    return all(not isinstance(a, int) or not isinstance(b, int) or a == b for a, b in zip(real, listed))


def _shape_text(shape) -> str:
    return "(" + ", ".join("N" if not isinstance(d, int) else str(d) for d in shape) + ")"


def check_count(n, name: str, image_shape, *, limit: int = MAX_SAMPLES, extra_values: int = 0) -> int:
    """`n` as an int in [1, limit] whose float32 images `(n, *image_shape)` fit MAX_OUTPUT_VALUES.

    `extra_values`: more values each item needs on the way (e.g. a float64 latent counts
    2 x latent_dim). Checked before anything is allocated; `name` names the argument
    (e.g. "--n") in the error.
    """
    n = positive_int(n, name)
    per_item = math.prod(image_shape) + extra_values
    most = min(limit, max(1, MAX_OUTPUT_VALUES // max(per_item, 1)))
    if n > most:
        why = (
            f"at most {limit:,} at a time"
            if most == limit
            else f"{n:,} x {per_item:,} values would be {n * per_item * 4 / 2**30:.1f} GiB of float32; the budget "
            f"is {MAX_OUTPUT_VALUES * 4 / 2**30:.0f} GiB, so at most {most:,} at a time"
        )
        raise GenkitError(f"{name} is {n:,}: {why}. Ask for several smaller batches instead.")
    return n


def positive_int(value, name: str) -> int:
    """`value` as an int; a GenkitError names it (`name`) unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise GenkitError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)
