"""Checkpoints that survive interruption: weights, optimizer state and counters.

A checkpoint is a folder `checkpoints/epoch_NNNN/` holding `model.weights.h5` (every
network of the family), `optimizer.npz` (every optimizer variable, iterations included,
so per-step ramps resume where they were) and `state.json`. It is written into a
temporary folder and renamed into place, so a crash mid-write leaves the previous
checkpoint as the latest complete one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from genkit.errors import GenkitError

__all__ = ["latest_checkpoint", "restore_checkpoint", "save_checkpoint"]

KEEP = 2  # older checkpoints are pruned; two survive a crash during the newest write


def save_checkpoint(model, folder: Path, epoch: int, extra: dict) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"epoch_{epoch:04d}"
    tmp = folder / f".epoch_{epoch:04d}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        model.save_weights(tmp / "model.weights.h5")
        np.savez(tmp / "optimizer.npz", *[np.asarray(v) for v in model.optimizer.variables])
        (tmp / "state.json").write_text(json.dumps({"epoch": epoch, **extra}, indent=2))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in sorted(folder.glob("epoch_*"))[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(folder: Path):
    """The newest complete checkpoint folder under `folder`, or None."""
    found = [p for p in sorted(Path(folder).glob("epoch_*")) if (p / "state.json").exists()]
    return found[-1] if found else None


def restore_checkpoint(model, checkpoint: Path) -> dict:
    """Load weights and optimizer state into a compiled `model`; return state.json."""
    checkpoint = Path(checkpoint)
    model.load_weights(checkpoint / "model.weights.h5")
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    with np.load(checkpoint / "optimizer.npz") as saved:
        values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    if len(values) != len(optimizer.variables):
        raise GenkitError(
            f"checkpoint {checkpoint} holds {len(values)} optimizer variables but the model has "
            f"{len(optimizer.variables)}: the spec changed since it was written. Start a new run "
            "without --resume."
        )
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)
    return json.loads((checkpoint / "state.json").read_text())
