"""Held-out metrics: reconstruction, ELBO and likelihood, and scores of generated samples.

Every number is written next to its protocol (split, example count, data origin, seed,
and for sample scores the feature extractor and its accuracy), so numbers from different
runs can be compared.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from genkit.atomic import atomic_write_text
from genkit.errors import GenkitError
from genkit.evaluate.codes import code_accuracy_scores
from genkit.evaluate.disentanglement import disentanglement_scores
from genkit.evaluate.likelihood import importance_weighted_nll
from genkit.evaluate.sample_quality import sample_scores
from genkit.evaluate.translation import translation_scores
from genkit.progress import phase
from genkit.spec.schema import DISENTANGLEMENT_METRICS, SAMPLE_METRICS, TRANSLATION_METRICS
from genkit.train.keep_best import best_state

__all__ = ["evaluate_model", "format_table", "per_pixel_errors", "write_metrics"]


def evaluate_model(prep) -> dict:
    """Metrics on the held-out test split, limited to `evaluate.samples` examples."""
    spec, data, model = prep.spec, prep.data, prep.model
    wanted = spec.evaluate.metrics
    n = min(spec.evaluate.samples, len(data.x_test))
    x = data.x_test[:n]
    y = None if data.y_test is None else data.y_test[:n]
    batches = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y)).batch(spec.data.batch_size)
    # The family's own test_step: its objective's terms (and the negative ELBO for VAEs).
    with phase(f"evaluating: the losses on {n:,} test images"):
        logs = {k: float(v) for k, v in model.evaluate(batches, verbose=0, return_dict=True).items()}
    results = {"loss": logs["loss"]}
    protocol = {
        "split": "test",
        "examples": int(n),
        "data": data.origin,
        "seed": spec.seed,
    }
    best = spec.train.keep_best
    state = best_state(Path(prep.run_dir) / "checkpoints") if prep.run_dir and best and best.use_for_export else None
    if state is not None:
        protocol["weights"] = f"best checkpoint by validation {state['metric']}: epoch {state['epoch']} ({state['value']:.4f})"
    if "reconstruction" in wanted:
        results.update(_reconstruction(model, batches, x, spec.data.range, logs))
        protocol["reconstruction"] = f"{spec.loss.reconstruction} summed over pixels, mean over examples; per-pixel errors in [0, 1] units"
    if "elbo" in wanted:
        results["neg_elbo"], results["kl"] = logs["neg_elbo"], logs["kl"]
        protocol["neg_elbo"] = "reconstruction + KL (beta = 1) with one posterior sample per example, nats"
    if "log_likelihood" in wanted:
        k = spec.evaluate.importance_samples
        with phase(f"evaluating: log_likelihood ({k} posterior samples for each of {n:,} test images)"):
            results["neg_log_likelihood"] = importance_weighted_nll(model, x, y if model.conditional else None, k=k, seed=spec.seed)
        protocol["neg_log_likelihood"] = (
            f"-log p(x) estimated by the importance-weighted bound with K = {k} posterior samples "
            "(Burda et al. 2016), nats per example; an upper bound, tighter than neg_elbo"
        )
    if set(SAMPLE_METRICS) & set(wanted):
        try:
            results.update(sample_scores(model, data, spec, wanted, protocol))
        except GenkitError as err:
            if "metrics" in spec.evaluate.model_fields_set:
                raise  # the user asked for these scores: say why they cannot be computed
            # The family's default (fid) on data without labels for genkit's feature extractor: a
            # default the user never wrote must not fail the run; say what was left out instead.
            print(f"evaluating: no sample scores (the default evaluate.metrics) — {err}")
            protocol["sample_scores"] = f"skipped: {err}"
    if "code_accuracy" in wanted:
        with phase("evaluating: code_accuracy"):
            results.update(code_accuracy_scores(model.infer_codes, spec, data, protocol))
    if set(DISENTANGLEMENT_METRICS) & set(wanted):
        with phase(f"evaluating: {', '.join(m for m in DISENTANGLEMENT_METRICS if m in wanted)}"):
            results.update(disentanglement_scores(_encode(model), spec, data, wanted, protocol, conditional=model.conditional))
    if set(TRANSLATION_METRICS) & set(wanted):
        paired = spec.data.translation.pairing == "paired"
        with phase(f"evaluating: {', '.join(m for m in TRANSLATION_METRICS if m in wanted)} on {n:,} test images"):
            results.update(translation_scores(model, x, y, wanted, spec.data.range, protocol, paired=paired))
    return {
        "name": spec.name,
        "family": spec.model.family,
        "protocol": protocol,
        "metrics": results,
        "evaluated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _reconstruction(model, batches, x, value_range, logs) -> dict:
    # Per-pixel errors of the deterministic reconstruction (the posterior mean for VAEs).
    x_hat = np.concatenate([np.asarray(model(b, training=False)) for b in batches])
    return {"reconstruction": logs["reconstruction"], **per_pixel_errors(x, x_hat, value_range)}


def _encode(model):
    """(x, y) -> codes: the encoder's first output, a VAE's posterior mean or an autoencoder's code."""

    def encode(x, y=None):
        codes = model.encoder.predict(x if y is None else [x, y], batch_size=256, verbose=0)
        return codes[0] if isinstance(codes, list) else codes

    return encode


def per_pixel_errors(x, x_hat, value_range) -> dict:
    """Mean squared error and binary cross-entropy per pixel, compared in [0, 1] whatever the range."""
    low, high = value_range
    t, p = (x - low) / (high - low), np.clip((x_hat - low) / (high - low), 1e-7, 1 - 1e-7)
    return {
        "mse_per_pixel": float(np.mean((t - p) ** 2)),
        "bce_per_pixel": float(np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p)))),
    }


def write_metrics(report: dict, run_dir: Path) -> Path:
    path = Path(run_dir) / "metrics.json"
    atomic_write_text(path, json.dumps(report, indent=2))
    return path


def format_table(report: dict) -> str:
    lines = [f"metrics of {report['name']} on {report['protocol']['examples']} held-out test examples:"]
    for key, value in report["metrics"].items():
        if isinstance(value, dict):
            value = "  ".join(f"{k}: {v:.3f}" for k, v in value.items())
            lines.append(f"  {key:<26} {value}")
        else:
            lines.append(f"  {key:<26} {value:12.4f}")
    return "\n".join(lines)
