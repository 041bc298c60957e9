"""The export stage: a trained family model -> ONNX files + manifest the runtime reads."""

from __future__ import annotations

from pathlib import Path

from genkit.errors import Problem, SpecError, write_failure
from genkit.export.onnx_export import export_networks

__all__ = ["default_export_dir", "export_run"]


def default_export_dir(spec) -> Path:
    return Path(spec.export.dir) if spec.export.dir else Path("exports") / spec.name


def _float32_copy(prep):
    """The trained model, or a float32 twin of a mixed-precision one (ONNX files stay float32)."""
    if prep.spec.train.precision == "float32":
        return prep.model
    import keras

    from genkit.modeling.build import build_family

    keras.mixed_precision.set_global_policy("float32")
    try:
        twin = build_family(prep.spec, prep.data.shape, prep.data.num_classes, prep.steps_per_epoch)
    finally:
        keras.mixed_precision.set_global_policy(prep.spec.train.precision)
    for target, source in zip(twin.networks().values(), prep.model.networks().values()):
        target.set_weights(source.get_weights())
    return twin


def export_run(prep, out_dir=None) -> dict:
    """Export the networks `export.onnx.networks` names (default: all the family offers)."""
    spec, data, model = prep.spec, prep.data, _float32_copy(prep)
    plan = model.export_plan(data.x_train, data.y_train)
    offered = plan.networks
    chosen = spec.export.onnx.networks or list(offered)
    unknown = [n for n in chosen if n not in offered]
    if unknown:
        raise SpecError(
            [Problem(("export", "onnx", "networks"), f"the {spec.model.family} family exports {sorted(offered)}; got {unknown}.", "")]
        )
    facts = plan.facts(chosen)
    manifest = {
        "format": 1,
        "name": spec.name,
        "family": spec.model.family,
        "data": {"shape": list(data.shape), "range": list(spec.data.range), "num_classes": model.num_classes},
        "spec": spec.model_dump(mode="json"),  # the resolved spec: `genkit evaluate EXPORT` reloads its data
        **facts,
    }
    ranges = {}
    for name in chosen:
        ranges[name] = {"x": tuple(spec.data.range)}
        if model.num_classes:
            ranges[name]["y"] = (0, model.num_classes)
        ranges[name].update(plan.input_ranges.get(name, {}))
    out = Path(out_dir) if out_dir else default_export_dir(spec)
    try:
        return export_networks(
            {n: offered[n] for n in chosen},
            out,
            manifest,
            opset=spec.export.onnx.opset,
            tolerance=spec.export.onnx.tolerance,
            seed=spec.seed,
            input_ranges=ranges,
        )
    except OSError as err:
        # The export folder is swapped in whole, so a failed write leaves the previous export as it was.
        failure = write_failure(err, out.parent, f"export {out.name}", then="export again: genkit export RUN_FOLDER")
        if failure is None:
            raise
        raise failure from None
