"""The train stage: optimizers, callbacks, checkpoints, run folders."""

from genkit.train.runner import Prepared, build_for_check, build_model, open_run, prepare, train

__all__ = ["Prepared", "build_for_check", "build_model", "open_run", "prepare", "train"]
