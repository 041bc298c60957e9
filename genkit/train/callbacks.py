"""Callbacks the trainer adds: per-epoch sample grids (PNG and TensorBoard) and checkpoints."""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from genkit.runtime.images import save_grid
from genkit.train.checkpoint import save_checkpoint

__all__ = ["SAMPLES_TAG", "CheckpointEvery", "SampleGrid", "StopAfterMinutes"]

# The grid's TensorBoard tag, and the run (subfolder of the log folder) it is written to.
SAMPLES_TAG = "samples"


class SampleGrid(keras.callbacks.Callback):
    """Write `samples/epoch_NNN.png` every `every` epochs from fixed inputs/latents.

    With a TensorBoard log folder, the same grid also goes to `<tensorboard>/samples` as an
    image summary (tag "samples", step = epoch): a run of its own beside Keras's train/ and
    validation/, because TensorBoard reads only the newest event file of a folder.
    """

    def __init__(self, folder: Path, every: int, x_fixed, y_fixed, value_range, tensorboard: Path | None = None):
        super().__init__()
        self.folder = Path(folder)
        self.every = every
        self.x_fixed, self.y_fixed = x_fixed, y_fixed
        self.value_range = value_range
        self.logdir = None if tensorboard is None else Path(tensorboard) / SAMPLES_TAG
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if self.every and (epoch + 1) % self.every == 0:
            self.write(epoch + 1)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write(self, epoch: int) -> Path:
        images, cols, row_labels = self.model.preview(self.x_fixed, self.y_fixed)
        path = self.folder / f"epoch_{epoch:03d}.png"
        save_grid(images, path, nrow=cols, row_labels=row_labels, value_range=self.value_range)
        if self.logdir is not None:
            self._summarize(path, epoch)
        return path

    def _summarize(self, png: Path, epoch: int) -> None:
        """The PNG just written as an image summary. Read back rather than re-drawn: TensorBoard
        shows the file's grid, row labels included, as float32 in [0, 1] whatever the model's
        dtype policy (mixed_float16) or strategy (the preview already came back to the host)."""
        with Image.open(png) as image:
            pixels = np.asarray(image.convert("L" if image.mode in ("L", "1") else "RGB"), dtype=np.float32) / 255.0
        pixels = pixels.reshape(1, *pixels.shape[:2], -1)  # (1, H, W, 1 | 3)
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.logdir))
        with self._writer.as_default():
            tf.summary.image(SAMPLES_TAG, pixels, step=epoch)
        self._writer.flush()  # each epoch's grid is visible while training goes on


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
