"""train.max_minutes: training stops at a wall-time budget, then the run saves and exports as if finished."""

from __future__ import annotations

import csv
import json

import yaml

from genkit.cli import main
from tests.tiny import tiny_spec


def test_training_stops_at_the_budget_and_the_run_still_exports(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # 200 epochs of 7 steps would take minutes; 3 seconds of budget stops it in the first few.
    spec = tiny_spec("autoencoder", **{"train.epochs": 200, "train.max_minutes": 0.05, "train.sample_every": 0})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "train.max_minutes: stopping after" in out
    run = next((tmp_path / "runs" / "tiny_autoencoder").iterdir())
    with open(run / "history.csv") as f:
        epochs = len(list(csv.DictReader(f)))
    assert 1 <= epochs < 200
    record = json.loads((run / "run.json").read_text())
    # Stopped within a step of 3 s (the first epoch also traces the step function).
    assert record["train_seconds"] < 60
    assert (run / "model.weights.h5").is_file()
    assert (tmp_path / "exports" / "tiny_autoencoder" / "manifest.json").is_file()
