"""The export stage: a trained family model -> ONNX files + manifest the runtime reads."""

from __future__ import annotations

from pathlib import Path

from genkit.errors import Problem, SpecError
from genkit.export.onnx_export import export_networks

__all__ = ["default_export_dir", "export_run"]


def default_export_dir(spec) -> Path:
    return Path(spec.export.dir) if spec.export.dir else Path("exports") / spec.name


def export_run(prep, out_dir=None) -> dict:
    """Export the networks `export.onnx.networks` names (default: all the family offers)."""
    spec, data, model = prep.spec, prep.data, prep.model
    offered, facts = model.export_plan(data.x_train, data.y_train)
    chosen = spec.export.onnx.networks or list(offered)
    unknown = [n for n in chosen if n not in offered]
    if unknown:
        raise SpecError(
            [Problem(("export", "onnx", "networks"), f"the {spec.model.family} family exports {sorted(offered)}; got {unknown}.", "")]
        )
    facts = dict(facts)
    facts["networks"] = {n: facts["networks"][n] for n in chosen}
    for key in ("sampling", "encoding"):
        if facts.get(key) and facts[key]["network"] not in chosen:
            facts[key] = None  # that network is not exported, so the runtime cannot do this
    manifest = {
        "format": 1,
        "name": spec.name,
        "family": spec.model.family,
        "data": {"shape": list(data.shape), "range": list(spec.data.range), "num_classes": model.num_classes},
        **facts,
    }
    ranges = {}
    for name in chosen:
        ranges[name] = {"x": tuple(spec.data.range)}
        if model.num_classes:
            ranges[name]["y"] = (0, model.num_classes)
    return export_networks(
        {n: offered[n] for n in chosen},
        Path(out_dir) if out_dir else default_export_dir(spec),
        manifest,
        opset=spec.export.onnx.opset,
        tolerance=spec.export.onnx.tolerance,
        seed=spec.seed,
        input_ranges=ranges,
    )
