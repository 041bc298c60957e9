"""Evaluation: held-out metrics and plots."""

from genkit.evaluate.metrics import evaluate_model, format_table, write_metrics

__all__ = ["evaluate_model", "format_table", "write_metrics"]
