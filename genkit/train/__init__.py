"""The train stage: assemble (data + compiled family model), fit, checkpoints, run folders."""

from genkit.train.assemble import Prepared, build_for_check, build_model, prepare
from genkit.train.runner import open_run, train

__all__ = ["Prepared", "build_for_check", "build_model", "open_run", "prepare", "train"]
