"""The train stage: optimizers, callbacks, checkpoints, run folders."""

from genkit.train.runner import Prepared, open_run, prepare, train

__all__ = ["Prepared", "open_run", "prepare", "train"]
