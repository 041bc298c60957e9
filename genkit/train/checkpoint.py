"""Checkpoints that survive interruption: weights, optimizer state and counters.

A checkpoint is a folder `checkpoints/epoch_NNNN/` holding `model.weights.h5` (every
network of the family and, as Keras 3 saves them together, every optimizer variable,
iterations included, so per-step ramps resume where they were) and `state.json`. It is written into a
temporary folder and renamed into place, so a crash mid-write leaves the previous
checkpoint as the latest complete one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from genkit.atomic import atomic_directory

__all__ = ["latest_checkpoint", "load_with_optimizer", "restore_checkpoint", "save_checkpoint"]

KEEP = 2  # older checkpoints are pruned; two survive a crash during the newest write


def save_checkpoint(model, folder: Path, epoch: int, extra: dict) -> Path:
    folder = Path(folder)
    final = folder / f"epoch_{epoch:04d}"
    with atomic_directory(final) as tmp:
        model.save_weights(tmp / "model.weights.h5")
        (tmp / "state.json").write_text(json.dumps({"epoch": epoch, **extra}, indent=2))
    for old in sorted(folder.glob("epoch_*"))[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(folder: Path):
    """The newest complete checkpoint folder under `folder`, or None."""
    found = [p for p in sorted(Path(folder).glob("epoch_*")) if (p / "state.json").exists()]
    return found[-1] if found else None


def restore_checkpoint(model, checkpoint: Path) -> dict:
    """Load weights and optimizer state into a compiled `model`; return state.json."""
    load_with_optimizer(model, Path(checkpoint) / "model.weights.h5")
    return json.loads((Path(checkpoint) / "state.json").read_text())


def load_with_optimizer(model, weights: Path) -> None:
    """Keras restores optimizer variables only into a built optimizer: build each first.

    A family with one optimizer per network (GANs) lists each with its network's
    variables, so every optimizer's iterations and moments come back.
    """
    with model.distribute_strategy.scope():
        for optimizer, variables in model.optimizer_variables():
            if not optimizer.built:
                optimizer.build(variables)
        model.load_weights(weights)
