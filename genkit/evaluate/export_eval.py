"""Evaluate an export: score what onnxruntime actually samples, with the run's protocol.

`genkit evaluate exports/NAME` scores the ONNX networks a user ships rather than the Keras
model they came from, on the data the export was trained with (its resolved spec travels in
`manifest.json` under `spec`). Sample scores (FID, KID, precision/recall, modes, class
accuracy) and the reconstruction error go through `genkit.runtime.Sampler`, so a diffusion
export can be scored per sampler and step count (`--sampler ddim --steps 50`). The ELBO and
the importance-weighted likelihood need the Keras encoder's posterior: they are computed
from the run folder (`genkit evaluate runs/NAME/...`), and listed under `skipped` here.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from genkit.data import load_data
from genkit.errors import GenkitError
from genkit.evaluate.codes import code_accuracy_scores
from genkit.evaluate.disentanglement import disentanglement_scores
from genkit.evaluate.metrics import per_pixel_errors
from genkit.evaluate.sample_quality import sample_scores
from genkit.evaluate.translation import translation_scores
from genkit.progress import phase
from genkit.runtime import Sampler
from genkit.spec import validate_dict
from genkit.spec.schema import DISENTANGLEMENT_METRICS, SAMPLE_METRICS, TRANSLATION_METRICS

__all__ = ["ExportedModel", "evaluate_export"]

RUN_ONLY = {
    "elbo": "needs the Keras model's posterior: evaluate the run folder",
    "log_likelihood": "needs the Keras model's posterior: evaluate the run folder",
}


class ExportedModel:
    """An export seen through onnxruntime with the `sample(n, labels, seed)` the metrics take.

    `options` are the diffusion sampler settings (steps, sampler, eta, guidance_scale, guidance_interval).
    """

    def __init__(self, runtime: Sampler, **options):
        self.runtime = runtime
        self.options = {k: v for k, v in options.items() if v is not None}
        self.conditional = runtime.conditional
        self.num_classes = runtime.num_classes

    def sample(self, n: int, labels=None, seed: int = 0) -> np.ndarray:
        x, _ = self.runtime.sample(n, labels=labels, seed=seed, **self.options)
        return x


def evaluate_export(export_dir, **options) -> dict:
    """The metrics of `export_dir`'s spec that an export supports; the same report shape as a run's."""
    sampler = Sampler(export_dir)
    if "spec" not in sampler.manifest:
        raise GenkitError(
            f"{export_dir} was exported before exports carried their spec; re-export it (genkit export RUN_DIR) "
            "or evaluate its run folder."
        )
    spec = validate_dict(sampler.manifest["spec"])
    data = load_data(spec.data, spec.seed)
    model = ExportedModel(sampler, **options)
    wanted = spec.evaluate.metrics
    n = min(spec.evaluate.samples, len(data.x_test))
    protocol = {
        "split": "test",
        "examples": int(n),
        "data": data.origin,
        "seed": spec.seed,
        "model": f"ONNX export {Path(export_dir)} (onnxruntime, {sampler.provider})",
    }
    if model.options:
        protocol["sampler"] = ", ".join(f"{k} {v}" for k, v in sorted(model.options.items()))
    results: dict = {}
    if "reconstruction" in wanted:
        with phase(f"evaluating: reconstruction of {n:,} test images through onnxruntime"):
            results.update(_reconstruction(sampler, data, n, spec.data.range))
        protocol["reconstruction"] = "per-pixel errors of the ONNX encoder -> decoder reconstruction, in [0, 1] units"
    if set(SAMPLE_METRICS) & set(wanted):
        results.update(sample_scores(model, data, spec, wanted, protocol))
    if "code_accuracy" in wanted:
        # Q through the exported discriminator (its code heads), as `Sampler.infer_codes` reads them.
        with phase("evaluating: code_accuracy"):
            results.update(code_accuracy_scores(sampler.infer_codes, spec, data, protocol))
    if set(DISENTANGLEMENT_METRICS) & set(wanted):
        # The ONNX encoder's first output (z_mean for a VAE), as `Sampler.encode` reads it.
        with phase(f"evaluating: {', '.join(m for m in DISENTANGLEMENT_METRICS if m in wanted)}"):
            results.update(disentanglement_scores(sampler.encode, spec, data, wanted, protocol, conditional=sampler.conditional))
    if set(TRANSLATION_METRICS) & set(wanted):
        # The Sampler translates like the family does (directions, translate): the same scores, through ONNX.
        paired = spec.data.translation.pairing == "paired"
        with phase(f"evaluating: {', '.join(m for m in TRANSLATION_METRICS if m in wanted)} on {n:,} test images"):
            results.update(translation_scores(sampler, data.x_test[:n], data.y_test[:n], wanted, spec.data.range, protocol, paired=paired))
    return {
        "name": spec.name,
        "family": spec.model.family,
        "protocol": protocol,
        "metrics": results,
        "skipped": {m: why for m, why in RUN_ONLY.items() if m in wanted},
        "evaluated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _reconstruction(sampler, data, n, value_range) -> dict:
    if sampler.manifest.get("encoding") is None:
        raise GenkitError(
            f"evaluate.metrics: 'reconstruction' needs an exported encoder, and {sampler.export_dir} has none. "
            "Export it (export.onnx.networks) or evaluate the run folder."
        )
    x = data.x_test[:n]
    y = data.y_test[:n] if sampler.conditional else None
    return per_pixel_errors(x, sampler.reconstruct(x, y), value_range)
