"""What every family shares: the registry, loss trackers, data unpacking, input checks.

A family is a `keras.Model` subclass that wraps the networks built from the spec, adds
what its mathematics requires, and owns `train_step`. This module holds only the
plumbing they all need; the maths stay in each family's module and in `genkit.losses`.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from genkit.errors import Problem, SpecError, did_you_mean
from genkit.nets import build_network

__all__ = ["FAMILY_CLASSES", "GenerativeModel", "build_family", "register_family"]

FAMILY_CLASSES: dict = {}


def register_family(name: str):
    """Class decorator: make a family buildable by `model.family: <name>`."""

    def deco(cls):
        cls.family = name
        FAMILY_CLASSES[name] = cls
        return cls

    return deco


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

    def record(self, values: dict) -> dict:
        """Update the trackers from named scalar losses; return the logged values."""
        for tracker in self.trackers:
            tracker.update_state(values[tracker.name])
        return {t.name: t.result() for t in self.trackers}

    def scaled_loss(self, loss):
        """The loss to differentiate: divided over replicas (Keras sums their gradients) and
        multiplied by the loss scale under mixed precision. Call it inside the tape."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return self.optimizer.scale_loss(loss / replicas if replicas > 1 else loss)

    @staticmethod
    def unpack(data):
        """Keras hands over `x` or `(x, y)`; return (x, y or None)."""
        if isinstance(data, (tuple, list)):
            return data[0], (data[1] if len(data) > 1 else None)
        return data, None

    def configure_schedule(self, steps_per_epoch: int) -> None:
        """Tell the family how many steps make an epoch (for per-step ramps)."""

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
