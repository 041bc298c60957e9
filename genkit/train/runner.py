"""The train stage: spec -> data -> family -> fit, with grids, history and checkpoints.

`prepare` builds what every stage needs (data and the family model) the same way, so
`genkit evaluate` and `genkit export` rebuild a trained run exactly as it was trained.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from genkit.data import load_data
from genkit.errors import GenkitError
from genkit.evaluate.plots import plot_history
from genkit.families import build_family
from genkit.spec import LoadedSpec, validate_dict
from genkit.spec.schema import FAMILY_NETWORKS, SEPARATE_OPTIMIZERS
from genkit.train.callbacks import CheckpointEvery, SampleGrid
from genkit.train.keep_best import BEST, KeepBest, best_state
from genkit.train.checkpoint import latest_checkpoint, load_with_optimizer, restore_checkpoint
from genkit.train.optimizers import make_optimizer
from genkit.train.run_folder import add_train_seconds, find_latest_run, new_run_dir, read_run_spec, spec_hash, write_run_record

__all__ = ["Prepared", "build_for_check", "build_model", "open_run", "prepare", "train"]

FINAL_WEIGHTS = "model.weights.h5"


@dataclass
class Prepared:
    spec: object
    data: object
    model: object
    steps_per_epoch: int
    run_dir: Path | None = None


def _strategy(spec):
    if spec.train.distribute == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def prepare(spec, *, quiet: bool = False) -> Prepared:
    """Seed everything, load the data, build and compile the family model."""
    keras.utils.set_random_seed(spec.seed)
    keras.mixed_precision.set_global_policy(spec.train.precision)
    data = load_data(spec.data, spec.seed)
    if not quiet:
        print(data.describe(), flush=True)
    n_train = len(data.x_train)
    steps = math.ceil(n_train / spec.data.batch_size)
    if spec.train.steps_per_epoch:
        steps = min(steps, spec.train.steps_per_epoch)
    model = build_model(spec, data.shape, data.num_classes, steps)
    return Prepared(spec=spec, data=data, model=model, steps_per_epoch=steps)


def build_model(spec, data_shape, num_classes, steps_per_epoch: int):
    """The compiled family model (also what `genkit validate` builds, without any data)."""
    with _strategy(spec).scope():
        model = build_family(spec, data_shape, num_classes)
        model.configure_schedule(steps_per_epoch)
        if spec.model.family in SEPARATE_OPTIMIZERS:
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
    optimizers = {}
    for role in FAMILY_NETWORKS[spec.model.family]:
        own = role in spec.train.optimizers
        options = spec.train.optimizers[role] if own else spec.train.optimizer
        path = ("train", "optimizers", role) if own else ("train", "optimizer")
        steps = steps_per_epoch * model.updates_per_step(role)
        optimizers[role] = make_optimizer(options, steps, spec.train.epochs, path)
    return optimizers


def build_for_check(spec):
    """The compiled family model without training data, as `genkit validate` checks a spec.

    Builtin datasets have known shapes, so checking neither loads nor downloads them; npz
    and folder sources are read (a small sample) to learn theirs.
    """
    from genkit.data import BUILTIN_CLASSES, BUILTIN_SHAPES

    keras.utils.set_random_seed(spec.seed)
    if spec.data.source in BUILTIN_SHAPES:
        shape, classes = BUILTIN_SHAPES[spec.data.source], BUILTIN_CLASSES if spec.data.labels else None
    else:
        data = load_data(spec.data.model_copy(update={"limit": 64, "validation_split": 0.0}), spec.seed)
        shape, classes = data.shape, data.num_classes
    return build_model(spec, shape, classes, steps_per_epoch=1)


def _fixed_batch(data, n=32):
    """The first validation (else training) images: the same every epoch, so grids compare."""
    x = data.x_val if len(data.x_val) else data.x_train
    y = data.y_val if len(data.x_val) else data.y_train
    return x[:n], (None if y is None else y[:n])


def train(loaded: LoadedSpec, *, resume: bool = False) -> Prepared:
    spec = loaded.spec
    initial_epoch = 0
    run_dir = None
    if resume:
        run_dir = find_latest_run(spec)
        if run_dir is None:
            raise GenkitError(
                f"--resume: no earlier run of '{spec.name}' with a checkpoint under {spec.runs_dir}/{spec.name}/. "
                "Run without --resume to start one."
            )
    prep = prepare(spec)
    model, data = prep.model, prep.data
    if run_dir is not None:
        checkpoint = latest_checkpoint(run_dir / "checkpoints")
        if checkpoint is None:
            raise GenkitError(f"--resume: {run_dir} has no complete checkpoint. Run without --resume.")
        state = json.loads((checkpoint / "state.json").read_text())
        if state.get("spec_hash") != spec_hash(spec):
            raise GenkitError(
                f"--resume: the spec changed since {run_dir} was written (only train.epochs may change). "
                "Start a new run without --resume, or restore the spec."
            )
        state = restore_checkpoint(model, checkpoint)
        initial_epoch = int(state["epoch"])
        print(f"resuming {run_dir} after epoch {initial_epoch}", flush=True)
        if initial_epoch >= spec.train.epochs:
            print(f"nothing to train: {initial_epoch} of {spec.train.epochs} epochs done", flush=True)
    else:
        run_dir = new_run_dir(spec)
        write_run_record(run_dir, spec, data.origin)
    prep.run_dir = run_dir
    print(f"run folder: {run_dir}", flush=True)

    x_fixed, y_fixed = _fixed_batch(data)
    callbacks = [
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=resume),
        keras.callbacks.TerminateOnNaN(),
        SampleGrid(run_dir / "samples", spec.train.sample_every, x_fixed, y_fixed, tuple(spec.data.range)),
        CheckpointEvery(run_dir / "checkpoints", spec.train.checkpoint_every, spec.train.epochs, {"spec_hash": spec_hash(spec)}),
    ]
    if spec.train.keep_best is not None:
        # Before the CSV logger, so the measured value lands in history.csv.
        callbacks.insert(0, _keep_best(spec, prep, run_dir))
    callbacks += model.training_callbacks(x_fixed, y_fixed)
    if spec.train.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), profile_batch=0))
    train_ds = data.train_dataset(spec.data.batch_size, shuffle=spec.data.shuffle, seed=spec.seed)
    val_ds = data.eval_dataset("val", spec.data.batch_size) if len(data.x_val) else None
    if initial_epoch < spec.train.epochs:
        started = time.perf_counter()
        model.fit(
            train_ds.repeat() if spec.train.steps_per_epoch else train_ds,
            validation_data=val_ds,
            epochs=spec.train.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=prep.steps_per_epoch if spec.train.steps_per_epoch else None,
            callbacks=callbacks,
            shuffle=False,  # the tf.data pipeline shuffles with the spec seed
            verbose=1 if sys.stdout.isatty() else 2,
        )
        add_train_seconds(run_dir, time.perf_counter() - started)
    if any(not np.all(np.isfinite(np.asarray(v))) for v in model.trainable_variables):
        raise GenkitError(
            "training diverged: the weights hold NaN or Inf. Lower train.optimizer.learning_rate, "
            "or set train.optimizer.clipnorm."
        )
    best = best_state(run_dir / "checkpoints")
    if spec.train.keep_best is not None and spec.train.keep_best.use_for_export and best is not None:
        load_with_optimizer(model, run_dir / "checkpoints" / BEST / "model.weights.h5")
        print(f"keep_best: evaluating and exporting the weights of epoch {best['epoch']} ({best['metric']} {best['value']:.4f})", flush=True)
    # Written under temporary names then renamed: a crash never leaves half a file behind.
    _save_atomically(model.save_weights, run_dir / FINAL_WEIGHTS)
    (run_dir / "networks").mkdir(exist_ok=True)
    for role, net in model.networks().items():
        _save_atomically(net.save, run_dir / "networks" / f"{role}.keras")
    if (run_dir / "history.csv").exists():
        plot_history(run_dir / "history.csv", run_dir / "loss_curve.png")
    return prep


def _keep_best(spec, prep, run_dir) -> KeepBest:
    best = spec.train.keep_best
    if best.metric in ("val_loss", "neg_elbo"):
        key = "val_loss" if best.metric == "val_loss" else "val_neg_elbo"

        def measure(logs):
            return logs[key]
    else:
        from genkit.evaluate.sample_quality import sample_scores

        def measure(logs):
            return sample_scores(prep.model, prep.data, spec, [best.metric], {}, reference="val", n=best.samples)[best.metric]

    return KeepBest(run_dir / "checkpoints", best.metric, best.every, measure)


def _save_atomically(save, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp{''.join(path.suffixes)}")
    try:
        save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def open_run(run_dir) -> Prepared:
    """Rebuild a finished run from its folder: resolved spec, data, final weights."""
    run_dir = Path(run_dir)
    spec = validate_dict(read_run_spec(run_dir))
    weights = run_dir / FINAL_WEIGHTS
    if not weights.is_file():
        raise GenkitError(f"{run_dir} has no {FINAL_WEIGHTS}: its training did not finish. Resume it with 'genkit run SPEC --resume'.")
    prep = prepare(spec)
    load_with_optimizer(prep.model, weights)
    prep.run_dir = run_dir
    return prep
