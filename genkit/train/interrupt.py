"""Ctrl-C: during training, finish the batch, write a checkpoint, stop with how to resume;
in every other phase, stop saying what was kept and how to finish.

A signal handler only raises a flag; the callback acts on it at the end of the current
batch, when the weights, optimizer state and metrics agree with each other, so the
checkpoint is as good as one written at an epoch's end. A second Ctrl-C quits at once,
without one. Evaluation and export need no handler: what they write is written atomically
(`genkit.atomic`), so a KeyboardInterrupt anywhere leaves nothing half-written, and
`interrupted_phase` gives it a message. The CLI exits with code 130, the shell's convention
for SIGINT.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from pathlib import Path

import keras

from genkit.train.checkpoint import save_checkpoint
from genkit.train.resume import metric_states

__all__ = [
    "CheckpointOnInterrupt",
    "PhaseInterrupted",
    "TrainingInterrupted",
    "checkpoint_on_interrupt",
    "interrupted_phase",
    "interrupted_training",
]


class TrainingInterrupted(KeyboardInterrupt):
    """Raised once the interrupt checkpoint is written; its message says how to resume."""


class PhaseInterrupted(KeyboardInterrupt):
    """Ctrl-C outside training (evaluation, export); its message says what was kept and how to finish."""


class CheckpointOnInterrupt(keras.callbacks.Callback):
    """Write a checkpoint and raise `TrainingInterrupted` at the first batch end after `requested`.

    Args:
        folder: the run's checkpoints folder.
        extra: what state.json records besides the counters (the spec hash).
        steps_per_epoch: batches per epoch, to tell a mid-epoch stop from an epoch's end.
        resume_hint: the command that resumes, for the message.
    """

    def __init__(self, folder: Path, extra: dict, steps_per_epoch: int, resume_hint: str):
        super().__init__()
        self.folder, self.extra = Path(folder), extra
        self.steps_per_epoch, self.resume_hint = steps_per_epoch, resume_hint
        self.requested = False
        self.first_step = 0  # batches of the fit's first epoch done before it began (a resumed Ctrl-C checkpoint)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = self.first_step + batch + 1
        # At the epoch's last batch, wait for on_epoch_end: validation and the history row come first.
        if self.requested and step < self.steps_per_epoch:
            self._stop(self.epoch, step)

    def on_epoch_end(self, epoch, logs=None):
        self.first_step = 0
        if self.requested:
            self._stop(epoch + 1, 0)

    def _stop(self, epoch: int, step: int):
        extra = {**self.extra, "metrics": metric_states(self.model)} if step else self.extra
        path = save_checkpoint(self.model, self.folder, epoch, extra, step)
        where = f"epoch {epoch + 1}, batch {step}" if step else f"epoch {epoch}"
        raise TrainingInterrupted(f"stopped after {where}; checkpoint {path} written. Resume with: {self.resume_hint}")


@contextlib.contextmanager
def checkpoint_on_interrupt(callback: CheckpointOnInterrupt):
    """While training, Ctrl-C (SIGINT) sets `callback.requested` instead of raising mid-step."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread: Ctrl-C stays a KeyboardInterrupt
        return

    def handler(signum, frame):
        if callback.requested:
            raise KeyboardInterrupt
        callback.requested = True
        print("\ninterrupt: finishing this batch and writing a checkpoint (Ctrl-C again quits without one)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def interrupted_training(resume_hint: str, checkpoints: Path):
    """A Ctrl-C in training that wrote no checkpoint of its own (a second Ctrl-C, or one while
    the final weights are saved) still says how to resume: from the newest checkpoint there is."""
    try:
        yield
    except KeyboardInterrupt as err:
        if isinstance(err, (TrainingInterrupted, PhaseInterrupted)):
            raise
        if any(Path(checkpoints).glob("epoch_*")):
            raise TrainingInterrupted(f"stopped without a new checkpoint. Resume from the last one with: {resume_hint}") from None
        raise TrainingInterrupted("stopped before the first checkpoint, so there is nothing to resume: run the same command again.") from None


@contextlib.contextmanager
def interrupted_phase(message: str):
    """A Ctrl-C inside the block becomes `PhaseInterrupted(message)`: `message` says what was kept
    and how to finish (`genkit evaluate RUN_FOLDER`, `genkit export RUN_FOLDER`).

    A KeyboardInterrupt raised inside TensorFlow's C++ (building a tf.data pipeline, say) can come
    out as another exception (`SystemError: ... returned a result with an exception set`, a
    ValueError from a half-built structure). So the block notes every SIGINT it hears, and any
    exception that follows one is the interrupt too, not a crash with exit code 1.
    """
    heard = []
    previous = signal.getsignal(signal.SIGINT)
    listening = threading.current_thread() is threading.main_thread() and callable(previous)
    if listening:

        def handler(signum, frame):
            heard.append(signum)
            previous(signum, frame)  # Python's handler: raises KeyboardInterrupt as before

        signal.signal(signal.SIGINT, handler)
    try:
        yield
    except BaseException as err:
        if isinstance(err, (TrainingInterrupted, PhaseInterrupted)):
            raise
        if isinstance(err, KeyboardInterrupt) or (heard and isinstance(err, Exception)):
            raise PhaseInterrupted(message) from None
        raise
    finally:
        if listening:
            signal.signal(signal.SIGINT, previous)
