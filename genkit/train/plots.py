"""Plots written into run folders (matplotlib, headless)."""

from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["plot_history"]


def plot_history(history_csv: Path, out_png: Path) -> Path:
    """Loss curves from Keras's history.csv: one panel per loss, train and validation."""
    # A Figure renders PNG through Agg without pyplot: the process's backend is left alone (a
    # notebook that trains keeps showing its own plots inline).
    from matplotlib.figure import Figure

    with open(history_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return out_png
    names = [k for k in rows[0] if k != "epoch" and not k.startswith("val_") and k not in ("kl_weight", "learning_rate")]
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig = Figure(figsize=(3.2 * len(names), 2.8))
    axes = fig.subplots(1, len(names), squeeze=False)
    for ax, name in zip(axes[0], names):
        ax.plot(epochs, [_number(r[name]) for r in rows], label="train")
        if f"val_{name}" in rows[0]:
            ax.plot(epochs, [_number(r[f"val_{name}"]) for r in rows], label="validation")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    return out_png


def _number(text) -> float:
    """A history cell as a float; Keras's CSVLogger writes 'NA' where an epoch had no value
    (no validation data), which the plot leaves as a gap."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")
