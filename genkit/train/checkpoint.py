"""Checkpoints that survive interruption: weights, optimizer state, random state and counters.

A checkpoint is a folder `checkpoints/epoch_NNNN/` (after N whole epochs) or
`checkpoints/epoch_NNNN_step_SSSSS/` (S batches into the next one, written on Ctrl-C)
holding `model.weights.h5` and `state.json`. The weights file holds every network of the
family, the weight averages, every optimizer variable (Keras 3 saves them together,
iterations included, so per-step ramps resume where they were) and the state of every
random generator (`GenerativeModel.save_own_variables`). state.json holds the counters and
the weights file's sha256, so a file damaged after it was written is noticed on resume.

A checkpoint is written into a temporary folder and renamed into place, so a crash
mid-write leaves the previous checkpoint as the latest complete one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path

from genkit.atomic import atomic_directory
from genkit.errors import GenkitError
from genkit.modeling.steps import optimizer_variables
from genkit.spec.card import card

__all__ = ["checkpoint_name", "load_with_optimizer", "resumable_checkpoint", "save_checkpoint"]

KEEP = 2  # older checkpoints are pruned; two survive a crash during the newest write
WEIGHTS = "model.weights.h5"
STATE = "state.json"


def checkpoint_name(epoch: int, step: int = 0) -> str:
    """Folder name; sorts in training order (epoch_0003 < epoch_0003_step_00005 < epoch_0004)."""
    return f"epoch_{epoch:04d}" + (f"_step_{step:05d}" if step else "")


def save_checkpoint(model, folder: Path, epoch: int, extra: dict, step: int = 0) -> Path:
    """Write the checkpoint after `epoch` whole epochs and `step` batches of the next."""
    folder = Path(folder)
    final = folder / checkpoint_name(epoch, step)
    with atomic_directory(final) as tmp:
        model.save_weights(tmp / WEIGHTS)
        state = {"epoch": epoch, "step": step, "weights_sha256": _sha256(tmp / WEIGHTS), **extra}
        (tmp / STATE).write_text(json.dumps(state, indent=2))
    for old in sorted(folder.glob("epoch_*"))[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def resumable_checkpoint(folder: Path, report=print):
    """(folder, state) of the newest checkpoint whose files are whole, or (None, None).

    A checkpoint whose state.json is unreadable or whose weights no longer match their
    recorded sha256 (a truncated copy, a disk error) is reported through `report` and
    passed over for the one before it.
    """
    for checkpoint in sorted(Path(folder).glob("epoch_*"), reverse=True):
        state, problem = _read_verified(checkpoint)
        if problem is None:
            return checkpoint, state
        report(f"checkpoint {checkpoint} is corrupt ({problem}); falling back to the one before it")
    return None, None


def _read_verified(checkpoint: Path):
    """(state, None) for a whole checkpoint, else (None, what is wrong)."""
    try:
        state = json.loads((checkpoint / STATE).read_text())
        digest = _sha256(checkpoint / WEIGHTS)
    except FileNotFoundError as err:
        return None, f"{Path(err.filename).name} is missing"
    except (OSError, ValueError) as err:
        return None, f"unreadable: {err}"
    recorded = state.get("weights_sha256")
    if recorded is not None and recorded != digest:
        return None, f"{WEIGHTS} has sha256 {digest[:12]}…, but {recorded[:12]}… was written"
    return state, None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_with_optimizer(model, weights: Path) -> None:
    """Keras restores optimizer variables only into a built optimizer: build each first.

    A family with one optimizer per network (GANs) lists each with its network's
    variables, so every optimizer's iterations and moments come back. Weights whose shapes
    no longer fit the model (a changed spec) are a GenkitError naming the file.
    """
    with model.distribute_strategy.scope():
        for optimizer, variables in optimizer_variables(model, card(model.family)):
            if not optimizer.built:
                optimizer.build(variables)
        try:
            with _current_names(weights) as readable:
                model.load_weights(readable)
        except ValueError as err:
            raise GenkitError(
                f"{weights} does not fit the model the spec builds: {_first_mismatch(str(err))}. "
                "Were networks or the latent size changed? Restore those fields, or start a new run without --resume."
            ) from None


# Weights files written before the weight average had one name per family keep it under these.
_LEGACY_AVERAGE_GROUPS = ("generator_ema", "denoiser_ema")


@contextlib.contextmanager
def _current_names(weights: Path):
    """`weights`, or a temporary copy with a legacy weight-average group renamed `ema_network`,
    so runs trained before the rename still resume, evaluate and export."""
    import h5py

    with h5py.File(weights, "r") as f:
        legacy = [name for name in _LEGACY_AVERAGE_GROUPS if name in f] if "ema_network" not in f else []
    if not legacy:
        yield weights
        return
    with tempfile.TemporaryDirectory(prefix="genkit-weights-") as folder:
        copy = Path(folder) / weights.name
        shutil.copyfile(weights, copy)
        with h5py.File(copy, "r+") as f:
            f.move(legacy[0], "ema_network")
        yield copy


def _first_mismatch(message: str) -> str:
    """The gist of Keras's load error, which goes on to print whole weight matrices."""
    shapes = re.search(r"variable\.shape=(\(.*?\)), Received: value\.shape=(\(.*?\))", message)
    layer = re.search(r"object <(\w+) name=(\w+)", message)
    head = message.strip().splitlines()[0].split(". ")[0].rstrip(".:")
    if shapes and layer:
        return f"{head}; e.g. {layer[1]} '{layer[2]}' has a weight of shape {shapes[1]}, the checkpoint {shapes[2]}"
    return head
