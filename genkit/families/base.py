"""What every family shares: the registry, loss trackers, data unpacking, input checks.

A family is a `keras.Model` subclass that wraps the networks built from the spec, adds
what its mathematics requires, and owns `train_step`. This module holds only the
plumbing they all need; the maths stay in each family's module and in `genkit.losses`.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf

from genkit.errors import Problem, SpecError, did_you_mean
from genkit.nets import build_network
from genkit.nets.inference import predict_batches

__all__ = [
    "FAMILY_CLASSES",
    "GenerativeModel",
    "build_family",
    "decode_prior_draws",
    "prior_preview",
    "register_family",
    "update_tracker",
]

FAMILY_CLASSES: dict = {}
_RNG = "rng_"  # weights-file key prefix of the random generators' states


def register_family(name: str):
    """Class decorator: make a family buildable by `model.family: <name>`."""

    def deco(cls):
        cls.family = name
        for step in ("train_step", "test_step"):
            if step in vars(cls):
                setattr(cls, step, _reducible_across_workers(vars(cls)[step]))
        FAMILY_CLASSES[name] = cls
        return cls

    return deco


def _reducible_across_workers(step):
    """Return the step's logs as shape (1,) under a multi-worker strategy.

    Keras 3 reduces each multi-worker log with `strategy.reduce("MEAN", v, axis=0)`, which
    fails on scalars (tensorflow/tensorflow#72388); a (1,) value reduces to the scalar
    the callbacks expect. Other strategies get the logs untouched.
    """

    @functools.wraps(step)
    def wrapped(self, data):
        logs = step(self, data)
        if not isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            return logs
        return {key: tf.reshape(value, (1,)) for key, value in logs.items()}

    return wrapped


def build_family(spec, data_shape, num_classes=None):
    """Build the family model named by `spec.model.family` for data of `data_shape`."""
    family = spec.model.family
    _check_block_names(spec.blocks)
    if family not in FAMILY_CLASSES:
        raise SpecError(
            [Problem(("model", "family"), f"got {family!r}; no such family.", did_you_mean(family, FAMILY_CLASSES))]
        )
    model = FAMILY_CLASSES[family](spec, tuple(data_shape), num_classes)
    model.built = True  # its networks are built functional models; nothing waits for a first call
    return model


def build_trunk(spec, role, input_shape, input_name, data_shape=None):
    """Build the user's network for `role` on the input the family feeds it.

    The family supplies the input shape itself (it may add label channels), so a declared
    `input` only has to agree with `data_shape`, the data the spec trains on.
    """
    return build_network(
        role, _trunk_spec(spec, role, data_shape), input_shape=tuple(input_shape), input_name=input_name, blocks=spec.blocks
    )


def build_from_latent(model, spec, role, label_vector=None):
    """The network for `role` (a decoder or generator) on z, as a keras.Model named `role`.

    With `label_vector` (y, name) -> tensor, the model also takes an int label y, whose
    vector is joined to z before the user's trunk.
    """
    z = keras.Input((model.latent_dim,), name="z")
    inputs, h = [z], z
    if label_vector is not None:
        y = keras.Input((), dtype="int32", name="y")
        inputs.append(y)
        h = keras.layers.Concatenate(name="z_with_label")([z, label_vector(y, f"{role}_label")])
    trunk = build_trunk(spec, role, h.shape[1:], "z")
    model.trunks[role] = trunk
    return keras.Model(inputs if label_vector is not None else z, trunk(h), name=role)


def _check_block_names(blocks):
    from genkit.nets import list_layers

    taken = set(list_layers())
    clashes = [name for name in blocks if name in taken]
    if clashes:
        raise SpecError(
            [
                Problem(("blocks", name), f"{name!r} is already a layer name; a block needs its own.", f"Rename it, e.g. '{name}Block'.")
                for name in clashes
            ]
        )


def _trunk_spec(spec, role, data_shape=None):
    net = spec.model.networks[role]
    if net.input is not None and data_shape is not None and tuple(net.input) != tuple(data_shape):
        raise SpecError(
            [
                Problem(
                    ("model", "networks", role, "input"),
                    f"declares input {list(net.input)} but the data has shape {list(data_shape)}.",
                    "Make them agree, or remove 'input' (the family knows the data shape).",
                )
            ]
        )
    return net.model_copy(update={"input": None})


def condition_classes(condition, num_classes) -> int:
    """The label's class count (model.condition.num_classes); it must cover the data's classes."""
    if num_classes is not None and num_classes > condition.num_classes:
        raise SpecError(
            [
                Problem(
                    ("model", "condition", "num_classes"),
                    f"is {condition.num_classes} but the data has {num_classes} classes.",
                    f"Set it to {num_classes}.",
                )
            ]
        )
    return condition.num_classes


def check_output_shape(network, role, data_shape):
    got = tuple(network.output.shape[1:])
    if got != tuple(data_shape):
        raise SpecError(
            [
                Problem(
                    ("model", "networks", role),
                    f"outputs shape {list(got)} but the data has shape {list(data_shape)}.",
                    "Adjust the last layers (strides, filters, Reshape) so the output matches the data.",
                )
            ]
        )


class GenerativeModel(keras.Model):
    """Shared plumbing of the families (not a family itself).

    A family subclass provides, besides `train_step` and `test_step`:
    - `networks()`: role -> the full network as the family uses it (trunk + added layers);
    - `preview(x_fixed, y_fixed)`: (images, images per row, row labels or None) for the
      per-epoch grid;
    - `export_plan(x_train, y_train)`: (networks to export by name, manifest facts), the
      contract `genkit.runtime` reads.
    """

    family = ""
    loss_names: tuple = ("loss",)
    conditional = False  # whether the networks also take a class label
    # Logged loss -> the network it trains, named when that loss turns NaN or Inf; a loss
    # not listed trains all networks.
    loss_networks: dict = {}

    def __init__(self, spec, data_shape, num_classes=None, **kwargs):
        super().__init__(name=spec.model.family, **kwargs)
        self.data_shape = tuple(data_shape)
        self.num_classes = num_classes
        self.value_range = tuple(spec.data.range)
        self.seed = spec.seed
        self.trackers = [keras.metrics.Mean(name=n) for n in self.loss_names]
        self.trunks: dict = {}  # role -> the user's network, for `genkit inspect`

    @property
    def metrics(self):
        return list(self.trackers)

    def record(self, values: dict, batch=None) -> dict:
        """Update the trackers from named scalar losses; return the logged values.

        `batch` is the number of examples the values are means over (see `update_tracker`).
        """
        for tracker in self.trackers:
            update_tracker(tracker, values[tracker.name], batch)
        return {t.name: t.result() for t in self.trackers}

    def scaled_loss(self, loss):
        """The loss to differentiate: divided over replicas (Keras sums their gradients) and
        multiplied by the loss scale under mixed precision. Call it inside the tape.

        A replica's batch mean over the replica count is its share of the global batch mean
        only when the replicas take equal shares, which the trainer makes sure of
        (`genkit.train.distribute`)."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return self.optimizer.scale_loss(loss / replicas if replicas > 1 else loss)

    def label_classes(self):
        """How many classes the networks take labels of; None for an unconditional model."""
        return self.num_classes if self.conditional else None

    @staticmethod
    def unpack(data):
        """Keras hands over `x` or `(x, y)`; return (x, y or None)."""
        if isinstance(data, (tuple, list)):
            return data[0], (data[1] if len(data) > 1 else None)
        return data, None

    def configure_schedule(self, steps_per_epoch: int) -> None:
        """Tell the family how many steps make an epoch (for per-step ramps)."""

    def random_generators(self) -> list:
        """Every `keras.random.SeedGenerator` of the model and its networks, in a fixed order."""
        return [g for layer in self._flatten_layers(include_self=True) for g in layer._seed_generators]

    def save_own_variables(self, store):
        # Keras saves no SeedGenerator state. Saved with the weights, a resumed run draws the
        # noise an uninterrupted one would (VAE ε, GAN z, DDPM t and ε, dropout masks).
        super().save_own_variables(store)
        for i, generator in enumerate(self.random_generators()):
            store[f"{_RNG}{i}"] = generator.state

    def load_own_variables(self, store):
        keys = list(store.keys())
        super().load_own_variables({k: store[k] for k in keys if not k.startswith(_RNG)})
        # Weights files written before random states were saved have none: keep the fresh ones.
        for i, generator in enumerate(self.random_generators()):
            if f"{_RNG}{i}" in keys:
                generator.state.assign(store[f"{_RNG}{i}"])

    def additions(self) -> dict:
        """Role -> one line saying what the family added around the user's network."""
        return {}

    def optimizer_variables(self) -> list:
        """[(optimizer, the variables it updates)]: what a checkpoint's optimizer state belongs to."""
        return [(self.optimizer, self.trainable_variables)]

    def training_callbacks(self, x_fixed, y_fixed=None) -> list:
        """Keras callbacks the family adds to training (e.g. the GAN monitor)."""
        return []

    def export_input_ranges(self) -> dict:
        """role -> input -> (low, high) of values for the export's parity batch, beyond the data's
        images and labels (e.g. a denoiser's timesteps)."""
        return {}


def update_tracker(tracker, value, batch=None) -> None:
    """Add the mean `value` of `batch` examples to a `keras.metrics.Mean` tracker.

    Weighted by `batch`, a tracker holds the mean over examples, whatever the batch sizes; under
    a tf.distribute strategy Keras sums the replicas' totals and counts, so it is the global mean.
    A replica's share of a short last evaluation batch can be empty: its means are NaN (0 / 0)
    and weigh nothing.
    """
    if batch is None:
        tracker.update_state(value)
        return
    weight = tf.cast(batch, "float32")
    tracker.update_state(tf.where(weight > 0, tf.cast(value, "float32"), 0.0), sample_weight=weight)


def decode_prior_draws(network, latent_dim: int, n: int, *, labels=None, num_classes=None, seed: int = 0):
    """n outputs of `network` for z ~ N(0, I): a VAE's decoder or a GAN's generator.

    A conditional network (num_classes given) also takes labels: the given ones, or
    0 … K−1 in turn, cycled to n.
    """
    z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype("float32")
    if num_classes is None:
        return predict_batches(network, z)
    y = np.resize(np.asarray(labels if labels is not None else np.arange(num_classes), "int32"), n)
    return predict_batches(network, [z, y])


def prior_preview(network, latent_dim: int, seed: int, num_classes=None, cols: int = 8):
    """The per-epoch grid of a latent-variable model: (images, columns, row labels or None).

    The draws come from the spec seed every epoch so grids compare. A conditional network
    gets a row per class with the same z in every row, so only the label changes.
    """
    if num_classes is None:
        return decode_prior_draws(network, latent_dim, 4 * cols, seed=seed), cols, None
    z = np.random.default_rng(seed).standard_normal((cols, latent_dim)).astype("float32")
    z = np.tile(z, (num_classes, 1))
    y = np.repeat(np.arange(num_classes, dtype="int32"), cols)
    images = predict_batches(network, [z, y])
    return images, cols, [f"label {k}" for k in range(num_classes)]


def fit_gaussian(codes: np.ndarray) -> dict:
    """A Gaussian prior fitted to encoded training data, for autoencoders that have none.

    Returns the runtime's `gaussian` prior: mean and lower Cholesky factor of the
    covariance (a small ridge keeps the factorisation defined for dead units).
    """
    codes = codes.reshape(len(codes), -1).astype(np.float64)
    mean = codes.mean(axis=0)
    cov = np.cov(codes, rowvar=False).reshape(codes.shape[1], codes.shape[1])
    cov += np.eye(len(cov)) * (1e-6 + 1e-6 * float(np.trace(cov)) / max(len(cov), 1))
    return {"kind": "gaussian", "mean": mean.tolist(), "scale_tril": np.linalg.cholesky(cov).tolist()}
