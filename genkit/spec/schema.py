"""The spec schema: every option genkit reads, declared once with its default and doc.

Defaults, validation, JSON Schema and error messages all come from these classes; code
elsewhere reads fields from a validated `Spec` and never restates a default.

The `loss` section depends on the family: each family declares its own objective options
(`LOSS_SCHEMAS`), so an option that does not apply to the chosen family is an error
rather than silently ignored.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, create_model, field_validator, model_validator

__all__ = [
    "ConditionSpec",
    "DataSpec",
    "EvaluateSpec",
    "ExportSpec",
    "FAMILY_NETWORKS",
    "LOSS_SCHEMAS",
    "ModelSpec",
    "NetworkSpec",
    "OptimizerSpec",
    "Spec",
    "TrainSpec",
    "spec_class",
]


class Section(BaseModel):
    """Base of every spec section: frozen, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- data
DATA_SOURCES = ("mnist", "fashion_mnist", "cifar10", "npz", "folder")
DATA_RANGES = ((0.0, 1.0), (-1.0, 1.0))


class DataSpec(Section):
    source: Literal[DATA_SOURCES] = Field(
        "mnist", description="Where images come from: a keras.datasets name, an .npz file or an image folder."
    )
    path: Optional[str] = Field(
        None,
        description="File or folder for npz/folder sources; for builtin sources, a local copy used "
        "before any download (also read from $GENKIT_DATA). Relative to the spec file.",
    )
    x_key: str = Field("x", description="npz: array name of the images.")
    y_key: Optional[str] = Field("y", description="npz: array name of the integer labels (null: none).")
    image_size: Optional[tuple[PositiveInt, PositiveInt]] = Field(
        None, description="folder: resize every image to [height, width]."
    )
    color_mode: Literal["grayscale", "rgb"] = Field("grayscale", description="folder: channels to read.")
    range: tuple[float, float] = Field(
        (0.0, 1.0),
        json_schema_extra={"enum": [list(r) for r in DATA_RANGES]},
        description="Value range the networks see and exports produce: [0, 1] or [-1, 1].",
    )
    labels: bool = Field(False, description="Feed integer class labels along with the images.")
    batch_size: int = Field(128, ge=1, description="Examples per training step.")
    validation_split: float = Field(
        0.1, ge=0.0, lt=1.0, description="Share of the training split held out for validation."
    )
    limit: Optional[int] = Field(
        None,
        ge=1,
        description="Use only the first N training examples (quick runs and tests); also caps the test "
        "split at max(100, N // 4).",
    )
    shuffle: bool = Field(True, description="Shuffle the training set every epoch with the spec seed.")
    exclude_classes: list[int] = Field(
        default_factory=list,
        description="Leave these classes out of training and validation (the test split keeps them): "
        "e.g. train an anomaly detector on normal digits and score the held-out one.",
    )

    @field_validator("range")
    @classmethod
    def _known_range(cls, value):
        if tuple(value) not in DATA_RANGES:
            raise ValueError(f"got {list(value)}; expected [0, 1] or [-1, 1]")
        return value


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
    layers: Optional[list[Any]] = Field(None, description="Layers applied in order.")
    graph: Optional[list[Any]] = Field(None, description="Nodes of a graph network.")
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
    num_classes: int = Field(..., ge=2, description="Number of classes of the label.")
    encoding: Literal["onehot", "embedding"] = Field(
        "onehot", description="How a label enters the networks: a one-hot vector or a learned embedding."
    )
    embedding_dim: int = Field(16, ge=1, description="Size of the learned label embedding.")


FAMILIES = ("autoencoder", "sparse_ae", "denoising_ae", "contractive_ae", "vae", "cvae")

# Networks each family needs from the spec; the family adds what its maths requires.
FAMILY_NETWORKS = {name: ("encoder", "decoder") for name in FAMILIES}


class ModelSpec(Section):
    family: Literal[FAMILIES] = Field(
        ..., description="Which generative model to build and how it trains."
    )
    latent_dim: Optional[int] = Field(
        None,
        ge=1,
        description="Size of the latent code (VAE families: required; autoencoders: the encoder's output).",
    )
    condition: Optional[ConditionSpec] = Field(None, description="Class conditioning (conditional families).")
    networks: dict[str, NetworkSpec] = Field(..., description="The networks the family wraps, by role.")


# --------------------------------------------------------------------------- loss (per family)
class ReconstructionLoss(Section):
    reconstruction: Literal["bce", "mse"] = Field(
        "bce",
        description="Reconstruction term: binary cross-entropy (targets in [0, 1]) or mean squared error. "
        "Both are summed over pixels and averaged over the batch.",
    )


class SparseLoss(ReconstructionLoss):
    sparsity: Literal["kl", "l1"] = Field(
        "kl", description="Sparsity penalty on the bottleneck: KL toward target activation rho, or L1."
    )
    sparsity_target: float = Field(
        0.05, gt=0.0, lt=1.0, description="rho: the target mean activation of each bottleneck unit (kl)."
    )
    sparsity_weight: float = Field(1.0, ge=0.0, description="beta: weight of the sparsity penalty.")


class DenoisingLoss(ReconstructionLoss):
    corruption: Literal["masking", "gaussian"] = Field(
        "masking", description="Input corruption: zero inputs at random, or add Gaussian noise."
    )
    masking_rate: float = Field(
        0.3, ge=0.0, lt=1.0, description="nu: probability that an input value is set to the range's low end (masking)."
    )
    noise_stddev: float = Field(0.5, ge=0.0, description="sigma: standard deviation of added noise (gaussian).")


class ContractiveLoss(ReconstructionLoss):
    contractive_weight: float = Field(
        1.0e-4, ge=0.0, description="lambda: weight of the squared Frobenius norm of the encoder Jacobian."
    )


class VAELoss(ReconstructionLoss):
    kl_weight: float = Field(
        1.0, ge=0.0, description="beta: weight of the KL term; > 1 trades reconstruction for disentanglement."
    )
    kl_warmup_epochs: int = Field(
        0, ge=0, description="Ramp the KL weight linearly from 0 to kl_weight over this many epochs."
    )


LOSS_SCHEMAS = {
    "autoencoder": ReconstructionLoss,
    "sparse_ae": SparseLoss,
    "denoising_ae": DenoisingLoss,
    "contractive_ae": ContractiveLoss,
    "vae": VAELoss,
    "cvae": VAELoss,
}


# --------------------------------------------------------------------------- train
class OptimizerSpec(Section):
    name: Literal["adam", "adamw", "rmsprop", "sgd"] = Field("adam", description="Optimizer.")
    learning_rate: float = Field(1.0e-3, gt=0.0, description="Initial learning rate.")
    beta_1: Optional[float] = Field(None, ge=0.0, lt=1.0, description="adam/adamw: first-moment decay.")
    beta_2: Optional[float] = Field(None, ge=0.0, lt=1.0, description="adam/adamw: second-moment decay.")
    momentum: Optional[float] = Field(None, ge=0.0, lt=1.0, description="sgd/rmsprop: momentum.")
    weight_decay: Optional[float] = Field(None, ge=0.0, description="Decoupled weight decay.")
    clipnorm: Optional[float] = Field(None, gt=0.0, description="Clip each gradient to this norm.")
    schedule: Literal["constant", "cosine", "exponential"] = Field(
        "constant", description="Learning-rate schedule over the whole run."
    )
    decay_rate: float = Field(0.96, gt=0.0, le=1.0, description="exponential: factor per epoch.")
    warmup_epochs: int = Field(0, ge=0, description="Linear warm-up from 0 over this many epochs.")


class TrainSpec(Section):
    epochs: int = Field(10, ge=1, description="Passes over the training data.")
    steps_per_epoch: Optional[int] = Field(
        None, ge=1, description="Cap the steps of each epoch (quick runs)."
    )
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec, description="Optimizer of the model.")
    sample_every: int = Field(1, ge=0, description="Write a sample grid every N epochs (0: never).")
    checkpoint_every: int = Field(1, ge=0, description="Write a checkpoint every N epochs (0: only at the end).")
    precision: Literal["float32", "mixed_float16"] = Field(
        "float32", description="Numeric precision policy (mixed_float16 pays off on GPUs)."
    )
    jit_compile: bool = Field(False, description="Compile train steps with XLA.")
    distribute: Literal["none", "mirrored"] = Field(
        "none", description="tf.distribute strategy: 'mirrored' uses all local GPUs."
    )
    tensorboard: bool = Field(True, description="Write TensorBoard logs under the run folder.")


# --------------------------------------------------------------------------- evaluate / export
class EvaluateSpec(Section):
    metrics: list[Literal["reconstruction", "elbo", "fid", "class_accuracy"]] = Field(
        default_factory=lambda: ["reconstruction"],
        description="Metrics computed on held-out data after training: reconstruction error, the "
        "negative ELBO (VAE families), class accuracy of conditional samples (scored by a classifier "
        "trained on the real training split); fid arrives with the evaluation issue and is reported "
        "as not computed until then.",
    )
    samples: int = Field(2000, ge=1, description="Held-out examples (and generated samples) used.")


class OnnxSpec(Section):
    networks: Optional[list[str]] = Field(
        None, description="Networks to export; default: every network the family offers (encoder and decoder here)."
    )
    opset: int = Field(17, ge=13, le=18, description="ONNX opset (tf2onnx 1.17 converts 13-18).")
    tolerance: float = Field(1.0e-4, gt=0.0, description="Largest ONNX-vs-Keras difference accepted.")


class ExportSpec(Section):
    dir: Optional[str] = Field(None, description="Export folder; default exports/<name>.")
    onnx: OnnxSpec = Field(default_factory=OnnxSpec, description="ONNX export.")


# --------------------------------------------------------------------------- root
class SpecBase(Section):
    genkit_spec: int = Field(1, ge=1, le=1, description="Version of the spec language.")
    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$", description="Run and export name.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed for data shuffling, initialisation and noise.")
    data: DataSpec = Field(default_factory=DataSpec, description="Training data.")
    model: ModelSpec = Field(..., description="The generative model: its family, latent size, conditioning and networks.")
    train: TrainSpec = Field(default_factory=TrainSpec, description="Training schedule.")
    evaluate: EvaluateSpec = Field(default_factory=EvaluateSpec, description="Evaluation after training.")
    export: ExportSpec = Field(default_factory=ExportSpec, description="Export of trained networks.")
    runs_dir: str = Field("runs", description="Folder that receives run folders.")
    blocks: dict[str, BlockSpec] = Field(
        default_factory=dict, description="Reusable sub-networks with parameters, used in networks like layers."
    )


_SPEC_CLASSES: dict = {}


def spec_class(family: str):
    """The root spec class for `family`: SpecBase with that family's loss section."""
    if family not in _SPEC_CLASSES:
        loss_cls = LOSS_SCHEMAS[family]
        _SPEC_CLASSES[family] = create_model(
            f"Spec_{family}",
            __base__=SpecBase,
            loss=(loss_cls, Field(default_factory=loss_cls, description=f"Objective of the {family} family.")),
        )
    return _SPEC_CLASSES[family]


Spec = SpecBase  # the type every stage receives (an instance of one spec_class(...))
