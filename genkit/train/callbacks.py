"""Callbacks the trainer adds: per-epoch sample grids and checkpoints."""

from __future__ import annotations

from pathlib import Path

import keras
import time

import numpy as np

from genkit.runtime.images import save_grid
from genkit.train.checkpoint import save_checkpoint

__all__ = ["CheckpointEvery", "SampleGrid", "StopAfterMinutes"]


class SampleGrid(keras.callbacks.Callback):
    """Write `samples/epoch_NNN.png` every `every` epochs from fixed inputs/latents."""

    def __init__(self, folder: Path, every: int, x_fixed, y_fixed, value_range):
        super().__init__()
        self.folder = Path(folder)
        self.every = every
        self.x_fixed, self.y_fixed = x_fixed, y_fixed
        self.value_range = value_range

    def on_epoch_end(self, epoch, logs=None):
        if self.every and (epoch + 1) % self.every == 0:
            self.write(epoch + 1)

    def write(self, epoch: int) -> Path:
        images, cols, row_labels = self.model.preview(self.x_fixed, self.y_fixed)
        path = self.folder / f"epoch_{epoch:03d}.png"
        save_grid(images, path, nrow=cols, row_labels=row_labels, value_range=self.value_range)
        return path


class CheckpointEvery(keras.callbacks.Callback):
    """Save a resumable checkpoint every `every` epochs and after the last one."""

    def __init__(self, folder: Path, every: int, last_epoch: int, extra: dict):
        super().__init__()
        self.folder = Path(folder)
        self.every = every
        self.last_epoch = last_epoch
        self.extra = extra

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training and not all(np.isfinite(np.asarray(v)).all() for v in self.model.weights):
            return  # the weights diverged: keep the last good checkpoints
        done = epoch + 1
        if done == self.last_epoch or (self.every and done % self.every == 0):
            save_checkpoint(self.model, self.folder, done, self.extra)


class StopAfterMinutes(keras.callbacks.Callback):
    """Stop training after the first batch that ends past a wall-time budget (train.max_minutes).

    `spent_seconds` is what earlier sessions of a resumed run already used. Keras 3 checks
    `stop_training` after every batch, so the run ends within one step of the budget; the
    epoch-end callbacks (checkpoint, grid, history) still run for the epoch it stopped in.
    """

    def __init__(self, minutes: float, spent_seconds: float = 0.0):
        super().__init__()
        self.budget = 60.0 * minutes
        self.spent = spent_seconds
        self.started = None
        self.stopped_at = None  # (epoch, batch) where the budget ran out

    def on_train_begin(self, logs=None):
        if self.started is None:  # a resumed epoch and the remaining ones are two fits: one clock
            self.started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.spent + time.perf_counter() - self.started >= self.budget and self.stopped_at is None:
            self.stopped_at = (self.epoch, batch + 1)
            self.model.stop_training = True
            minutes = (self.spent + time.perf_counter() - self.started) / 60.0
            print(f"train.max_minutes: stopping after {minutes:.1f} min, epoch {self.epoch + 1} step {batch + 1}", flush=True)
