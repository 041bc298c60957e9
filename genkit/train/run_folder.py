"""Run folders: `runs/<name>/<timestamp>/`, what they record, and finding them again."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from pathlib import Path

import yaml

from genkit import __version__
from genkit.atomic import atomic_write_text
from genkit.errors import GenkitError

__all__ = ["add_train_seconds", "find_finished_run", "find_latest_run", "hashed_fields", "new_run_dir", "spec_hash", "write_run_record"]

SPEC_FILE = "spec.yaml"


def spec_hash(spec) -> str:
    """Hash of the resolved spec's `hashed_fields`."""
    return hashlib.sha256(json.dumps(hashed_fields(spec.model_dump(mode="json")), sort_keys=True).encode()).hexdigest()[:16]


def hashed_fields(data: dict) -> dict:
    """A resolved spec mapping minus what may change on resume: the epoch count, unless a
    cosine schedule's length depends on it (the learning rate would jump on resume)."""
    train = data.get("train", {})
    if train.get("optimizer", {}).get("schedule") == "cosine":
        return data
    return {**data, "train": {k: v for k, v in train.items() if k != "epochs"}}


def new_run_dir(spec) -> Path:
    base = Path(spec.runs_dir) / spec.name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir, n = base / stamp, 1
    while run_dir.exists():  # two runs in the same second
        n += 1
        run_dir = base / f"{stamp}-{n}"
    run_dir.mkdir(parents=True)
    return run_dir


def find_latest_run(spec):
    """The newest run folder of this spec's name that has a checkpoint, or None."""
    base = Path(spec.runs_dir) / spec.name
    runs = sorted(p for p in base.glob("*") if (p / "checkpoints").is_dir()) if base.is_dir() else []
    return runs[-1] if runs else None


def find_finished_run(spec):
    """The newest run folder trained, evaluated and saved with exactly this resolved spec, or None."""
    from genkit.errors import SpecError
    from genkit.spec import validate_dict

    base = Path(spec.runs_dir) / spec.name
    resolved = spec.model_dump(mode="json")
    for run_dir in sorted(base.glob("*"), reverse=True) if base.is_dir() else []:
        if not ((run_dir / "model.weights.h5").is_file() and (run_dir / "metrics.json").is_file()):
            continue
        try:
            # Validated again, so that options added to genkit since (with their defaults) compare equal.
            if validate_dict(yaml.safe_load((run_dir / SPEC_FILE).read_text())).model_dump(mode="json") == resolved:
                return run_dir
        except (OSError, yaml.YAMLError, SpecError):
            continue
    return None


def write_run_record(run_dir: Path, spec, data_origin: str) -> None:
    """The resolved spec (every default filled in) and the facts needed to reproduce the run."""
    import keras
    import tensorflow as tf

    resolved = spec.model_dump(mode="json")
    atomic_write_text(
        run_dir / SPEC_FILE,
        "# Resolved spec written by genkit: every default filled in.\n" + yaml.safe_dump(resolved, sort_keys=False),
    )
    record = {
        "genkit": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "seed": spec.seed,
        "spec_hash": spec_hash(spec),
        "data": data_origin,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_text(run_dir / "run.json", json.dumps(record, indent=2))


def add_train_seconds(run_dir: Path, seconds: float) -> None:
    """Add a training session's wall time to run.json (a resumed run adds up its sessions)."""
    path = Path(run_dir) / "run.json"
    record = json.loads(path.read_text()) if path.is_file() else {}
    record["train_seconds"] = round(record.get("train_seconds", 0.0) + seconds, 1)
    atomic_write_text(path, json.dumps(record, indent=2))


def read_run_spec(run_dir: Path) -> dict:
    path = Path(run_dir) / SPEC_FILE
    if not path.is_file():
        raise GenkitError(
            f"'{run_dir}' is not a genkit run folder (no {SPEC_FILE}). Give a folder under runs/<name>/ "
            "written by 'genkit train' or 'genkit run', or a spec file."
        )
    return yaml.safe_load(path.read_text())
