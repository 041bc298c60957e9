"""The spec schema: every option genkit reads, declared once with its default and doc.

Defaults, validation, JSON Schema and error messages all come from these classes; code
elsewhere reads fields from a validated `Spec` and never restates a default.

The `loss` section depends on the family: each family's card (`genkit.spec.card`) names its
own loss class, so an option that does not apply to the chosen family is an error rather
than silently ignored. The `data` section is in `data_section.py`, the loss sections several
families share in `loss_sections.py`.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Optional, Union

from pydantic import Field, StrictInt, create_model, field_validator, model_validator

from genkit.manifest.quantized import QUANTIZED_MODES
from genkit.schedules import PREDICTIONS, SAMPLERS, SCHEDULES, VARIANCES
from genkit.spec.card import card, family_names
from genkit.spec.data_section import DataSpec
from genkit.spec.section import Section

# export.onnx.quantize: each has an implementation in genkit.export.quantize (a test checks both ways).
QUANTIZE_MODES = ("none", *QUANTIZED_MODES)

__all__ = [
    "QUANTIZE_MODES",
    "ConditionSpec",
    "DataSpec",
    "DiffusionSpec",
    "EvaluateSpec",
    "ExportSpec",
    "ModelSpec",
    "NetworkSpec",
    "OptimizerSpec",
    "SampleSpec",
    "Spec",
    "TrainSpec",
    "spec_class",
]


# --------------------------------------------------------------------------- networks
class NetworkSpec(Section):
    """A network: a list of layers, or a graph of nodes with `id` and `from`.

    A layer item is a one-key mapping `{LayerName: {keyword: value}}`, where the keywords
    are those of the Keras (or genkit) layer. A graph node is a mapping with `id`, `layer`,
    `from` and the layer's keywords; `from` names earlier ids or inputs, and may hold
    `{concat: [a, b]}` or `{add: [a, b]}` merges.
    """

    input: Optional[list[int]] = Field(
        None, description="Shape of the data this network reads, without the batch axis (the family adds label channels itself); optional where the family knows it."
    )
    inputs: Optional[dict[str, list[int]]] = Field(
        None, description="Graph networks with several inputs: name -> shape."
    )
    layers: Optional[list[Any]] = Field(
        None,
        description="Layers applied in order. Size arguments (units, filters, latent_dim, embedding_dim, "
        "num_classes, output_dim) are integers of at most 65,536 (GENKIT_MAX_LAYER_SIZE); a network's parameters, "
        "estimated from the shapes written, are at most 100,000,000 (GENKIT_MAX_PARAMETERS) and one layer's "
        "output for a batch at most 1,000,000,000 values (GENKIT_MAX_ACTIVATIONS); a file a layer reads "
        "(e.g. a vocabulary file) must be inside the project folder.",
    )
    graph: Optional[list[Any]] = Field(None, description="Nodes of a graph network (the limits of layers apply).")
    output: Optional[Union[str, list[str]]] = Field(
        None, description="Graph networks: id (or ids) of the output node(s); default the last node."
    )

    @model_validator(mode="after")
    def _one_body(self):
        if (self.layers is None) == (self.graph is None):
            raise ValueError("a network needs exactly one of 'layers' (a list) or 'graph' (nodes)")
        if self.input is not None and self.inputs is not None:
            raise ValueError("give 'input' (one input) or 'inputs' (named inputs), not both")
        return self


class BlockSpec(Section):
    """A reusable sub-network with parameters, used in networks like a layer.

    Values written `$name` in its body are replaced by the parameter `name` at each use.
    """

    params: dict[str, Any] = Field(
        default_factory=dict, description="Parameter name -> default value (null: every use must give it)."
    )
    inputs: list[str] = Field(default_factory=lambda: ["x"], min_length=1, description="Names of the block's inputs.")
    layers: Optional[list[Any]] = Field(None, description="Layers applied in order (one input).")
    graph: Optional[list[Any]] = Field(None, description="Nodes of the block's graph.")
    output: Optional[Union[str, list[str]]] = Field(None, description="Graph blocks: output node id(s); default the last node.")

    @model_validator(mode="after")
    def _one_body(self):
        if (self.layers is None) == (self.graph is None):
            raise ValueError("a block needs exactly one of 'layers' (a list) or 'graph' (nodes)")
        if self.layers is not None and len(self.inputs) != 1:
            raise ValueError("a block written as 'layers' has one input; use 'graph' for several")
        return self


class ConditionSpec(Section):
    num_classes: int = Field(..., ge=2, description="Number of classes of the label (at most 65,536, GENKIT_MAX_LAYER_SIZE).")
    encoding: Literal["onehot", "embedding"] = Field(
        "onehot", description="How a label enters the networks: a one-hot vector or a learned embedding."
    )
    embedding_dim: int = Field(16, ge=1, description="Size of the learned label embedding (at most 65,536, GENKIT_MAX_LAYER_SIZE).")


class DiffusionSpec(Section):
    """The forward (noising) process of a diffusion model and what its network predicts."""

    timesteps: int = Field(1000, ge=2, description="T: number of noise levels (Ho et al. 2020: 1000).")
    schedule: Literal[SCHEDULES] = Field(
        "linear",
        description="Noise schedule: linear betas from beta_start to beta_end (Ho et al. 2020), or cosine "
        "alpha-bar (Nichol & Dhariwal 2021), which destroys small images' information more evenly over t.",
    )
    beta_start: float = Field(1.0e-4, gt=0.0, lt=1.0, description="linear: beta of the first timestep.")
    beta_end: float = Field(0.02, gt=0.0, lt=1.0, description="linear: beta of the last timestep.")
    prediction: Literal[PREDICTIONS] = Field(
        "epsilon",
        description="What the denoiser outputs and the loss compares: the added noise epsilon (Ho et al.) or "
        "v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0 (Salimans & Ho 2022); both are trained with a mean "
        "squared error.",
    )
    label_dropout: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="Conditional models: probability that a training label is replaced by the null class "
        "(index num_classes), so one network learns both p(x|y) and p(x) for classifier-free guidance "
        "(Ho & Salimans 2022). 0 trains a purely conditional model (sample.guidance_scale must then be 1).",
    )
    min_snr_gamma: Optional[float] = Field(
        None,
        gt=0.0,
        description="Min-SNR loss weighting (Hang et al. 2023): each example's loss is weighted by "
        "min(SNR_t, gamma) / SNR_t (epsilon) or min(SNR_t, gamma) / (SNR_t + 1) (v), SNR_t = alpha_bar / "
        "(1 - alpha_bar), so the many nearly clean timesteps stop dominating the gradient; the paper uses 5 "
        "and reports about 3x faster convergence. Unset: the unweighted L_simple of Ho et al. 2020.",
    )


class ModelSpec(Section):
    family: str = Field(
        ...,
        description="Which generative model to build and how it trains: the name of a family card "
        "(`genkit new --help` lists them).",
    )
    latent_dim: Optional[int] = Field(
        None,
        ge=1,
        description="Size of the latent code (VAE and GAN families: required; autoencoders: the encoder's output); "
        "at most 65,536 (GENKIT_MAX_LAYER_SIZE).",
    )
    condition: Optional[ConditionSpec] = Field(None, description="Class conditioning (conditional families).")
    diffusion: Optional[DiffusionSpec] = Field(
        None, description="Diffusion families (ddpm): the noise schedule and the prediction target; required there."
    )
    networks: dict[str, NetworkSpec] = Field(..., description="The networks the family wraps, by role.")

    @field_validator("family")
    @classmethod
    def _known_family(cls, value):
        if value not in family_names():
            raise ValueError(f"got {value!r}; expected one of {', '.join(family_names())}")
        return value


# --------------------------------------------------------------------------- train
class OptimizerSpec(Section):
    name: Literal["adam", "adamw", "rmsprop", "sgd"] = Field("adam", description="Optimizer.")
    learning_rate: float = Field(1.0e-3, gt=0.0, description="Initial learning rate.")
    beta_1: Optional[float] = Field(None, ge=0.0, lt=1.0, description="adam/adamw: first-moment decay.")
    beta_2: Optional[float] = Field(None, ge=0.0, lt=1.0, description="adam/adamw: second-moment decay.")
    momentum: Optional[float] = Field(None, ge=0.0, lt=1.0, description="sgd/rmsprop: momentum.")
    weight_decay: Optional[float] = Field(None, ge=0.0, description="Decoupled weight decay.")
    clipnorm: Optional[float] = Field(
        None, gt=0.0, description="Clip each gradient to this norm: the usual remedy, with a lower learning rate, for losses that turn NaN."
    )
    clipvalue: Optional[float] = Field(
        None, gt=0.0, description="Clip every gradient element to [-clipvalue, clipvalue] (with or instead of clipnorm)."
    )
    schedule: Literal["constant", "cosine", "exponential"] = Field(
        "constant", description="Learning-rate schedule over the whole run."
    )
    decay_rate: float = Field(0.96, gt=0.0, le=1.0, description="exponential: factor per epoch.")
    warmup_epochs: int = Field(0, ge=0, description="Linear warm-up from 0 over this many epochs.")


class KeepBestSpec(Section):
    metric: Literal["val_loss", "fid", "kid", "neg_elbo"] = Field(
        ...,
        description="What decides 'best' (lower is better for all): the validation loss, the validation "
        "negative ELBO (VAE families), or FID/KID of samples against the validation split in the domain "
        "feature extractor's space (families that sample).",
    )
    every: int = Field(1, ge=1, description="Measure it every N epochs.")
    samples: int = Field(1000, ge=10, description="fid/kid: samples (and validation images) compared each time.")
    use_for_export: bool = Field(
        True, description="Evaluate and export the best checkpoint's weights instead of the last epoch's."
    )


DISTRIBUTE = ("none", "mirrored", "multi_worker")


class TrainSpec(Section):
    epochs: int = Field(10, ge=1, description="Passes over the training data.")
    steps_per_epoch: Optional[int] = Field(
        None, ge=1, description="Cap the steps of each epoch (quick runs)."
    )
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec, description="Optimizer of the model.")
    max_minutes: Optional[float] = Field(
        None,
        gt=0.0,
        description="Wall-time budget of training in minutes (a resumed run counts its earlier sessions): training "
        "stops after the first step past it, then the run saves, evaluates and exports as if train.epochs had "
        "been reached. Compares models at equal training time (benchmarks/gans_shapes.py); null: no budget.",
    )
    sample_every: int = Field(1, ge=0, description="Write a sample grid every N epochs (0: never).")
    checkpoint_every: int = Field(1, ge=0, description="Write a checkpoint every N epochs (0: only at the end).")
    precision: Literal["float32", "mixed_float16"] = Field(
        "float32",
        description="Numeric precision policy. mixed_float16 computes layers in float16 with float32 "
        "weights, losses in float32, and scales every loss (dynamic loss scaling) so small float16 "
        "gradients do not underflow; it pays off on GPUs with tensor cores.",
    )
    jit_compile: bool = Field(False, description="Compile train steps with XLA.")
    deterministic: bool = Field(
        True,
        description="Make training repeatable: TensorFlow's op determinism plus the spec seed, so the same spec "
        "trains to the same history and weights on the same machine and software, and a resumed run to the same "
        "weights as an uninterrupted one. On a GPU it can cost speed, and an op without a deterministic GPU "
        "kernel stops training with an error naming it; set false to allow them.",
    )
    distribute: Literal[DISTRIBUTE] = Field(
        "none",
        description="tf.distribute strategy, data-parallel with data.batch_size as the global batch: "
        "'mirrored' copies the model onto every local GPU (else the CPU); 'multi_worker' trains on several "
        "machines, each running the same command with its TF_CONFIG environment variable describing the "
        "cluster and its own task; only the chief (task 0) writes the run folder, the others write to a "
        "temporary folder they delete.",
    )
    tensorboard: bool = Field(True, description="Write TensorBoard logs under the run folder.")
    optimizers: dict[str, OptimizerSpec] = Field(
        default_factory=dict,
        description="Adversarial families: one optimizer per network role (e.g. generator, discriminator), "
        "each with its own learning rate (TTUR); a role not listed uses train.optimizer.",
    )
    ema: Optional[float] = Field(
        None,
        gt=0.0,
        lt=1.0,
        description="Decay of an exponential moving average of the sampling network's weights (e.g. 0.999), "
        "used for samples, evaluation and export. Families that sample from a generator or denoiser.",
    )
    keep_best: Optional[KeepBestSpec] = Field(
        None, description="Keep the checkpoint with the best value of a metric measured during training."
    )


# --------------------------------------------------------------------------- evaluate / export
EVALUATE_METRICS = (
    "reconstruction",
    "elbo",
    "log_likelihood",
    "fid",
    "kid",
    "precision_recall",
    "mode_coverage",
    "class_accuracy",
    "code_accuracy",
    "translation_l1",
    "cycle_error",
    "mean_intensity",
    "mig",
    "dci",
    "sap",
)
# Metrics of generated samples: they need a family that can sample (draw new images).
SAMPLE_METRICS = ("fid", "kid", "precision_recall", "mode_coverage", "class_accuracy")
# Metrics of translated images: they need a translation family.
TRANSLATION_METRICS = ("translation_l1", "cycle_error", "mean_intensity")
# Disentanglement metrics: codes of an encoding family against a data set's ground-truth factors.
DISENTANGLEMENT_METRICS = ("mig", "dci", "sap")


def family_metrics(declared) -> list:
    """evaluate.metrics when a spec names none: the first of the family's kind of metric that applies to it."""
    if declared.encoder:
        return ["reconstruction"]
    if declared.translation:
        return ["translation_l1" if declared.translation == "paired" else "cycle_error"]
    return ["fid"] if declared.samples else []


class EvaluateSpec(Section):
    metrics: list[Literal[EVALUATE_METRICS]] = Field(
        default_factory=lambda: ["reconstruction"],
        description="Metrics computed on held-out data after training, each written with its protocol (default: "
        "the family's own - reconstruction with an encoder, translation_l1 for pix2pix, cycle_error for cyclegan, "
        "else fid): "
        "reconstruction error; the negative ELBO and an importance-weighted log-likelihood estimate (VAE "
        "families, bce); FID, KID, precision/recall (k-NN manifolds) and mode coverage of samples against "
        "held-out real images in the feature space of a domain classifier (trained by genkit on the real "
        "training split, cached; its test accuracy is reported beside every score); class accuracy of "
        "class-conditional samples. Translation families: translation_l1 - mean |G(x) - y| per pixel on "
        "held-out pairs (paired data), beside the baseline |x - y| of returning the input unchanged; "
        "cycle_error - mean |F(G(a)) - a| and |G(F(b)) - b| per pixel (cyclegan); mean_intensity - mean pixel "
        "value of inputs, translations and real target-domain images (does G make strokes thicker or "
        "images brighter as the target domain is?). All in [0, 1] units whatever data.range is. "
        "code_accuracy (families with loss.codes, InfoGAN) - the first categorical code as Q reads it from "
        "held-out real images, against their classes after the best one-to-one matching of code values to "
        "classes (Hungarian algorithm): 1 when the code separates the classes perfectly, about 1/K by chance. "
        "Disentanglement (encoding families on data with ground-truth factors, source: shapes), from the codes "
        "(a VAE's posterior means) of the test images: mig - mutual information gap (Chen et al. 2018); dci - "
        "dci_disentanglement, dci_completeness and dci_informativeness (held-out accuracy) from per-factor "
        "extra-trees importances (Eastwood & Williams 2018); sap - separated attribute predictability (Kumar "
        "et al. 2018). Each in [0, 1]: 1 when every factor lives in a dimension of its own.",
    )
    samples: int = Field(
        2000,
        ge=10,
        description="Held-out examples, and generated samples, used per metric. FID is biased upwards at "
        "small N: compare FIDs computed with the same number.",
    )
    importance_samples: int = Field(
        100,
        ge=1,
        le=5000,
        description="log_likelihood: K posterior samples per example in the importance-weighted bound "
        "(Burda et al. 2016); K = 1 gives the ELBO, larger K a tighter estimate.",
    )
    feature_extractor: Optional[str] = Field(
        None,
        description="A .keras classifier of your own (relative to the spec file, also with --set) whose penultimate layer is "
        "the feature space of fid/kid/precision_recall and whose predictions score class_accuracy and "
        "mode_coverage; default: genkit's CNN trained on the data's real training split.",
    )
    precision_recall_k: int = Field(
        3, ge=1, description="precision_recall: k of the k-nearest-neighbour manifold estimate (Kynkäänniemi et al. 2019)."
    )


class OnnxSpec(Section):
    networks: Optional[list[str]] = Field(
        None, description="Networks to export; default: every network the family offers (encoder and decoder here)."
    )
    opset: int = Field(17, ge=13, le=18, description="ONNX opset (tf2onnx 1.17 converts 13-18).")
    tolerance: float = Field(1.0e-4, gt=0.0, description="Largest ONNX-vs-Keras difference accepted.")
    quantize: Literal[QUANTIZE_MODES] = Field(
        "none",
        description="Also write a smaller or faster copy of every network beside its float32 file, which the runtime "
        "then loads (manifest networks.<name>.file; float32_file keeps the original): dynamic_int8 - int8 weights, "
        "activations quantised per batch at run time; static_int8 - int8 weights and activations, their ranges "
        "calibrated on the inputs the networks see when sampling, encoding or translating the training data; "
        "float16 - half-precision weights and maths, float32 inputs and outputs. The manifest's quantize section "
        "records the quantised vs float32 samples of the same seeds (max/mean abs difference, sampling time, and "
        "FID and class_accuracy where evaluate.metrics asks for them). Measured on CPU (benchmarks/quantize.py): "
        "FID moved by less than 1% on the trained cvae and infogan exports; both int8 settings run dense (MLP) "
        "networks 2-4x faster, static_int8 also the stylegan/progan synthesis networks and diffusion U-Nets "
        "1.2-2.3x, while dynamic_int8 runs convolutional networks 3-4x slower and small convolutional decoders "
        "gain nothing from either; float16 halves the files without speeding up CPUs.",
    )
    quantize_samples: int = Field(
        256,
        ge=8,
        le=10_000,
        description="quantize: samples drawn (spec seed) through the float32 and the quantised networks for the "
        "manifest's comparison; FID is biased upwards at small N, so it compares the two only with each other.",
    )


class ExportSpec(Section):
    dir: Optional[str] = Field(None, description="Export folder; default exports/<name>.")
    onnx: OnnxSpec = Field(default_factory=OnnxSpec, description="ONNX export.")


# --------------------------------------------------------------------------- sample
class SampleSpec(Section):
    """How a diffusion model samples by default: per-epoch grids, evaluation, export and `genkit sample`."""

    sampler: Literal[SAMPLERS] = Field(
        "ddim",
        description="ancestral: DDPM Algorithm 2 (stochastic; with steps < timesteps on a respaced schedule); "
        "ddim: Song et al. 2021, deterministic at eta 0 and good in 20-100 steps. Deterministic ODE solvers for "
        "10-20 steps, on timesteps evenly spaced in log-SNR: dpmpp_2m: DPM-Solver++(2M), Lu et al. 2022, second "
        "order, one network call a step; euler: Karras et al. 2022 Algorithm 1, first order (DDIM at eta 0 in "
        "other variables); heun: its second-order form, two network calls a step but the last. dpmpp_2m_sde: "
        "DPM-Solver++(2M) of the reverse SDE, fresh noise each step (first order it is ddim at eta 1): the "
        "few-step sampler for models that sample best stochastically.",
    )
    steps: int = Field(
        50,
        ge=1,
        description="Denoising steps from T-1 down to 0 (at most model.diffusion.timesteps): evenly spaced for "
        "ancestral and ddim, evenly spaced in log-SNR for dpmpp_2m, dpmpp_2m_sde, euler and heun.",
    )
    eta: float = Field(0.0, ge=0.0, le=1.0, description="ddim: noise of each step; 0 deterministic, 1 as ancestral.")
    variance: Literal[VARIANCES] = Field(
        "beta",
        description="ancestral: sigma_t^2 = beta_t, or the posterior variance beta-tilde_t (Ho et al. 2020 found "
        "both to work about equally).",
    )
    clip_denoised: bool = Field(
        True,
        description="Clip each step's estimate of x0 to [-1, 1], as Ho et al.'s code does; false is Algorithm 2 verbatim. "
        "Pixel diffusion only: latent_diffusion never clips its latents, which are unbounded (its exports record false).",
    )
    guidance_scale: float = Field(
        1.0,
        ge=0.0,
        description="Conditional models: w in eps = eps_null + w (eps_y - eps_null) (classifier-free guidance); "
        "1 is the plain conditional model, 2-4 trades diversity for clearer classes.",
    )
    guidance_interval: Optional[list[StrictInt]] = Field(
        None,
        min_length=2,
        max_length=2,
        description="Conditional models with guidance_scale != 1: [low, high] timesteps; guide only while "
        "low <= t <= high and run the conditional network alone elsewhere (a batch of x, not of [x, x]). Guidance "
        "at the noisiest steps costs diversity and near the end it only sharpens strokes (Kynkaanniemi et al. "
        "2024, 'Applying guidance in a limited interval'). Absent: every step.",
    )

    @field_validator("guidance_interval")
    @classmethod
    def _ordered(cls, value):
        if value is not None and not 0 <= value[0] <= value[1]:
            raise ValueError("expected [low, high] timesteps with 0 <= low <= high: swap them if reversed")
        return value


# --------------------------------------------------------------------------- root
NAME_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$"
MAX_NAME_LENGTH = 100


class SpecBase(Section):
    genkit_spec: int = Field(1, ge=1, le=1, description="Version of the spec language.")
    name: str = Field(
        ...,
        pattern=NAME_PATTERN,
        max_length=MAX_NAME_LENGTH,
        description=f"Run and export name (the folder under runs_dir and export.dir): letters, digits, '_', '-' "
        f"and '.', not starting with a dot, at most {MAX_NAME_LENGTH} characters.",
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed for data shuffling, initialisation and noise.")
    data: DataSpec = Field(default_factory=DataSpec, description="Training data.")
    model: ModelSpec = Field(..., description="The generative model: its family, latent size, conditioning and networks.")
    train: TrainSpec = Field(default_factory=TrainSpec, description="Training schedule.")
    evaluate: EvaluateSpec = Field(default_factory=EvaluateSpec, description="Evaluation after training.")
    export: ExportSpec = Field(default_factory=ExportSpec, description="Export of trained networks.")
    sample: Optional[SampleSpec] = Field(
        None, description="Diffusion families: sampling defaults (sampler, steps, guidance); absent means every default."
    )
    runs_dir: str = Field("runs", description="Folder that receives run folders.")
    blocks: dict[str, BlockSpec] = Field(
        default_factory=dict, description="Reusable sub-networks with parameters, used in networks like layers."
    )


    @field_validator("name", mode="before")
    @classmethod
    def _folder_name(cls, value):
        """A clear message before the pattern's: the name becomes a folder name."""
        if not isinstance(value, str):
            return value
        if value.startswith("."):
            raise ValueError(
                "a name cannot start with a dot (a hidden folder, or '.' or '..' that would name the folder above): "
                "it names the run's folder"
            )
        if len(value) > MAX_NAME_LENGTH:
            raise ValueError(f"a name has at most {MAX_NAME_LENGTH} characters; this one has {len(value)}")
        if not re.fullmatch(NAME_PATTERN, value):
            raise ValueError("a name holds only letters, digits, '_', '-' and '.': it names the run's folder")
        return value


_SPEC_CLASSES: dict = {}


def _section_field(cls, description: str):
    """A family section's field: defaulted when every option has a default, else required."""
    if any(info.is_required() for info in cls.model_fields.values()):
        return Field(..., description=description)
    return Field(default_factory=cls, description=description)


def _evaluate_class(declared):
    """The evaluate section with the family's default metrics, so a spec without them is valid as written."""
    metrics = family_metrics(declared)
    if metrics == EvaluateSpec.model_fields["metrics"].get_default(call_default_factory=True):
        return EvaluateSpec
    info = EvaluateSpec.model_fields["metrics"]
    return create_model(
        f"EvaluateSpec_{declared.name}",
        __base__=EvaluateSpec,
        __doc__=EvaluateSpec.__doc__,
        metrics=(info.annotation, Field(default_factory=lambda: list(metrics), description=info.description)),
    )


def spec_class(family: str):
    """The root spec class for `family`: SpecBase with that family's loss section."""
    if family not in _SPEC_CLASSES:
        declared = card(family)
        sections = {
            key: (cls, _section_field(cls, f"{family} only: {(cls.__doc__ or key).strip().splitlines()[0]}"))
            for key, cls in declared.sections.items()
        }
        evaluate = _evaluate_class(declared)
        _SPEC_CLASSES[family] = create_model(
            f"Spec_{family}",
            __base__=SpecBase,
            loss=(declared.loss, Field(default_factory=declared.loss, description=f"Objective of the {family} family.")),
            evaluate=(evaluate, Field(default_factory=evaluate, description=SpecBase.model_fields["evaluate"].description)),
            **sections,
        )
    return _SPEC_CLASSES[family]


Spec = SpecBase  # the type every stage receives (an instance of one spec_class(...))
