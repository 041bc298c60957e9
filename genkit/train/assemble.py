"""Assemble what every stage needs: seeded data and the compiled family model, from a spec.

`prepare` builds them the same way for training, evaluation and export, so `genkit evaluate`
and `genkit export` rebuild a trained run exactly as it was trained.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import keras

from genkit.data import load_data
from genkit.errors import Problem, SpecError
from genkit.modeling.build import build_family
from genkit.spec.card import card
from genkit.train.distribute import check_global_batch, is_chief, strategy_for
from genkit.train.optimizers import make_optimizer

__all__ = ["Prepared", "batch_warning", "build_for_check", "build_model", "prepare"]


@dataclass
class Prepared:
    spec: object
    data: object
    model: object
    steps_per_epoch: int
    run_dir: Path | None = None
    chief: bool = True  # False on a multi-worker cluster's other workers: run_dir is then a temporary folder


def prepare(spec, *, quiet: bool = False) -> Prepared:
    """Seed everything, load the data, build and compile the family model."""
    strategy = strategy_for(spec.train.distribute)  # first: a multi-worker strategy must precede any op
    keras.utils.set_random_seed(spec.seed)
    _set_determinism(spec.train.deterministic)
    keras.mixed_precision.set_global_policy(spec.train.precision)
    data = load_data(spec.data, spec.seed)
    if not quiet:
        print(data.describe(), flush=True)
    steps = _steps_per_epoch(spec, data.n_train, strategy.num_replicas_in_sync)
    if spec.data.batch_size > data.n_train:
        print(batch_warning(spec.data.batch_size, data.n_train), file=sys.stderr, flush=True)
    model = build_model(spec, data.shape, data.num_classes, steps)
    return Prepared(spec=spec, data=data, model=model, steps_per_epoch=steps, chief=is_chief(strategy))


def _set_determinism(on: bool) -> None:
    """train.deterministic. TensorFlow's switch is process-wide and its public API can only turn
    it on; every run sets it, so one run's setting never leaks into the next in a process."""
    from tensorflow.python.framework import config

    config.enable_op_determinism() if on else config.disable_op_determinism()


def _steps_per_epoch(spec, n_train: int, replicas: int) -> int:
    """Batches per epoch; with several replicas only whole batches (see `genkit.train.distribute`)."""
    batch = spec.data.batch_size
    steps = math.ceil(n_train / batch) if replicas == 1 else n_train // batch
    if steps == 0:
        raise SpecError(
            [Problem(("data", "batch_size"), f"is {batch}, more than the {n_train} training examples, and {replicas} replicas train on whole batches only.", "Lower it.")]
        )
    return min(steps, spec.train.steps_per_epoch) if spec.train.steps_per_epoch else steps


def batch_warning(batch_size: int, n_train: int) -> str:
    """A batch larger than the training set trains, but not as asked (with several replicas it is the error above)."""
    smaller = 2 ** int(math.log2(max(n_train // 8, 1)))  # a power of two, about an eighth of the set
    return (
        f"warning: data.batch_size is {batch_size}, more than the {n_train:,} training examples: every step trains "
        f"on all {n_train:,} (a smaller batch than asked) and an epoch is one step, one optimizer update. Set "
        f"data.batch_size to at most {n_train}, e.g. {smaller}, or train on more data (data.limit, data.validation_split)."
    )


def build_model(spec, data_shape, num_classes, steps_per_epoch: int):
    """The compiled family model (also what `genkit validate` builds, without any data)."""
    strategy = strategy_for(spec.train.distribute)
    family = card(spec.model.family)
    check_global_batch(spec.data.batch_size, strategy.num_replicas_in_sync, _updates_per_step(spec, family, None))
    with strategy.scope():
        model = build_family(spec, data_shape, num_classes, steps_per_epoch)
        if family.optimizers == "per_role":
            model.compile(optimizers=_optimizers_per_network(spec, model, steps_per_epoch), jit_compile=spec.train.jit_compile)
        else:
            model.compile(
                optimizer=make_optimizer(spec.train.optimizer, steps_per_epoch, spec.train.epochs),
                jit_compile=spec.train.jit_compile,
            )
    return model


def _optimizers_per_network(spec, model, steps_per_epoch: int) -> dict:
    """role -> optimizer from train.optimizers[role], else train.optimizer (two time-scale updates).

    A role updated k times per step (k discriminator steps) runs its schedule over k times
    as many updates, so it decays over the same epochs as the generator's.
    """
    family = card(spec.model.family)
    optimizers = {}
    for role in family.roles:
        own = role in spec.train.optimizers
        options = spec.train.optimizers[role] if own else spec.train.optimizer
        path = ("train", "optimizers", role) if own else ("train", "optimizer")
        steps = steps_per_epoch * _updates_per_step(spec, family, role)
        optimizers[role] = make_optimizer(options, steps, spec.train.epochs, path)
    return optimizers


def _updates_per_step(spec, family, role) -> int:
    """k for the role the card updates k times per train step (the sub-batches of one batch); else 1.

    With role None: the largest k, into which data.batch_size must split."""
    if family.sub_batches is None:
        return 1
    field, updated = family.sub_batches
    return getattr(spec.loss, field) if role in (None, updated) else 1


def build_for_check(spec):
    """The compiled family model without training data, as `genkit validate` checks a spec.

    Builtin datasets have known shapes, so checking neither loads nor downloads them; npz
    and folder sources are read (a small sample) to learn theirs.
    """
    from genkit.data import known_shape

    keras.utils.set_random_seed(spec.seed)
    if known_shape(spec.data) is not None:
        shape, classes = known_shape(spec.data)
    else:
        data = load_data(spec.data.model_copy(update={"limit": 64, "validation_split": 0.0}), spec.seed)
        shape, classes = data.shape, data.num_classes
    return build_model(spec, shape, classes, steps_per_epoch=1)
