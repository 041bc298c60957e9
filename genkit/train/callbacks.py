"""Callbacks the trainer adds: per-epoch sample grids and checkpoints."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from genkit.runtime.images import save_grid
from genkit.train.checkpoint import save_checkpoint

__all__ = ["CheckpointEvery", "SampleGrid"]


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
