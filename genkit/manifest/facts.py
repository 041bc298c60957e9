"""The typed sections of `manifest.json` (format 1; see `genkit.manifest`), with the caps that
keep a hostile manifest from allocating: unknown keys are kept for forward compatibility."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator, model_validator

from genkit.manifest.limits import (
    DTYPES, MAX_CLASSES, MAX_CODES, MAX_LATENT_DIM, MAX_MIXTURE_COMPONENTS, MAX_SAMPLE_VALUES, MAX_STYLES,
    MAX_TENSOR_RANK, MAX_TIMESTEPS, PRIOR_KINDS, check_file_name, short_value,
)
from genkit.manifest.quantized import QuantizeFacts

__all__ = [
    "CodeFacts", "CodePriorFacts", "CodesFacts", "DataFacts", "DiffusionFacts", "DiffusionSampleFacts", "EncodingFacts", "LatentFacts", "Manifest", "NetworkFacts",
    "PriorFacts", "RecognitionFacts", "SamplingFacts", "StyleFacts", "StyleNoiseFacts", "TensorFacts", "TranslationFacts",
]

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
            raise ValueError(f"expected 1 to 4 positive integers such as [28, 28, 1], got {short_value(value)}")
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
            raise ValueError(f"expected [0, 1] or [-1, 1] (two finite numbers, low < high), got {short_value(value)}")
        return [float(v) for v in value]


class PriorFacts(_Open):
    """`prior`: N(0, I); N(0, std² I); U(low, high) per number; a fitted N(mean, scale_tril scale_tril^T);
    or a fitted mixture Σ_k weights[k] N(means[k], scale_trils[k] scale_trils[k]^T). A mixture with
    `per_class: true` has a component per class (data.num_classes) and a sample's label picks it."""

    kind: Literal[PRIOR_KINDS]  # type: ignore[valid-type]
    std: Optional[Number] = Field(None, gt=0)
    low: Optional[Number] = None
    high: Optional[Number] = None
    mean: Optional[list[Number]] = Field(None, max_length=MAX_LATENT_DIM)
    scale_tril: Optional[list[list[Number]]] = Field(None, max_length=MAX_LATENT_DIM)
    weights: list[Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0.0)]] | None = Field(
        None, min_length=1, max_length=MAX_MIXTURE_COMPONENTS
    )
    means: list[list[Number]] | None = Field(None, max_length=MAX_MIXTURE_COMPONENTS)
    scale_trils: list[list[list[Number]]] | None = Field(None, max_length=MAX_MIXTURE_COMPONENTS)
    per_class: StrictBool | None = None

    @model_validator(mode="after")
    def _parameters(self):
        if self.kind == "normal" and self.std is None:
            raise ValueError("prior 'normal' needs std > 0")
        if self.kind == "uniform" and not (self.low is not None and self.high is not None and self.low < self.high):
            raise ValueError("prior 'uniform' needs low < high")
        if self.kind == "mixture":
            weights = self.weights
            if weights is None or self.means is None or self.scale_trils is None:
                raise ValueError("prior 'mixture' needs weights (k,), means (k, d) and scale_trils (k, d, d)")
            if len(self.means) != len(weights) or len(self.scale_trils) != len(weights):
                raise ValueError(f"prior 'mixture' has {len(weights)} weights but {len(self.means)} means and {len(self.scale_trils)} scale_trils")
            if abs(math.fsum(weights) - 1.0) > 1e-6:
                raise ValueError(f"prior 'mixture' weights sum to {math.fsum(weights):.6g}; expected 1")
        if self.per_class and self.kind != "mixture":
            raise ValueError(f"prior {self.kind!r} has per_class; only a mixture has a component per class")
        return self


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


class CodePriorFacts(_Open):
    """A code's prior: uniform over a categorical code's values, or U(low, high) for a continuous one."""

    kind: Literal["uniform_categorical", "uniform"]
    low: Number | None = None
    high: Number | None = None


class CodeFacts(_Open):
    """One latent code of `codes.variables`: where it sits in the generator's input and its prior.

    categorical: `size` values, fed one-hot, prior {"kind": "uniform_categorical"};
    continuous: one number, prior {"kind": "uniform", "low": a, "high": b}.
    """

    name: StrictStr = Field(..., pattern=r"^[a-z][a-z0-9_]*$", max_length=32)
    kind: Literal["categorical", "continuous"]
    size: StrictInt = Field(..., ge=1, le=MAX_CLASSES)
    slice: tuple[StrictInt, StrictInt] = Field(..., description="[start, stop) of the code in the generator's latent input.")
    prior: CodePriorFacts

    @model_validator(mode="after")
    def _fits_kind(self):
        start, stop = self.slice
        if not 0 <= start < stop <= MAX_LATENT_DIM or stop - start != self.size:
            raise ValueError(f"code {self.name!r}: slice {list(self.slice)} must span its size {self.size} within [0, {MAX_LATENT_DIM}]")
        prior = self.prior
        if self.kind == "categorical" and (self.size < 2 or prior.kind != "uniform_categorical"):
            raise ValueError(f"categorical code {self.name!r} needs size >= 2 and prior {{'kind': 'uniform_categorical'}}")
        if self.kind == "continuous":
            bounded = prior.low is not None and prior.high is not None and prior.low < prior.high
            if self.size != 1 or prior.kind != "uniform" or not bounded:
                raise ValueError(f"continuous code {self.name!r} needs size 1 and prior {{'kind': 'uniform', 'low': a, 'high': b}}, a < b")
        return self


class RecognitionFacts(_Open):
    """`codes.recognition`: the network that predicts the codes of images (InfoGAN's Q)."""

    network: StrictStr
    image_input: StrictStr
    outputs: dict[StrictStr, StrictStr] = Field(
        ..., min_length=1, description="code name -> the output holding its logits (categorical) or mean (continuous)."
    )


class CodesFacts(_Open):
    """`codes`: the generator's latent input is [z (noise_dim numbers from `prior`), then each code's slice]."""

    noise_dim: StrictInt = Field(..., ge=0, le=MAX_LATENT_DIM)
    variables: list[CodeFacts] = Field(..., min_length=1, max_length=MAX_CODES)
    recognition: RecognitionFacts | None = None

    @model_validator(mode="after")
    def _laid_out(self):
        at = self.noise_dim
        for code in self.variables:
            if code.slice[0] != at:
                raise ValueError(f"code {code.name!r} starts at {code.slice[0]}; the codes follow z and each other, so expected {at}")
            at = code.slice[1]
        names = [code.name for code in self.variables]
        if len(set(names)) != len(names):
            raise ValueError(f"code names must be unique, got {names}")
        unknown = set(self.recognition.outputs) - set(names) if self.recognition else set()
        if unknown:
            raise ValueError(f"recognition.outputs names codes {sorted(unknown)} that codes.variables does not declare")
        return self


class DiffusionSampleFacts(_Open):
    """`diffusion.sample`: the export's default sampler settings (see genkit.spec SampleSpec)."""

    sampler: Literal["ancestral", "ddim", "dpmpp_2m", "dpmpp_2m_sde", "euler", "heun"]  # genkit.schedules.SAMPLERS (a sibling layer)
    steps: StrictInt = Field(..., ge=1, le=MAX_TIMESTEPS)
    eta: Number = Field(..., ge=0.0, le=1.0)
    variance: Literal["beta", "posterior"]
    clip_denoised: StrictBool
    guidance_scale: Number = Field(..., ge=0.0)
    guidance_interval: Optional[list[StrictInt]] = Field(None, min_length=2, max_length=2)  # absent in older exports


class LatentFacts(_Open):
    """`diffusion.latent`: latent diffusion (Rombach et al. 2022). The denoiser works on latents of
    `shape` multiplied by `scale_factor` (1 / std of the training latents); the runtime divides the
    denoised x̂_0 by it and runs `decoder` (`latent_input` -> `output`) to get images."""

    shape: list[StrictInt] = Field(..., min_length=1, max_length=4, description="One latent, e.g. [7, 7, 4].")
    scale_factor: Number = Field(..., gt=0.0, description="s: the denoiser saw s * z; images are decoder(x_0 / s).")
    decoder: StrictStr
    latent_input: StrictStr
    output: StrictStr

    @field_validator("shape")
    @classmethod
    def _positive(cls, value):
        if any(d < 1 for d in value) or math.prod(value) > MAX_SAMPLE_VALUES:
            raise ValueError(f"expected positive dimensions, at most {MAX_SAMPLE_VALUES:,} values; got {short_value(value)}")
        return value


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
    latent: Optional[LatentFacts] = None

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
            raise ValueError(f"expected dimensions that are null or integers in [0, 2**31], got {short_value(value)}")
        return value


class NetworkFacts(_Open):
    file: StrictStr = Field(..., description="The ONNX file the runtime loads (a quantised export: the quantised one).")
    inputs: list[TensorFacts] = Field(..., min_length=1)
    outputs: list[TensorFacts] = Field(..., min_length=1)
    float32_file: Optional[StrictStr] = Field(None, description="Quantised exports: the float32 file `file` was made from.")
    quantized_max_abs_diff: Optional[Number] = Field(None, ge=0.0, description="|float32 - quantised| on calibration-like inputs.")
    quantized_mean_abs_diff: Optional[Number] = Field(None, ge=0.0)

    @field_validator("file", "float32_file")
    @classmethod
    def _plain(cls, value):
        return value if value is None else check_file_name(value)


class StyleNoiseFacts(_Open):
    """One noise input of a synthesis network: its name and the shape of one noise image, [H, W, 1]."""

    name: StrictStr
    shape: list[StrictInt] = Field(..., min_length=3, max_length=3)

    @field_validator("shape")
    @classmethod
    def _image(cls, value):
        if any(d < 1 for d in value) or value[2] != 1 or math.prod(value) > MAX_SAMPLE_VALUES:
            raise ValueError(f"expected [H, W, 1] with H·W <= {MAX_SAMPLE_VALUES:,}, got {short_value(value)}")
        return value


class StyleFacts(_Open):
    """`style`: a style-based generator, z -> mapping -> w -> (truncation, mixing) -> ws -> synthesis -> x.

    The runtime maps z to w, pulls w towards `w_avg` by ψ (truncation), repeats it once per style
    (`num_ws`), may take the `fine` styles from a second latent (mixing: the styles are `coarse`
    then `fine`, so the crossover is len(coarse)), draws one N(0, I) image per noise input and
    runs the synthesis network.
    """

    mapping: StrictStr = Field(..., description="Network z -> w.")
    latent_input: StrictStr
    w_output: StrictStr
    synthesis: StrictStr = Field(..., description="Network [ws, noise inputs] -> image.")
    ws_input: StrictStr
    noise_inputs: list[StyleNoiseFacts] = Field(..., max_length=MAX_STYLES)
    output: StrictStr
    w_dim: StrictInt = Field(..., ge=1, le=MAX_LATENT_DIM)
    num_ws: StrictInt = Field(..., ge=2, le=MAX_STYLES)
    w_avg: list[Number] = Field(..., max_length=MAX_LATENT_DIM)
    coarse: list[StrictInt] = Field(..., min_length=1, max_length=MAX_STYLES)
    fine: list[StrictInt] = Field(..., min_length=1, max_length=MAX_STYLES)

    @model_validator(mode="after")
    def _consistent(self):
        if len(self.w_avg) != self.w_dim:
            raise ValueError(f"style.w_avg holds {len(self.w_avg)} numbers; expected w_dim ({self.w_dim})")
        if self.coarse + self.fine != list(range(self.num_ws)):
            raise ValueError(f"style.coarse then style.fine must list the styles 0..{self.num_ws - 1} in order")
        return self


class Manifest(_Open):
    """`manifest.json` as the runtime reads it (format 1, see the module docs); unknown keys are kept.

    Caps: data.shape's product <= MAX_SAMPLE_VALUES, 1 <= latent_dim <= MAX_LATENT_DIM,
    2 <= num_classes <= MAX_CLASSES, 1 <= diffusion.timesteps <= MAX_TIMESTEPS, at most MAX_CODES
    codes; a Gaussian prior's mean and scale_tril (a mixture's, per component), and latent_kl, must have
    latent_dim entries, and the codes' slices follow z and each other up to latent_dim.
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
    codes: CodesFacts | None = None
    networks: dict[str, NetworkFacts]
    versions: Optional[dict[str, Any]] = None
    created_utc: Optional[StrictStr] = None
    sample_grid: Optional[StrictStr] = None
    style: StyleFacts | None = None
    quantize: QuantizeFacts | None = None
    latent_kl: list[Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0.0)]] | None = Field(
        None,
        max_length=MAX_LATENT_DIM,
        description="VAE exports: the mean KL(q(z_j|x) ‖ N(0, 1)) of each latent dimension j, in nats; "
        "latent_dim numbers >= 0. `genkit explore traverse` orders its rows by it.",
    )

    @field_validator("versions")
    @classmethod
    def _versions(cls, value):
        if value is not None and not all(isinstance(v, (str, int, float, type(None))) for v in value.values()):
            raise ValueError(f"expected a mapping of package -> version string, got {short_value(value)}")
        return value

    @model_validator(mode="after")
    def _prior_fits(self):
        p, d = self.prior, self.latent_dim
        if p is not None and p.kind == "gaussian" and d is not None:
            tril = p.scale_tril
            if p.mean is None or len(p.mean) != d or tril is None or len(tril) != d or any(len(r) != d for r in tril):
                raise ValueError(f"prior 'gaussian' needs mean ({d},) and scale_tril ({d}, {d}) for latent_dim {d}")
        if p is not None and p.kind == "mixture" and d is not None:
            k = len(p.weights)
            square = all(len(tril) == d and all(len(r) == d for r in tril) for tril in p.scale_trils)
            if any(len(m) != d for m in p.means) or not square:
                raise ValueError(f"prior 'mixture' needs means ({k}, {d}) and scale_trils ({k}, {d}, {d}) for latent_dim {d}")
        if p is not None and p.per_class:
            labelled = self.sampling is not None and self.sampling.label_input is not None
            if not labelled or len(p.weights) != self.data.num_classes:
                raise ValueError(
                    f"prior 'mixture' with per_class has {len(p.weights)} components; expected one per class of a "
                    f"conditional export (sampling.label_input set, data.num_classes {self.data.num_classes})"
                )
        return self

    @model_validator(mode="after")
    def _latent_kl_fits(self):
        if self.latent_kl is not None and len(self.latent_kl) != self.latent_dim:
            raise ValueError(f"latent_kl holds {len(self.latent_kl)} numbers; expected one per latent dimension ({self.latent_dim})")
        return self

    @model_validator(mode="after")
    def _codes_fill_latent(self):
        if self.codes is not None and self.codes.variables[-1].slice[1] != self.latent_dim:
            raise ValueError(f"codes end at {self.codes.variables[-1].slice[1]}; they must fill the latent input, latent_dim {self.latent_dim}")
        return self
