"""metrics.csv: one row per run, one column per metric of its `metrics.json`."""

from __future__ import annotations

import csv
import io

__all__ = ["render_csv"]


def render_csv(rows) -> str:
    """metrics.csv: the run's facts, then every metric any run has (a dict metric gives a column per key)."""
    metric_columns: list = []
    flat_rows = []
    for row in rows:
        flat = {}
        for key, value in row.metrics.items():
            if isinstance(value, dict):  # e.g. class_accuracy_per_class: one column per class
                flat.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                flat[key] = value
        for key in flat:
            if key not in metric_columns:
                metric_columns.append(key)
        flat_rows.append(flat)
    head = ["run", "status", "family", "spec", "data_source", "data_origin", "train_seconds", "total_seconds"]
    tail = ["export_parity_max_abs_diff", "failed_stage", "error", "run_dir", "export_dir"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(head + metric_columns + tail)
    for row, flat in zip(rows, flat_rows):
        r = row.record
        writer.writerow(
            [
                r.label,
                r.status,
                r.family,
                r.spec,
                r.data_source,
                row.origin,
                "" if r.train_seconds is None else f"{r.train_seconds:.1f}",
                "" if r.seconds is None else f"{r.seconds:.1f}",
                *("" if flat.get(k) is None else flat[k] for k in metric_columns),
                "" if row.parity is None else f"{row.parity:.3g}",
                r.stage if r.status == "failed" else "",
                r.error,
                "" if r.run_dir is None else str(r.run_dir),
                "" if r.export_dir is None else str(r.export_dir),
            ]
        )
    return buffer.getvalue()
