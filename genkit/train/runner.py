"""The train stage: a prepared model (`assemble.prepare`) -> fit, with grids, history and checkpoints."""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from genkit.errors import GenkitError, write_failure
from genkit.spec import LoadedSpec, validate_dict
from genkit.spec.card import card
from genkit.train.assemble import Prepared, prepare
from genkit.train.callbacks import CheckpointEvery, SampleGrid, StopAfterMinutes
from genkit.train.checkpoint import WEIGHTS, load_with_optimizer, resumable_checkpoint
from genkit.train.divergence import Diverged, StopOnNonFinite
from genkit.train.gan_monitor import AdversarialMonitor, discriminator_remedies
from genkit.train.health import read_history, record_warnings, training_warnings
from genkit.train.interrupt import CheckpointOnInterrupt, checkpoint_on_interrupt, interrupted_training
from genkit.train.keep_best import BEST, KeepBest, best_state
from genkit.train.plots import plot_history
from genkit.train.resume import ContinueMetrics, ResumePoint, resume_run
from genkit.train.run_folder import (
    add_train_seconds,
    find_latest_run,
    new_run_dir,
    read_run_spec,
    recorded_train_seconds,
    spec_hash,
    write_run_record,
)

__all__ = ["FINAL_WEIGHTS", "open_run", "resume_command", "train"]

FINAL_WEIGHTS = "model.weights.h5"


def _fixed_batch(data, n=32):
    """The first validation (else training) images: the same every epoch, so grids compare."""
    x = data.x_val if len(data.x_val) else data.x_train
    y = data.y_val if len(data.x_val) else data.y_train
    return x[:n], (None if y is None else y[:n])


def train(
    loaded: LoadedSpec,
    *,
    resume: bool = False,
    allow_spec_change: bool = False,
    score_samples=None,
    run_dir=None,
    command: str = "run",
    flags=(),
) -> Prepared:
    """Train `loaded` (a new run, or with `resume` the run folder `run_dir`, default the spec's
    newest run) and save its final weights.

    `score_samples(model, data, spec, metrics, logs, reference, n) -> {metric: value}` measures
    sample quality for train.keep_best on fid/kid; the evaluation stage owns it
    (`genkit.evaluate.sample_quality.sample_scores`), so its caller passes it in.
    `command` and `flags` (e.g. `["--out", "exports/x"]`) make the resume command printed on
    Ctrl-C: `genkit <command> --resume RUN_FOLDER <flags>` (see `resume_command`).
    """
    spec = loaded.spec
    point = ResumePoint()
    if run_dir is not None and not resume:
        raise ValueError("train(run_dir=...) names the run folder to resume; pass resume=True with it")
    if resume:
        run_dir = Path(run_dir) if run_dir is not None else find_latest_run(spec)
        if run_dir is None:
            raise GenkitError(
                f"--resume: no earlier run of '{spec.name}' with a checkpoint under {spec.runs_dir}/{spec.name}/. "
                "Run without --resume to start one."
            )
    prep = prepare(spec)
    model, data = prep.model, prep.data
    chief_run = run_dir
    if not prep.chief:
        run_dir = _worker_folder(spec, run_dir, data.origin)
    if resume:
        with _writes_into(run_dir, "resumed run's history and record", _resume_hint(prep, chief_run, command, flags)):
            point = resume_run(spec, model, run_dir, allow_spec_change=allow_spec_change)
        if point.epoch >= spec.train.epochs:
            print(f"nothing to train: {point.epoch} of {spec.train.epochs} epochs done", flush=True)
    elif prep.chief:
        run_dir = new_run_dir(spec)
        write_run_record(run_dir, spec, data.origin)
    prep.run_dir = run_dir
    print(f"run folder: {run_dir}", flush=True)

    hint = _resume_hint(prep, run_dir, command, flags)
    with _writes_into(run_dir, "run's files", hint), interrupted_training(hint, run_dir / "checkpoints"):
        _fit(loaded, prep, point, score_samples, hint)
    return prep


def _worker_folder(spec, chief_run, origin) -> Path:
    """The run folder of a multi-worker cluster's other workers: temporary, deleted at exit.

    Keras's multi-worker recipe: they save too (the collective ops need every worker in every
    callback) but into a folder of their own. Resuming, it starts as a copy of the chief's run,
    so resuming rewrites nothing of the chief's.
    """
    folder = Path(tempfile.mkdtemp(prefix=f"genkit-worker-{spec.name}-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    if chief_run is not None:
        shutil.copytree(chief_run, folder, dirs_exist_ok=True)
    else:
        write_run_record(folder, spec, origin)
    return folder


def _fit(loaded, prep, point: ResumePoint, score_samples=None, resume_hint: str = "") -> None:
    """Train from `point` to train.epochs, then save the final weights and networks."""
    spec, model, run_dir = loaded.spec, prep.model, prep.run_dir
    extra = {"spec_hash": spec_hash(spec)}
    interrupt = CheckpointOnInterrupt(run_dir / "checkpoints", extra, prep.steps_per_epoch, resume_hint)
    if point.epoch < spec.train.epochs:
        # The interrupt last: a Ctrl-C at an epoch's end stops after its checkpoint and history row.
        callbacks = _callbacks(spec, prep, extra, score_samples) + [interrupt]
        started = time.perf_counter()
        try:
            with checkpoint_on_interrupt(interrupt):
                _train_epochs(prep, point, callbacks, interrupt)
        except Diverged as err:
            raise _diverged(err, model, run_dir, spec) from None
        finally:
            # Suppressed: a failed write here would hide the error (or interrupt) already raised.
            with contextlib.suppress(OSError):
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
    _save_final(model, run_dir)
    if (run_dir / "history.csv").exists():
        plot_history(run_dir / "history.csv", run_dir / "loss_curve.png")
    # Once, after the epoch lines: a collapsed KL or a winning discriminator ends without an error.
    warnings = training_warnings(read_history(run_dir / "history.csv"), spec)
    for warning in warnings:
        print(warning, file=sys.stderr, flush=True)
    record_warnings(run_dir, warnings)


def _callbacks(spec, prep, extra: dict, score_samples=None) -> list:
    data, run_dir = prep.data, prep.run_dir
    x_fixed, y_fixed = _fixed_batch(data)
    callbacks = [
        StopOnNonFinite(),
        # Appends (resume_run dropped the rows of the epochs trained again); writes the header when new.
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        SampleGrid(
            run_dir / "samples", spec.train.sample_every, x_fixed, y_fixed, tuple(spec.data.range),
            tensorboard=run_dir / "tensorboard" if spec.train.tensorboard else None,
        ),
        CheckpointEvery(run_dir / "checkpoints", spec.train.checkpoint_every, spec.train.epochs, extra),
    ]
    if spec.train.keep_best is not None:
        # Before the CSV logger, so the measured value lands in history.csv.
        callbacks.insert(0, _keep_best(spec, prep, run_dir, score_samples))
    monitor = card(spec.model.family).monitor
    if monitor is not None:
        callbacks.append(
            AdversarialMonitor(
                x_fixed, monitor.remedies, watch_d_fake=monitor.fake_probability, discriminator_remedies=discriminator_remedies(spec.loss)
            )
        )
    if spec.train.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), profile_batch=0))
    if spec.train.max_minutes is not None:
        callbacks.append(StopAfterMinutes(spec.train.max_minutes, recorded_train_seconds(run_dir)))
    return callbacks


def _train_epochs(prep, point: ResumePoint, callbacks: list, interrupt: CheckpointOnInterrupt) -> None:
    """model.fit from `point`: a Ctrl-C checkpoint's epoch is finished first (a fit of its
    remaining batches, its metrics continued), then the remaining epochs."""
    spec, model, data, steps = prep.spec, prep.model, prep.data, prep.steps_per_epoch
    # Several replicas get equal shares of whole batches only (see genkit.train.distribute).
    whole_batches = model.distribute_strategy.num_replicas_in_sync > 1
    val_ds = data.eval_dataset("val", spec.data.batch_size) if len(data.x_val) else None

    def fit(first_epoch, first_step, epochs, extra_callbacks=()):
        interrupt.first_step = first_step
        # Batch k of the stream depends only on (seed, k): a resumed run sees what an uninterrupted one would.
        train_ds = data.train_dataset(
            spec.data.batch_size, shuffle=spec.data.shuffle, seed=spec.seed, drop_remainder=whole_batches,
            from_batch=first_epoch * steps + first_step,
        )
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            initial_epoch=first_epoch,
            steps_per_epoch=steps - first_step,
            callbacks=callbacks + list(extra_callbacks),
            shuffle=False,  # the tf.data pipeline shuffles with the spec seed
            verbose=1 if sys.stdout.isatty() else 2,
        )

    epoch = point.epoch
    if point.step:
        fit(epoch, point.step, epoch + 1, [ContinueMetrics(point.metrics)])
        epoch += 1
    out_of_time = any(isinstance(c, StopAfterMinutes) and c.stopped_at for c in callbacks)
    if epoch < spec.train.epochs and not out_of_time:
        fit(epoch, 0, spec.train.epochs)


def _save_final(model, run_dir: Path) -> None:
    # Written under temporary names then renamed: a crash never leaves half a file behind.
    _save_atomically(model.save_weights, run_dir / FINAL_WEIGHTS)
    (run_dir / "networks").mkdir(exist_ok=True)
    for role, net in model.networks().items():
        _save_atomically(net.save, run_dir / "networks" / f"{role}.keras")


def _diverged(err: Diverged, model, run_dir: Path, spec) -> GenkitError:
    """The error for a NaN/Inf loss, after the last good checkpoint became the final weights."""
    checkpoint, _ = resumable_checkpoint(run_dir / "checkpoints")
    if checkpoint is None:
        kept = "No checkpoint was written before it, so the run has no final weights."
    else:
        load_with_optimizer(model, checkpoint / WEIGHTS)
        _save_final(model, run_dir)
        kept = f"The run's final weights are those of its last good checkpoint, {checkpoint.name}."
    networks = ", ".join(sorted(set(err.networks.values())))
    roles = f" (or train.optimizers.<role>.learning_rate for {networks})" if spec.train.optimizers else ""
    return GenkitError(
        f"{err.describe()}. {kept} Lower train.optimizer.learning_rate{roles}, or clip gradients with "
        "train.optimizer.clipnorm (e.g. 1.0) or clipvalue; then start a new run, or resume this one with "
        "--allow-spec-change."
    )


@contextlib.contextmanager
def _writes_into(run_dir: Path, what: str, resume_hint: str):
    """A read-only run folder or a full disk is a GenkitError naming the folder, not a traceback."""
    try:
        yield
    except OSError as err:
        failure = write_failure(err, run_dir, what, then=f"resume with: {resume_hint}")
        if failure is None:
            raise
        raise failure from None


def resume_command(run_dir, command: str = "run", flags=()) -> str:
    """The shell command that resumes the run folder `run_dir`, each word quoted for the shell:
    `genkit run --resume runs/<name>/<time>`. It needs no spec and no --set: the run folder
    holds the resolved spec the run was started with (its --set overrides included)."""
    return shlex.join(["genkit", command, "--resume", str(run_dir), *flags])


def _resume_hint(prep, run_dir, command: str, flags) -> str:
    if not prep.chief:
        # This worker's folder is a temporary copy, deleted at exit: the chief keeps the run.
        return "the command the chief worker printed (resume every worker with it)"
    return resume_command(run_dir, command, flags)


def _keep_best(spec, prep, run_dir, score_samples) -> KeepBest:
    best = spec.train.keep_best
    if best.metric in ("val_loss", "neg_elbo"):
        key = "val_loss" if best.metric == "val_loss" else "val_neg_elbo"

        def measure(logs):
            return logs[key]
    else:
        if score_samples is None:
            raise GenkitError(
                f"train.keep_best.metric {best.metric!r} needs the sample-quality evaluator: call "
                "genkit.train.train(..., score_samples=genkit.evaluate.sample_quality.sample_scores)."
            )

        def measure(logs):
            return score_samples(prep.model, prep.data, spec, [best.metric], {}, reference="val", n=best.samples)[best.metric]

    return KeepBest(run_dir / "checkpoints", best.metric, best.every, measure)


def _save_atomically(save, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp{''.join(path.suffixes)}")
    try:
        save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def open_run(run_dir, spec=None) -> Prepared:
    """Rebuild a finished run from its folder: resolved spec (or `spec`: it with evaluate/export changes), data, final weights."""
    run_dir = Path(run_dir)
    spec = spec if spec is not None else validate_dict(read_run_spec(run_dir))
    weights = run_dir / FINAL_WEIGHTS
    if not weights.is_file():
        raise GenkitError(f"{run_dir} has no {FINAL_WEIGHTS}: its training did not finish. Resume it with: {resume_command(run_dir)}")
    prep = prepare(spec)
    load_with_optimizer(prep.model, weights)
    prep.run_dir = run_dir
    return prep
