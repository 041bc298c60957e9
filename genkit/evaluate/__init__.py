"""Evaluation: held-out metrics and plots."""

from genkit.evaluate.metrics import evaluate_model, format_table, write_metrics
from genkit.evaluate.plots import plot_history

__all__ = ["evaluate_model", "format_table", "plot_history", "write_metrics"]
