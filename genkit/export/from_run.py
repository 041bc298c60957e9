"""The export stage: a trained family model -> ONNX files + manifest the runtime reads."""

from __future__ import annotations

import errno
from pathlib import Path

from genkit.errors import GenkitError, Problem, SpecError, write_failure
from genkit.export.onnx_export import export_marker, export_networks, replace_mode
from genkit.progress import phase
from genkit.train.run_folder import check_export_target, runs_base

__all__ = ["default_export_dir", "export_run", "export_target"]


def default_export_dir(spec) -> Path:
    return export_target(spec)[0]


def export_target(spec, out_dir=None) -> tuple[Path, str]:
    """The export folder and the setting that chose it: "--out", "export.dir" or "name" (exports/<name>)."""
    if out_dir:
        same = spec.export.dir and Path(out_dir) == Path(spec.export.dir)
        return Path(out_dir), "export.dir" if same else "--out"
    if spec.export.dir:
        return Path(spec.export.dir), "export.dir"
    runs_base(spec)  # the name is one plain folder name, so exports/<name> stays inside exports/
    return Path("exports") / spec.name, "name"


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
    # Every weight, the networks' and the model's own (stylegan's w_avg): the twin is built alike, in the same order.
    twin.set_weights(prep.model.get_weights())
    return twin


def export_run(prep, out_dir=None, *, force: bool = True) -> dict:
    """Export the networks `export.onnx.networks` names (default: all the family offers).

    The folder (`out_dir`, else export.dir, else exports/<name>) is replaced only when it holds
    a genkit export (see `genkit.export.onnx_export.replace_mode`); one of another name or spec
    only with `force`, which keeps it under `.previous/`. The command line passes --force
    (default off); a pipeline re-exports its runs' folders as its specs change (the default).
    """
    spec = prep.spec
    out, field = export_target(spec, out_dir)
    run_dir = getattr(prep, "run_dir", None)
    # Before any work (export_networks checks again): a refused folder costs no conversion.
    try:
        check_export_target(out, field, spec, run_dir)
        marker = export_marker({"name": spec.name, "spec": spec.model_dump(mode="json")}, run_dir)
        replace_mode(out, marker, force=force, field=field)
    except OSError as err:
        raise _export_failure(err, out, field) from None
    data, model = prep.data, _float32_copy(prep)
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
    onnx_spec = spec.export.onnx
    finish = None
    if onnx_spec.quantize != "none":
        from genkit.export.quantize import quantize_export

        def finish(folder, written):
            return quantize_export(folder, written, onnx_spec.quantize, samples=onnx_spec.quantize_samples, seed=spec.seed, spec=spec, data=data)

    what = f"exporting: {', '.join(chosen)} to ONNX, each checked against Keras through onnxruntime"
    try:
        with phase(what):
            return export_networks(
                {n: offered[n] for n in chosen},
                out,
                manifest,
                opset=spec.export.onnx.opset,
                tolerance=spec.export.onnx.tolerance,
                seed=spec.seed,
                input_ranges=ranges,
                force=force,
                run_dir=run_dir,
                field=field,
                finish=finish,
            )
    except OSError as err:
        raise _export_failure(err, out, field) from None


def _export_failure(err: OSError, out: Path, field: str) -> BaseException:
    """The GenkitError for a write the user can fix (too long a name, read-only, full), else `err`."""
    if err.errno == errno.ENAMETOOLONG:
        return GenkitError(
            f"{field}: the export folder {out} is too long a name or path for this file system. "
            "Choose a shorter one (--out, export.dir, or a shorter name)."
        )
    # The export folder is swapped in whole, so a failed write leaves the previous export as it was.
    return write_failure(err, out.parent, f"export {out.name}", then="export again: genkit export RUN_FOLDER") or err
