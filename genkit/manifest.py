"""The export manifest: where an export says what it holds and how to sample it.

`genkit.export.export_networks` writes `manifest.json`; `Sampler` reads it. Format 1:

    {"format": 1, "name": "cvae_mnist", "family": "cvae",
     "data": {"shape": [28, 28, 1], "range": [0.0, 1.0], "num_classes": 10},
     "latent_dim": 16,
     "prior": {"kind": "standard_normal"},          # or "gaussian" with mean, scale_tril
     "sampling": {"network": "decoder", "latent_input": "z", "label_input": "y",
                  "output": "x"},                    # label_input null: unconditional;
                                                     # sampling null: cannot sample
     "encoding": {"network": "encoder", "image_input": "x", "label_input": "y",
                  "outputs": ["z_mean", "z_log_var"]},   # or null
     "diffusion": null,                              # a section here marks a diffusion export:
                                                     # schedule, timesteps, beta_start, beta_end,
                                                     # prediction, null_class, sample defaults;
                                                     # its "sampling" names image_input, time_input,
                                                     # label_input and output instead of a latent
     "translation": null,                            # translation families (pix2pix, cyclegan):
                                                     # {"ab": {"network": "generator", "input": "x",
                                                     # "output": "y"}, "ba": ...}, one per direction
     "networks": {"decoder": {"file": "decoder.onnx",
                              "inputs": [{"name": "z", "shape": [null, 16], "dtype": "float32"}, ...],
                              "outputs": [...], "parity_max_abs_diff": 2e-7,
                              "parity_tolerance": 1e-4}, ...},
     "versions": {"genkit": ..., "tensorflow": ..., "keras": ..., "tf2onnx": ...,
                  "onnx": ..., "onnxruntime": ..., "opset": 17},
     "created_utc": "2026-01-01T00:00:00+00:00",
     "sample_grid": "samples.png"}

`ExportPlan` is what a family hands the exporter: the networks to export and the typed facts
above (prior, sampling, encoding, diffusion, translation, each network's output names).

TensorFlow-free (pydantic and the standard library): the exporter, the evaluator, the trainer
and the TensorFlow-free runtime all import it.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from pydantic import field_validator, model_validator

from genkit.errors import GenkitError, dotted_path

__all__ = [
    "DIFFUSION_KEYS",
    "DTYPES",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "MAX_CLASSES",
    "MAX_LATENT_DIM",
    "MAX_MANIFEST_BYTES",
    "MAX_SAMPLE_VALUES",
    "MAX_TIMESTEPS",
    "Encoding",
    "ExportPlan",
    "Manifest",
    "Sampling",
    "TranslationDirection",
    "check_references",
    "load_manifest",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
# What the runtime needs to rebuild a diffusion export's schedule and sampler.
DIFFUSION_KEYS = ("schedule", "timesteps", "beta_start", "beta_end", "prediction", "null_class", "sample")

# Limits `load_manifest` enforces before the runtime allocates anything from a manifest's numbers.
# manifest.json itself. A DDPM's 1000 alphas and its spec are ~60 kB, but an autoencoder's fitted
# Gaussian prior holds a latent_dim x latent_dim Cholesky factor as JSON: 22 MB for the 1000-unit
# sparse_ae code. 64 MiB admits codes of ~1,700 units; parsing it stays under ~1 GB.
MAX_MANIFEST_BYTES = 64 * 2**20
MAX_SAMPLE_VALUES = 2**24  # data.shape's product: 16,777,216 values per image (e.g. 2048 x 2048 x 3 is 12.6 M)
MAX_LATENT_DIM = 65_536
MAX_CLASSES = 100_000
MAX_TIMESTEPS = 100_000  # diffusion.timesteps (DDPM uses 1000)
MAX_TENSOR_RANK = 8
DTYPES = ("bool", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def load_manifest(export_dir: str | Path) -> dict:
    """Read and check `export_dir/manifest.json`; every problem is one GenkitError.

    The file is read only when it is at most `MAX_MANIFEST_BYTES`; it is validated with
    `Manifest` (types, ranges, caps: see there) and then `check_references`. Returns the
    validated manifest as a plain dict (`Manifest.model_dump()`): every field the model
    declares is present (None when absent), and unknown keys are kept as they were.
    """
    export_dir = Path(export_dir)
    if not export_dir.exists():
        raise GenkitError(
            f"Export folder {export_dir} does not exist. Pass the folder written by "
            "`genkit export` or `genkit run` (e.g. exports/<name>)."
        )
    if not export_dir.is_dir():
        raise GenkitError(f"{export_dir} is a file; expected an export folder holding {MANIFEST_NAME}.")
    path = export_dir / MANIFEST_NAME
    if not path.is_file():
        raise GenkitError(
            f"{export_dir} is not a genkit export: it has no {MANIFEST_NAME}. Re-run `genkit export` for this model."
        )
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise GenkitError(
                f"{path} is {size:,} bytes; a genkit manifest is at most {MAX_MANIFEST_BYTES:,}. "
                "It is not one genkit wrote: re-run `genkit export`."
            )
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise GenkitError(f"{path} is not valid JSON ({exc}); re-run `genkit export`.") from None
    except OSError as exc:
        raise GenkitError(f"cannot read {path}: {exc.strerror or exc}.") from None
    if not isinstance(manifest, dict):
        raise GenkitError(f"{path}: expected a JSON object, got {type(manifest).__name__}.")
    fmt = manifest.get("format")
    if fmt != MANIFEST_FORMAT or isinstance(fmt, bool):
        raise GenkitError(
            f"{path}: manifest format {fmt!r} is not supported by this genkit "
            f"(it reads format {MANIFEST_FORMAT}); re-export with this genkit version."
        )
    try:
        manifest = Manifest.model_validate(manifest).model_dump()
    except ValidationError as exc:
        raise GenkitError(f"{path}: {describe_errors(exc)} Re-run `genkit export` for this model.") from None
    problems = check_references(manifest)
    if problems:
        raise GenkitError(f"{path}: " + " ".join(problems))
    return manifest


def describe_errors(exc: ValidationError, limit: int = 3) -> str:
    """A pydantic ValidationError as `field: what was expected, got what` sentences (at most `limit`)."""
    lines = []
    for error in exc.errors(include_url=False):
        loc = [part for part in error["loc"] if not (isinstance(part, str) and "[" in part)]  # drop union tags
        where = dotted_path(loc)
        if error["type"] == "missing":
            parent, key = dotted_path(loc[:-1]), loc[-1] if loc else "?"
            line = f"{parent} lacks {key}." if parent else f"missing '{key}'."
        else:
            message = error["msg"]
            if message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            else:
                message = message.replace("Input should be ", "expected ", 1)
                message = re.sub(r"a valid dictionary or instance of \w+", "a JSON object", message)
                for old, new in _PHRASES:
                    message = message.replace(old, new)
                message += f", got {_short(error.get('input'))}"
            line = f"{where}: {message}" if where else message
            line = line if line.endswith(".") else line + "."
        if line not in lines:
            lines.append(line)
    shown = " ".join(lines[:limit])
    return shown + (f" (and {len(lines) - limit} more problems)" if len(lines) > limit else "")


_PHRASES = (
    ("a valid dictionary", "a JSON object"),
    ("a valid integer", "an integer"),
    ("a valid number", "a number"),
    ("a valid string", "a string"),
    ("a valid list", "a list"),
    ("a valid boolean", "true or false"),
    ("greater than or equal to ", ">= "),
    ("less than or equal to ", "<= "),
    ("greater than ", "> "),
    ("less than ", "< "),
)


def _short(value, width: int = 60) -> str:
    text = repr(value)
    if isinstance(value, (dict, list)) and len(text) > width:
        text = f"a {type(value).__name__} of {len(value)} items"
    return text if len(text) <= width else text[: width - 3] + "..."


def check_file_name(name: str) -> str:
    """`name` unless it leaves the export folder: a plain file name, no separators, not '.' or '..'."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\x00") or ":" in name:
        raise ValueError(f"expected a plain file name inside the export folder (no path separators or '..'), got {name!r}")
    return name


# --------------------------------------------------------------------------- the typed manifest
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]  # a finite JSON number, not a bool or string


class _Open(BaseModel):
    """A manifest section: typed known keys, unknown keys kept (forward compatibility)."""

    model_config = ConfigDict(extra="allow")


class DataFacts(_Open):
    """`data`: the image shape, the value range and the number of classes."""

    shape: list[int] = Field(..., description=f"1 to 4 positive ints, product <= {MAX_SAMPLE_VALUES:,}, e.g. [28, 28, 1].")
    range: list[float] = Field(..., description="[0, 1] or [-1, 1]: two finite numbers low < high.")
    num_classes: Optional[StrictInt] = Field(None, ge=2, le=MAX_CLASSES)

    @field_validator("shape", mode="before")
    @classmethod
    def _shape(cls, value):
        ok = (
            isinstance(value, list)
            and 1 <= len(value) <= 4
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
        )
        if not ok:
            raise ValueError(f"expected 1 to 4 positive integers such as [28, 28, 1], got {_short(value)}")
        if math.prod(value) > MAX_SAMPLE_VALUES:
            raise ValueError(f"{value} holds {math.prod(value):,} values per image; at most {MAX_SAMPLE_VALUES:,}")
        return value

    @field_validator("range", mode="before")
    @classmethod
    def _range(cls, value):
        ok = (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
            and value[0] < value[1]
        )
        if not ok:
            raise ValueError(f"expected [0, 1] or [-1, 1] (two finite numbers, low < high), got {_short(value)}")
        return [float(v) for v in value]


class PriorFacts(_Open):
    """`prior`: N(0, I), or a fitted N(mean, scale_tril scale_tril^T)."""

    kind: Literal["standard_normal", "gaussian"]
    mean: Optional[list[Number]] = Field(None, max_length=MAX_LATENT_DIM)
    scale_tril: Optional[list[list[Number]]] = Field(None, max_length=MAX_LATENT_DIM)


class SamplingFacts(_Open):
    network: StrictStr
    latent_input: Optional[StrictStr] = None
    image_input: Optional[StrictStr] = None
    time_input: Optional[StrictStr] = None
    label_input: Optional[StrictStr] = None
    output: StrictStr


class EncodingFacts(_Open):
    network: StrictStr
    image_input: StrictStr
    label_input: Optional[StrictStr] = None
    outputs: list[StrictStr] = Field(..., min_length=1)


class TranslationFacts(_Open):
    network: StrictStr
    input: StrictStr
    output: StrictStr


class DiffusionSampleFacts(_Open):
    """`diffusion.sample`: the export's default sampler settings (see genkit.spec SampleSpec)."""

    sampler: Literal["ancestral", "ddim"]
    steps: StrictInt = Field(..., ge=1, le=MAX_TIMESTEPS)
    eta: Number = Field(..., ge=0.0, le=1.0)
    variance: Literal["beta", "posterior"]
    clip_denoised: StrictBool
    guidance_scale: Number = Field(..., ge=0.0)


class DiffusionFacts(_Open):
    schedule: Literal["linear", "cosine"]
    timesteps: StrictInt = Field(..., ge=1, le=MAX_TIMESTEPS)
    beta_start: Number
    beta_end: Number
    prediction: Literal["epsilon", "v"]
    null_class: Optional[StrictInt] = Field(..., ge=0, le=MAX_CLASSES)
    label_dropout: Optional[Number] = Field(None, ge=0.0, le=1.0)
    sample: DiffusionSampleFacts
    alphas_cumprod: Optional[list[Number]] = None

    @model_validator(mode="after")
    def _fits_timesteps(self):
        alphas = self.alphas_cumprod
        if alphas is not None and len(alphas) != self.timesteps:
            raise ValueError(f"alphas_cumprod holds {len(alphas)} numbers; expected timesteps ({self.timesteps})")
        if self.sample.steps > self.timesteps:
            raise ValueError(f"sample.steps {self.sample.steps} exceeds timesteps ({self.timesteps})")
        return self


class TensorFacts(_Open):
    """One ONNX input or output: its name, shape (None for a free dimension) and dtype."""

    name: StrictStr
    shape: list[Optional[StrictInt]] = Field(..., max_length=MAX_TENSOR_RANK)
    dtype: Literal[DTYPES]  # type: ignore[valid-type]

    @field_validator("shape")
    @classmethod
    def _dims(cls, value):
        if any(d is not None and not 0 <= d <= 2**31 for d in value):
            raise ValueError(f"expected dimensions that are null or integers in [0, 2**31], got {_short(value)}")
        return value


class NetworkFacts(_Open):
    file: StrictStr
    inputs: list[TensorFacts] = Field(..., min_length=1)
    outputs: list[TensorFacts] = Field(..., min_length=1)

    @field_validator("file")
    @classmethod
    def _plain(cls, value):
        return check_file_name(value)


class Manifest(_Open):
    """`manifest.json` as the runtime reads it (format 1, see the module docs); unknown keys are kept.

    Caps: data.shape's product <= MAX_SAMPLE_VALUES, 1 <= latent_dim <= MAX_LATENT_DIM,
    2 <= num_classes <= MAX_CLASSES, 1 <= diffusion.timesteps <= MAX_TIMESTEPS; a Gaussian
    prior's mean and scale_tril must have latent_dim entries.
    """

    format: Literal[1]
    name: StrictStr = Field(..., min_length=1)
    family: StrictStr = Field(..., min_length=1)
    data: DataFacts
    latent_dim: Optional[StrictInt] = Field(None, ge=1, le=MAX_LATENT_DIM)
    prior: Optional[PriorFacts] = None
    sampling: Optional[SamplingFacts] = None
    encoding: Optional[EncodingFacts] = None
    diffusion: Optional[DiffusionFacts] = None
    translation: Optional[dict[Literal["ab", "ba"], TranslationFacts]] = None
    networks: dict[str, NetworkFacts]
    versions: Optional[dict[str, Any]] = None
    created_utc: Optional[StrictStr] = None
    sample_grid: Optional[StrictStr] = None

    @field_validator("versions")
    @classmethod
    def _versions(cls, value):
        if value is not None and not all(isinstance(v, (str, int, float, type(None))) for v in value.values()):
            raise ValueError(f"expected a mapping of package -> version string, got {_short(value)}")
        return value

    @model_validator(mode="after")
    def _prior_fits(self):
        p, d = self.prior, self.latent_dim
        if p is not None and p.kind == "gaussian" and d is not None:
            tril = p.scale_tril
            if p.mean is None or len(p.mean) != d or tril is None or len(tril) != d or any(len(r) != d for r in tril):
                raise ValueError(f"prior 'gaussian' needs mean ({d},) and scale_tril ({d}, {d}) for latent_dim {d}")
        return self


def check_references(manifest: dict) -> list[str]:
    """Problems with the `sampling` / `encoding` sections' references to network inputs/outputs.

    Needs `networks[*].inputs/outputs` as lists of {"name": ...}; used by the exporter
    before it writes anything and by `load_manifest`.
    """
    problems = []
    networks = manifest.get("networks") or {}
    diffusion = manifest.get("diffusion")
    sampling_refs = (
        {"image_input": "inputs", "time_input": "inputs", "label_input": "inputs", "output": "outputs"}
        if diffusion is not None
        else {"latent_input": "inputs", "label_input": "inputs", "output": "outputs"}
    )
    fields = {
        "sampling": sampling_refs,
        "encoding": {"image_input": "inputs", "label_input": "inputs", "outputs": "outputs"},
    }
    for section, refs in fields.items():
        spec = manifest.get(section)
        if spec is None:
            continue
        if spec.get("label_input") and not manifest.get("data", {}).get("num_classes"):
            problems.append(f"{section}.label_input is set but data.num_classes is missing.")
        net_name = spec.get("network")
        if net_name not in networks:
            problems.append(
                f"{section}.network is {net_name!r} but the exported networks are "
                f"{sorted(networks)}; export that network too or set {section} to null."
            )
            continue
        net = networks[net_name]
        for key, side in refs.items():
            wanted = spec.get(key)
            if wanted is None and key == "label_input":
                continue
            if wanted is None:
                problems.append(f"{section}.{key} is missing.")
                continue
            names = [entry["name"] for entry in net.get(side, [])]
            for name in wanted if isinstance(wanted, list) else [wanted]:
                if name not in names:
                    problems.append(
                        f"{section}.{key} names {name!r}, which is not one of network '{net_name}' {side} {names}."
                    )
    for direction, spec in (manifest.get("translation") or {}).items():
        net = networks.get(spec.get("network"))
        if net is None:
            problems.append(f"translation.{direction}.network is {spec.get('network')!r}, which is not exported ({sorted(networks)}).")
            continue
        for key, side in (("input", "inputs"), ("output", "outputs")):
            names = [entry["name"] for entry in net.get(side, [])]
            if spec.get(key) not in names:
                problems.append(f"translation.{direction}.{key} names {spec.get(key)!r}, which is not one of network '{spec['network']}' {side} {names}.")
    if diffusion is not None:
        missing = [k for k in DIFFUSION_KEYS if k not in diffusion]
        if missing:
            problems.append(f"diffusion lacks {', '.join(missing)}.")
        elif (manifest.get("sampling") or {}).get("label_input") and diffusion.get("null_class") is None:
            problems.append("a conditional diffusion export needs diffusion.null_class.")
    if manifest.get("sampling") is not None and diffusion is None:
        if not isinstance(manifest.get("latent_dim"), int):
            problems.append("sampling needs an integer 'latent_dim'.")
        prior = manifest.get("prior") or {}
        if prior.get("kind") not in ("standard_normal", "gaussian"):
            problems.append(f"prior.kind is {prior.get('kind')!r}; expected 'standard_normal' or 'gaussian'.")
    return problems


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sampling(_Facts):
    """How the runtime draws images: a latent decoder (latent_input) or a denoiser (image_input, time_input)."""

    network: str
    latent_input: Optional[str] = None
    image_input: Optional[str] = None
    time_input: Optional[str] = None
    label_input: Optional[str] = None
    output: str


class Encoding(_Facts):
    """How the runtime encodes images into latents."""

    network: str
    image_input: str = "x"
    label_input: Optional[str] = None
    outputs: list[str]


class TranslationDirection(_Facts):
    network: str
    input: str = "x"
    output: str = "y"


class ExportPlan(_Facts):
    """What a family offers the exporter: networks by name and the manifest facts about them.

    `networks` holds the Keras networks themselves; everything else is what `manifest.json`
    says of them. `input_ranges` gives, per network and input, the (low, high) of values for
    the export's parity batch beyond the data's images and labels (a denoiser's timesteps).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    networks: dict[str, Any] = Field(..., description="name -> keras.Model to export.")
    outputs: dict[str, list[str]] = Field(..., description="name -> the network's output names, in order.")
    latent_dim: Optional[int] = None
    prior: Optional[dict] = Field(None, description="{'kind': 'standard_normal'} or a fitted 'gaussian' (mean, scale_tril).")
    sampling: Optional[Sampling] = None
    encoding: Optional[Encoding] = None
    diffusion: Optional[dict] = Field(None, description="Diffusion exports: the keys DIFFUSION_KEYS and more.")
    translation: Optional[dict[Literal["ab", "ba"], TranslationDirection]] = None
    input_ranges: dict[str, dict[str, tuple[float, float]]] = Field(default_factory=dict)

    def facts(self, chosen) -> dict:
        """The manifest's facts for the exported subset `chosen` of the networks.

        A section whose network is not exported is dropped: the runtime cannot do it.
        """
        def kept(section):
            if section is None or section.network not in chosen:
                return None
            # The inputs this kind of sampling has; label_input stays, null for an unconditional model.
            return {k: v for k, v in section.model_dump().items() if v is not None or k == "label_input"}

        translation = {d: t.model_dump() for d, t in (self.translation or {}).items() if t.network in chosen}
        facts = {
            "latent_dim": self.latent_dim,
            "prior": self.prior,
            "sampling": kept(self.sampling),
            "encoding": kept(self.encoding),
            "networks": {n: {"outputs": list(self.outputs[n])} for n in chosen},
        }
        if self.diffusion is not None:
            facts["diffusion"] = self.diffusion
        if self.translation is not None:
            facts["translation"] = translation or None
        return facts
