"""Resuming a run where its last whole checkpoint left it: weights, counters, spec, history.

`genkit run SPEC --resume` (after a crash, a kill or Ctrl-C) rebuilds the model from the
spec, loads the newest checkpoint that is whole (`resumable_checkpoint` passes over a
corrupt one), checks the spec is the one the run was trained with, and drops the rows
history.csv holds for epochs after the checkpoint, which the resumed run trains again.

Example:

    point = resume_run(spec, model, run_dir, allow_spec_change=False)
    # point.epoch whole epochs done, point.step batches of the next (a Ctrl-C checkpoint)
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import keras
import yaml

from genkit.atomic import atomic_write_text
from genkit.errors import GenkitError, SpecError
from genkit.train.checkpoint import WEIGHTS, load_with_optimizer, resumable_checkpoint
from genkit.train.run_folder import SPEC_FILE, hashed_fields, read_run_spec, spec_hash
from genkit.modeling.steps import optimizer_variables
from genkit.spec.card import card

__all__ = ["ContinueMetrics", "ResumePoint", "changed_fields", "metric_states", "resume_run", "truncate_history"]

HISTORY = "history.csv"


@dataclass(frozen=True)
class ResumePoint:
    epoch: int = 0  # whole epochs done
    step: int = 0  # batches done of the next epoch (a checkpoint written on Ctrl-C), else 0
    metrics: dict = field(default_factory=dict)  # metric name -> its variables' values at that batch


def resume_run(spec, model, run_dir: Path, *, allow_spec_change: bool = False) -> ResumePoint:
    """Load the newest whole checkpoint of `run_dir` into the compiled `model`."""
    checkpoint, state = resumable_checkpoint(Path(run_dir) / "checkpoints")
    if checkpoint is None:
        raise GenkitError(f"--resume: {run_dir} has no complete checkpoint to continue from. Run without --resume.")
    changes = _spec_changes(spec, Path(run_dir), state, allow_spec_change)
    rates = _constant_learning_rates(model)
    load_with_optimizer(model, checkpoint / WEIGHTS)
    for optimizer, rate in rates:
        optimizer.learning_rate = rate
    if changes:
        _record_spec_change(spec, Path(run_dir), changes, state["epoch"])
    point = ResumePoint(int(state["epoch"]), int(state.get("step", 0)), state.get("metrics", {}))
    truncate_history(Path(run_dir) / HISTORY, point.epoch)
    where = f"epoch {point.epoch}" + (f", batch {point.step} of epoch {point.epoch + 1}" if point.step else "")
    print(f"resuming {run_dir} after {where} ({checkpoint.name})", flush=True)
    return point


def _spec_changes(spec, run_dir: Path, state: dict, allow: bool) -> str:
    """'' when the checkpoint was written under this spec, else the changed fields (allowed
    by --allow-spec-change, else refused)."""
    if state.get("spec_hash") == spec_hash(spec):
        return ""
    fields = changed_fields(hashed_fields(_trained_spec(run_dir)), hashed_fields(spec.model_dump(mode="json")))
    if not fields:
        # The run's spec, validated by this genkit, is this spec: only options genkit added since
        # (at their defaults) changed the hash an older genkit recorded. The same training.
        return ""
    changes = ", ".join(fields)
    if not allow:
        raise GenkitError(
            f"--resume: the spec changed since {run_dir} was written: {changes}. Only train.epochs may change "
            "(unless the learning-rate schedule is cosine). Add --allow-spec-change to resume with the new spec, "
            "start a new run without --resume, or restore the spec."
        )
    print(f"--allow-spec-change: resuming {run_dir} with changed {changes}", flush=True)
    return changes


def _record_spec_change(spec, run_dir: Path, changes: str, epoch: int) -> None:
    """From here the run trains with the new spec: evaluate and export rebuild it from this one."""
    resolved = yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)
    atomic_write_text(run_dir / SPEC_FILE, "# Resolved spec written by genkit: every default filled in.\n" + resolved)
    record_path = run_dir / "run.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    record["spec_hash"] = spec_hash(spec)
    record.setdefault("spec_changes", []).append({"after_epoch": epoch, "fields": changes})
    atomic_write_text(record_path, json.dumps(record, indent=2))


def _constant_learning_rates(model) -> list:
    """(optimizer, rate) of each optimizer with a constant rate, as the spec sets it.

    The weights file stores a constant rate with the optimizer's state, but the spec decides
    it: a run resumed under --allow-spec-change may have lowered it. (Schedules are not
    stored: they are rebuilt from the spec.)
    """
    return [
        (optimizer, float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
        for optimizer, _ in optimizer_variables(model, card(model.family))
        if isinstance(optimizer.learning_rate, keras.Variable)
    ]


def _trained_spec(run_dir: Path) -> dict:
    """The run's resolved spec, validated again so options added since compare equal."""
    from genkit.spec import validate_dict

    raw = read_run_spec(run_dir)
    try:
        return validate_dict(raw).model_dump(mode="json")
    except SpecError:
        return raw


def changed_fields(old, new, path: str = "") -> list:
    """Dotted paths of the fields that differ between two spec mappings (lists compare whole)."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [] if old == new else [path or "(root)"]
    changed = []
    for key in sorted(set(old) | set(new), key=str):
        changed += changed_fields(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
    return changed


def truncate_history(path: Path, epochs: int) -> None:
    """Keep history.csv's header and its whole rows of the first `epochs` epochs (0-based
    epoch < `epochs`): the resumed run trains the later ones again and appends their rows."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    if not lines:
        return
    header, rows = lines[0], lines[1:]
    column = next(csv.reader([header])).index("epoch")
    kept = [row for row in rows if row.endswith("\n") and _epoch(row, column) < epochs]
    if kept != rows:
        atomic_write_text(path, header + "".join(kept))


def _epoch(row: str, column: int) -> float:
    try:
        return int(next(csv.reader([row]))[column])
    except (ValueError, IndexError, StopIteration):
        return float("inf")  # a malformed row is dropped


def metric_states(model) -> dict:
    """Metric name -> its variables' values (running sums and counts), for a mid-epoch checkpoint."""
    return {m.name: [keras.ops.convert_to_numpy(v).tolist() for v in m.variables] for m in model.metrics}


class ContinueMetrics(keras.callbacks.Callback):
    """Give the metrics of the resumed epoch back the sums they had at the checkpoint.

    Keras resets every metric when an epoch begins; a run resumed mid-epoch restores them
    after that, so the epoch's logged means cover all its batches, as uninterrupted.
    """

    def __init__(self, states: dict):
        super().__init__()
        self.states = states

    def on_epoch_begin(self, epoch, logs=None):
        for metric in self.model.metrics:
            for variable, value in zip(metric.variables, self.states.get(metric.name, [])):
                variable.assign(value)
        self.states = {}  # the first epoch only
