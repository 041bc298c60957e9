"""What a pipeline report says about each run: its record, what its folders hold, and the
words and numbers that both renderings (report.md and report.html) show.

The numbers come from the run folders themselves (`metrics.json`) and the exports
(`manifest.json`), so a report says exactly what those files say. Standard library only.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

__all__ = [
    "KEY_METRICS",
    "NOTE",
    "ONE_EPOCH",
    "STATUS_TEXT",
    "Row",
    "RunRecord",
    "format_duration",
    "format_number",
    "format_parity",
    "header_facts",
    "read_row",
    "run_facts",
    "source_notes",
    "status_text",
]

# metrics.json key -> column heading, in table order; a column appears when any run has it.
KEY_METRICS = {
    "loss": "loss",
    "reconstruction": "reconstruction",
    "mse_per_pixel": "MSE / pixel",
    "neg_elbo": "−ELBO",
    "neg_log_likelihood": "−log p(x) IW",
    "fid": "FID",
    "kid": "KID",
    "precision": "precision",
    "recall": "recall",
    "mode_coverage": "modes",
    "class_accuracy": "class accuracy",
    "translation_l1": "L1 |G(x) − y|",
    "translation_l1_baseline": "L1 |x − y|",
    "cycle_error": "cycle error",
    "mig": "MIG",
    "dci_disentanglement": "DCI disentanglement",
    "dci_completeness": "DCI completeness",
    "sap": "SAP",
}
STATUS_TEXT = {"ok": "ok", "failed": "failed", "pending": "not run yet"}
NOTE = (
    "`loss` is each family's own training objective (a VAE's includes its KL term), so compare it only "
    "between runs of one family; `MSE / pixel` compares reconstructions across families. "
    "Metrics are on held-out test images; export parity is the largest |Keras − ONNX| difference "
    "over the exported networks."
)
ONE_EPOCH = "Loss curves: one epoch only, nothing to draw (the numbers are in the table and history.csv)."


@dataclass
class RunRecord:
    """What a pipeline knows about one run; the report reads the rest from its folders."""

    label: str
    spec: str  # the spec file, as shown to the user
    family: str
    data_source: str  # spec data.source, e.g. "mnist"
    status: str = "pending"  # pending | ok | failed
    stage: str = ""  # the stage that failed: train | evaluate | export
    error: str = ""
    train_seconds: Optional[float] = None
    seconds: Optional[float] = None  # train + evaluate + export
    run_dir: Optional[Path] = None
    export_dir: Optional[Path] = None  # set only when this run's export succeeded


@dataclass
class Row:
    """A record with what its folders say: metrics, data origin, parity, pictures."""

    record: RunRecord
    metrics: dict
    origin: str
    feature_space: str  # the extractor sample scores were computed with, if any
    parity: Optional[float]
    grid: Optional[Path]
    grid_caption: str
    curve: Optional[Path]
    epochs: int  # rows of the run's history.csv


def format_duration(seconds) -> str:
    """'42 s', '3 min 05 s', or '-' for None."""
    if seconds is None:
        return "-"
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


# --------------------------------------------------------------------------- reading the folders
def read_row(record: RunRecord) -> Row:
    """The record with what its run folder and export say."""
    report = _read_json(record.run_dir / "metrics.json") if record.run_dir else {}
    manifest = _read_json(record.export_dir / "manifest.json") if record.export_dir else {}
    diffs = [n.get("parity_max_abs_diff") for n in manifest.get("networks", {}).values()]
    diffs = [d for d in diffs if isinstance(d, (int, float))]
    grid, caption = _final_grid(record)
    curve = record.run_dir / "loss_curve.png" if record.run_dir else None
    epochs = _epochs(record.run_dir)
    return Row(
        record=record,
        metrics=report.get("metrics", {}),
        origin=report.get("protocol", {}).get("data", ""),
        feature_space=report.get("protocol", {}).get("feature_space", ""),
        parity=max(diffs) if diffs else None,
        grid=grid,
        grid_caption=caption,
        # One epoch draws a single invisible point: say so instead of showing empty axes.
        curve=curve if curve is not None and curve.is_file() and epochs > 1 else None,
        epochs=epochs,
    )


def _epochs(run_dir) -> int:
    try:
        with open(Path(run_dir) / "history.csv", newline="") as f:
            return len(list(csv.DictReader(f)))
    except (OSError, TypeError):
        return 0


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _final_grid(record: RunRecord):
    """The last epoch's grid of the run folder, else the export's sample grid."""
    if record.run_dir is not None:
        grids = sorted((record.run_dir / "samples").glob("epoch_*.png"))
        if grids:
            epoch = grids[-1].stem.split("_")[-1].lstrip("0") or "0"
            return grids[-1], f"final sample grid (epoch {epoch})"
    if record.export_dir is not None and (record.export_dir / "samples.png").is_file():
        return record.export_dir / "samples.png", "samples drawn from the export"
    return None, ""


def header_facts(rows, source, seconds) -> str:
    """The line under the title: the pipeline file, the runs by status, the time, the date."""
    counts = {}
    for row in rows:
        counts[row.record.status] = counts.get(row.record.status, 0) + 1
    parts = [f"{len(rows)} run{'s' if len(rows) != 1 else ''}"]
    parts += [f"{counts[s]} {word}" for s, word in (("ok", "finished"), ("failed", "failed"), ("pending", "not run yet")) if counts.get(s)]
    facts = [f"pipeline file {source}", ", ".join(parts)]
    trained = [row.record.train_seconds for row in rows if row.record.train_seconds]
    if trained:
        facts.append(f"{format_duration(sum(trained))} of training in all")
    if seconds is not None:
        # With --reuse this pipeline run may have trained only some of the runs.
        facts.append(f"{format_duration(seconds)} for this invocation")
    facts.append(f"written {time.strftime('%Y-%m-%d %H:%M')}")
    return " · ".join(facts)


# --------------------------------------------------------------------------- cells
def format_number(value) -> str:
    """A metric as 4 significant digits, or an en dash when there is none."""
    if not isinstance(value, (int, float)):
        return "–"
    return f"{value:.4g}"


def format_parity(value) -> str:
    """The export's largest |Keras − ONNX| difference, or an en dash."""
    return "–" if value is None else f"{value:.1e}"


def source_notes(rows) -> list:
    """Sentences about where the numbers come from: each data origin and feature space once."""
    notes = []
    seen = dict.fromkeys((row.record.data_source, row.origin) for row in rows if row.origin)
    if seen:
        notes.append("Data: " + "; ".join(f"{source} from {origin}" for source, origin in seen) + ".")
    spaces = dict.fromkeys(row.feature_space for row in rows if row.feature_space)
    if spaces:
        notes.append(
            "FID, KID, precision/recall, modes (share of classes among the samples) and class accuracy are "
            "computed in the feature space of: " + "; ".join(spaces) + "."
        )
    floors = sorted({round(row.metrics["fid_real_train"], 1) for row in rows if "fid_real_train" in row.metrics})
    if floors:
        shown = f"{floors[0]:g}" if len(floors) == 1 else f"{floors[0]:g} to {floors[-1]:g}"
        notes.append(f"Real training images in place of samples score FID {shown}: the floor of this protocol.")
    return notes


def status_text(record: RunRecord) -> str:
    """The run's status in words: "ok", "failed at train", "not run yet"."""
    if record.status == "failed":
        return f"failed at {record.stage}" if record.stage else "failed"
    return STATUS_TEXT.get(record.status, record.status)


def run_facts(r) -> list:
    """(label, value, shown as code) of one run, for the markdown and the HTML report alike."""
    facts = [("spec", r.spec, True), ("family ", r.family, False)]
    if r.run_dir:
        facts.append(("run folder", r.run_dir, True))
    if r.export_dir:
        facts.append(("export", r.export_dir, True))
    if r.seconds is not None:
        facts.append(("", f"{format_duration(r.seconds)} in all", False))
    return facts
