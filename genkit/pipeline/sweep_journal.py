"""A sweep's journal: every trial's params and outcome, in `<runs_dir>/sweeps/<pipeline>/journal.json`.

The file is rewritten atomically (`genkit.atomic`) whenever a trial starts or ends, so a
kill at any moment leaves the last whole version. A trial still `running` when the journal
is opened again was interrupted: it is run again, and only `ok` and `failed` trials count
towards the budget. Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from genkit.atomic import atomic_write_text
from genkit.errors import GenkitError

__all__ = ["FINISHED", "Journal", "Trial"]

FORMAT = 1
FINISHED = ("ok", "failed")  # what the budget counts; "running" and "interrupted" are run again


@dataclass
class Trial:
    number: int
    params: dict
    status: str = "running"  # running | ok | failed | interrupted
    value: float | None = None  # the metric, as the trial's metrics.json gave it
    stage: str = ""  # where a failed trial failed: load | train | evaluate | process
    error: str = ""
    run_dir: str | None = None
    train_seconds: float | None = None
    seconds: float | None = None
    optuna_number: int | None = None  # the trial's number in the Optuna study (method optuna)

    @property
    def label(self) -> str:
        return f"t{self.number:03d}"


@dataclass
class Journal:
    path: Path
    fingerprint: str
    method: str
    trials: dict = field(default_factory=dict)  # number -> Trial

    @classmethod
    def open(cls, path: Path, fingerprint: str, method: str, pipeline_file: str) -> Journal:
        """The journal at `path`, or a new one; refuses a journal of a different study."""
        path = Path(path)
        if not path.is_file():
            return cls(path, fingerprint, method)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            trials = {int(t["number"]): Trial(**t) for t in data["trials"]}
            found = data["fingerprint"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise GenkitError(
                f"the sweep journal {path} cannot be read ({type(err).__name__}: {err}). "
                f"Move its folder {path.parent} away to start the study of {pipeline_file} again."
            ) from None
        if found != fingerprint:
            raise GenkitError(
                f"{pipeline_file}: its sweep or its spec (with every --set) changed since the study in {path.parent} "
                f"began, so its {len(trials)} trials belong to another study. Delete or move {path.parent} to start "
                "a new study, give the pipeline another name, or undo the change to resume the old one "
                "(only the trials budget may change)."
            )
        return cls(path, fingerprint, method, trials)

    def save(self) -> None:
        data = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "method": self.method,
            "trials": [asdict(t) for _, t in sorted(self.trials.items())],
        }
        atomic_write_text(self.path, json.dumps(data, indent=2))

    def put(self, trial: Trial) -> None:
        self.trials[trial.number] = trial
        self.save()

    def finished(self) -> int:
        return sum(t.status in FINISHED for t in self.trials.values())

    def is_finished(self, number: int) -> bool:
        return number in self.trials and self.trials[number].status in FINISHED

    def mark_interrupted(self) -> list:
        """Trials a killed sweep left `running`: now `interrupted`, to be run again. Returns them."""
        stale = [t for t in self.trials.values() if t.status == "running"]
        for t in stale:
            t.status, t.error = "interrupted", "the sweep was stopped while it ran"
        if stale:
            self.save()
        return stale

    def next_number(self) -> int:
        return max(self.trials, default=-1) + 1
