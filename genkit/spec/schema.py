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

from genkit.schedules import PREDICTIONS, SAMPLERS, SCHEDULES, VARIANCES

__all__ = [
    "ConditionSpec",
    "DataSpec",
    "DiffusionSpec",
    "EvaluateSpec",
    "ExportSpec",
    "FAMILY_NETWORKS",
    "LOSS_SCHEMAS",
    "ModelSpec",
    "NetworkSpec",
    "OptimizerSpec",
    "SampleSpec",
    "Spec",
    "TrainSpec",
    "spec_class",
]


class Section(BaseModel):
    """Base of every spec section: frozen, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- data
DATA_SOURCES = ("mnist", "fashion_mnist", "cifar10", "npz", "folder", "npz_shards", "tfrecord")
STREAMED_SOURCES = ("npz_shards", "tfrecord")  # read from disk batch by batch, never whole into memory
DATA_RANGES = ((0.0, 1.0), (-1.0, 1.0))
# Sources whose second domain genkit derives from their images (translation.derive).
BUILTIN_SOURCES = ("mnist", "fashion_mnist", "cifar10")
PAIRINGS = ("paired", "unpaired")
DERIVATIONS = ("super_resolution", "thicken")


class TranslationSpec(Section):
    """Image-to-image translation data: two domains, A (the source, `x`) and B (the target)."""

    pairing: Literal[PAIRINGS] = Field(
        "paired",
        description="paired: every image of A has its image of B (the same index in an npz, the same file "
        "name in a folder), and the pairs stay aligned when shuffled (pix2pix); unpaired: A and B are two "
        "independent sets, shuffled separately (cyclegan).",
    )
    derive: Optional[Literal[DERIVATIONS]] = Field(
        None,
        description="Builtin sources (required there): make the two domains from the dataset's own images. "
        "super_resolution - A is each image downsampled 2x (area average) and resized back with bilinear "
        "interpolation, B the image itself; thicken - A is the image, B the image dilated by a 3x3 maximum "
        "filter (thicker strokes). Unpaired: A and B come from disjoint halves of each split, so no image "
        "of A has its counterpart in B.",
    )
    target_key: str = Field(
        "y",
        description="npz: array name of domain B's images (data.x_key names domain A's); with 'x_test' in the "
        "file, '<target_key>_test' holds B's test images.",
    )



class DataSpec(Section):
    source: Literal[DATA_SOURCES] = Field(
        "mnist",
        description="Where images come from: a keras.datasets name, an .npz file, an image folder, or data "
        "larger than memory streamed from shards: npz_shards (.npz files with the arrays x_key, y_key) or "
        "tfrecord (tf.train.Example records with an encoded PNG/JPEG 'image' and an int64 'label'). "
        "Streamed training shards are interleaved, shuffled through a buffer and prefetched; only the "
        "validation and test shards are loaded into memory.",
    )
    path: Optional[str] = Field(
        None,
        description="File or folder for npz/folder sources; a glob of training shards for npz_shards/tfrecord "
        "(e.g. 'shards/train-*.npz'); for builtin sources, a local copy used before any download (also read "
        "from $GENKIT_DATA). Relative to the spec file.",
    )
    val_path: Optional[str] = Field(
        None,
        description="npz_shards/tfrecord: a glob of validation shards, loaded into memory (none: no "
        "validation data; streamed sources do not take data.validation_split).",
    )
    test_path: Optional[str] = Field(
        None,
        description="npz_shards/tfrecord (required): a glob of test shards, loaded into memory for evaluation "
        "and export (only the first max(100, data.limit // 4) examples when data.limit is set).",
    )
    shuffle_buffer: int = Field(
        10000,
        ge=1,
        description="npz_shards/tfrecord: examples held in the shuffle buffer of the training stream (memory "
        "grows with it; the shards are also read in a shuffled order, interleaved).",
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
    batch_size: int = Field(
        128,
        ge=1,
        description="Examples per training step: the global batch, split evenly over the replicas of "
        "train.distribute (so it must be a multiple of their count; each then sees batch_size / replicas), "
        "and the loss is the mean over the global batch.",
    )
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
    translation: Optional[TranslationSpec] = Field(
        None,
        description="Image-to-image translation families (pix2pix, cyclegan): two domains, A -> B, paired or "
        "unpaired. npz: arrays data.x_key (A) and translation.target_key (B); folder: sub-folders trainA/ and "
        "trainB/ (and optionally testA/, testB/), paired images matched by file name; builtin sources: "
        "translation.derive.",
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


FAMILIES = (
    "autoencoder", "sparse_ae", "denoising_ae", "contractive_ae", "vae", "cvae", "gan", "cgan", "wgan", "ddpm", "pix2pix", "cyclegan",
)

# Networks each family needs from the spec; the family adds what its maths requires.
FAMILY_NETWORKS = {name: ("encoder", "decoder") for name in FAMILIES}
FAMILY_NETWORKS.update(gan=("generator", "discriminator"), cgan=("generator", "discriminator"), wgan=("generator", "critic"))
FAMILY_NETWORKS["ddpm"] = ("denoiser",)
FAMILY_NETWORKS.update(
    pix2pix=("generator", "discriminator"),
    cyclegan=("generator_ab", "generator_ba", "discriminator_a", "discriminator_b"),
)
# Families that translate images of domain A (data.translation) into domain B.
TRANSLATION_FAMILIES = ("pix2pix", "cyclegan")

# Families that train each network with its own optimizer (train.optimizers), and the
# network whose weights train.ema averages for sampling and export.
SEPARATE_OPTIMIZERS: tuple = ("gan", "cgan", "wgan", "pix2pix", "cyclegan")
EMA_NETWORK: dict = {"gan": "generator", "cgan": "generator", "wgan": "generator", "pix2pix": "generator"}
EMA_NETWORK["ddpm"] = "denoiser"


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


class ModelSpec(Section):
    family: Literal[FAMILIES] = Field(
        ..., description="Which generative model to build and how it trains."
    )
    latent_dim: Optional[int] = Field(
        None,
        ge=1,
        description="Size of the latent code (VAE and GAN families: required; autoencoders: the encoder's output).",
    )
    condition: Optional[ConditionSpec] = Field(None, description="Class conditioning (conditional families).")
    diffusion: Optional[DiffusionSpec] = Field(
        None, description="Diffusion families (ddpm): the noise schedule and the prediction target; required there."
    )
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


class FeatureMatchingSpec(Section):
    """Feature matching (Salimans et al. 2016, section 3.1): the generator also matches the mean
    features that a discriminator layer computes on real and on generated images."""

    layer: str = Field(
        ...,
        description="Name of a layer of the discriminator whose output is f(x): a `name:` given in the spec, "
        "or the generated name `genkit inspect` shows (e.g. leaky_re_lu_1).",
    )
    weight: float = Field(1.0, gt=0.0, description="w: weight of ‖mean f(x) − mean f(G(z))‖² in the generator loss.")
    combine: Literal["add", "replace"] = Field(
        "add",
        description="add: generator loss = adversarial loss + w · feature term; replace: w · feature term "
        "alone (the paper's pure feature matching).",
    )


class GANLoss(Section):
    generator_loss: Literal["non_saturating", "minimax", "max_likelihood"] = Field(
        "non_saturating",
        description="What the generator minimises, from the discriminator's logit l = σ⁻¹(D(G(z))): "
        "non_saturating −log D(G(z)) (strong gradients early on); minimax log(1 − D(G(z))) (the game's "
        "value; saturates when D wins); max_likelihood −exp(l) (Goodfellow 2014, 'On distinguishability "
        "criteria'; high variance).",
    )
    discriminator_steps: int = Field(
        1,
        ge=1,
        description="k: discriminator updates per generator update. Each step takes a fresh sub-batch of "
        "data.batch_size / k real images (the batch is split k ways), and the generator step draws as many latents.",
    )
    label_smoothing: float = Field(
        0.0,
        ge=0.0,
        lt=0.5,
        description="s: one-sided label smoothing (Salimans et al. 2016): real images get target 1 − s, "
        "generated ones keep 0.",
    )
    feature_matching: Optional[FeatureMatchingSpec] = Field(
        None, description="Feature matching on a discriminator layer (null: none)."
    )


class CGANLoss(GANLoss):
    discriminator_conditioning: Literal["input", "projection"] = Field(
        "input",
        description="How the label reaches the discriminator: input - tiled over the image as extra channels "
        "(Mirza & Osindero 2014); projection - logit += <embed(y), phi(x)> with phi(x) the input of the "
        "discriminator's final Dense(units: 1) layer (Miyato & Koyama 2018).",
    )


class WGANLoss(Section):
    lipschitz: Literal["gradient_penalty", "clip"] = Field(
        "gradient_penalty",
        description="How the critic is kept 1-Lipschitz: gradient_penalty - λ·(‖∇D(x̂)‖₂ − 1)² on random "
        "interpolates x̂ (Gulrajani et al. 2017); clip - every critic weight clipped to [−c, c] after each "
        "step (Arjovsky et al. 2017).",
    )
    clip_value: float = Field(0.01, gt=0.0, description="c: clip bound of the critic's weights (clip).")
    gp_weight: float = Field(10.0, gt=0.0, description="λ: weight of the gradient penalty (gradient_penalty).")
    critic_steps: int = Field(
        5,
        ge=1,
        description="n_critic: critic updates per generator update, each on a fresh sub-batch of "
        "data.batch_size / n_critic real images (the batch is split n_critic ways).",
    )


class DiffusionLoss(Section):
    """The simple objective of Ho et al. 2020 (eq. 14): the mean squared error between the denoiser's
    output and its target (model.diffusion.prediction) at a uniformly drawn timestep. No options."""


class Pix2PixLoss(Section):
    """Isola et al. 2017, eq. 4: G* = arg min_G max_D L_cGAN(G, D) + λ·L_L1(G), with a PatchGAN D that
    sees the source image beside the real or generated target and gives one logit per patch."""

    l1_weight: float = Field(
        100.0,
        ge=0.0,
        description="λ: weight of the L1 distance between G(x) and the target (a mean over pixels), "
        "added to the adversarial term; Isola et al. use 100. 0 leaves the conditional GAN alone.",
    )


class CycleGANLoss(Section):
    """Zhu et al. 2017, eq. 3 with least-squares adversarial terms (Mao et al. 2017) and the identity
    term of section 5.2; discriminators learn from a history of generated images."""

    cycle_weight: float = Field(
        10.0, ge=0.0, description="λ_cycle: weight of the cycle-consistency terms ‖F(G(a)) − a‖₁ + ‖G(F(b)) − b‖₁."
    )
    identity_ratio: float = Field(
        0.5,
        ge=0.0,
        description="λ_identity as a share of cycle_weight: the identity terms ‖G(b) − b‖₁ + ‖F(a) − a‖₁ are "
        "weighted identity_ratio · cycle_weight (Zhu et al.'s code: 0.5, i.e. 5 when cycle_weight is 10). "
        "They keep colours and intensities unless the translation must change them; 0 turns them off.",
    )
    pool_size: int = Field(
        50,
        ge=0,
        description="Generated images remembered per domain (Shrivastava et al. 2017): once the pool is full, "
        "each new image is shown to the discriminator with probability 1/2, else a stored one is shown and "
        "replaced by it. 0: the discriminators see only the current batch.",
    )


LOSS_SCHEMAS = {
    "autoencoder": ReconstructionLoss,
    "sparse_ae": SparseLoss,
    "denoising_ae": DenoisingLoss,
    "contractive_ae": ContractiveLoss,
    "vae": VAELoss,
    "cvae": VAELoss,
    "gan": GANLoss,
    "cgan": CGANLoss,
    "wgan": WGANLoss,
    "ddpm": DiffusionLoss,
    "pix2pix": Pix2PixLoss,
    "cyclegan": CycleGANLoss,
}


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
    "translation_l1",
    "cycle_error",
    "mean_intensity",
)
# Metrics of generated samples: they need a family that can sample (draw new images).
SAMPLE_METRICS = ("fid", "kid", "precision_recall", "mode_coverage", "class_accuracy")
# Metrics of translated images: they need a translation family.
TRANSLATION_METRICS = ("translation_l1", "cycle_error", "mean_intensity")


class EvaluateSpec(Section):
    metrics: list[Literal[EVALUATE_METRICS]] = Field(
        default_factory=lambda: ["reconstruction"],
        description="Metrics computed on held-out data after training, each written with its protocol: "
        "reconstruction error; the negative ELBO and an importance-weighted log-likelihood estimate (VAE "
        "families, bce); FID, KID, precision/recall (k-NN manifolds) and mode coverage of samples against "
        "held-out real images in the feature space of a domain classifier (trained by genkit on the real "
        "training split, cached; its test accuracy is reported beside every score); class accuracy of "
        "class-conditional samples. Translation families: translation_l1 - mean |G(x) - y| per pixel on "
        "held-out pairs (paired data), beside the baseline |x - y| of returning the input unchanged; "
        "cycle_error - mean |F(G(a)) - a| and |G(F(b)) - b| per pixel (cyclegan); mean_intensity - mean pixel "
        "value of inputs, translations and real target-domain images (does G make strokes thicker or "
        "images brighter as the target domain is?). All in [0, 1] units whatever data.range is.",
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
        description="A .keras classifier of your own (relative to the spec file) whose penultimate layer is "
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


class ExportSpec(Section):
    dir: Optional[str] = Field(None, description="Export folder; default exports/<name>.")
    onnx: OnnxSpec = Field(default_factory=OnnxSpec, description="ONNX export.")


# --------------------------------------------------------------------------- sample
class SampleSpec(Section):
    """How a diffusion model samples by default: per-epoch grids, evaluation, export and `genkit sample`."""

    sampler: Literal[SAMPLERS] = Field(
        "ddim",
        description="ancestral: DDPM Algorithm 2 (stochastic; with steps < timesteps on a respaced schedule); "
        "ddim: Song et al. 2021, deterministic at eta 0 and good in 20-100 steps.",
    )
    steps: int = Field(
        50, ge=1, description="Denoising steps, evenly spaced from T-1 down to 0 (at most model.diffusion.timesteps)."
    )
    eta: float = Field(0.0, ge=0.0, le=1.0, description="ddim: noise of each step; 0 deterministic, 1 as ancestral.")
    variance: Literal[VARIANCES] = Field(
        "beta",
        description="ancestral: sigma_t^2 = beta_t, or the posterior variance beta-tilde_t (Ho et al. 2020 found "
        "both to work about equally).",
    )
    clip_denoised: bool = Field(
        True, description="Clip each step's estimate of x0 to [-1, 1], as Ho et al.'s code does; false is Algorithm 2 verbatim."
    )
    guidance_scale: float = Field(
        1.0,
        ge=0.0,
        description="Conditional models: w in eps = eps_null + w (eps_y - eps_null) (classifier-free guidance); "
        "1 is the plain conditional model, 2-4 trades diversity for clearer classes.",
    )


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
    sample: Optional[SampleSpec] = Field(
        None, description="Diffusion families: sampling defaults (sampler, steps, guidance); absent means every default."
    )
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
