"""Run a checked pipeline: train -> evaluate -> export each run, rewriting the report after each.

A run that fails is recorded with its stage and message, and the next run starts;
`reports/<pipeline>/` (see `genkit.report`) is rewritten after every run, so a long
pipeline shows its progress and an interrupted one keeps what finished; if any run
failed, `PipelineFailed` is raised after the report is written.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
import time
import traceback
from pathlib import Path

from genkit.errors import GenkitError, SpecError
from genkit.pipeline.load import load_pipeline
from genkit.pipeline.schema import PlannedRun
from genkit.report import RunRecord, format_duration, write_report
from genkit.spec import validate_dict
from genkit.spec.yaml_reader import source_label

__all__ = ["PipelineFailed", "run_pipeline"]


class PipelineFailed(GenkitError):
    """Some runs of a pipeline failed; the others finished, and the report lists both.

    Attributes: `report_dir` (the written report folder) and `failed` (a list of
    `(label, stage, message)`).
    """

    exit_code = 1  # the pipeline file was fine; some runs failed while training

    def __init__(self, report_dir: Path, failed: list, total: int):
        self.report_dir = Path(report_dir)
        self.failed = list(failed)
        listed = "; ".join(f"{label} (at {stage}: {(message or '?').splitlines()[0]})" for label, stage, message in failed)
        others = "The other runs finished; see" if len(failed) < total else "See"
        super().__init__(f"{len(failed)} of {total} pipeline runs failed: {listed}. {others} {self.report_dir / 'report.md'}.")


def run_pipeline(path, overrides=(), *, allow_outside_paths: bool = False, reuse: bool = False) -> Path:
    """Check every run, then train, evaluate and export each; return the report folder.

    Args:
        path: the pipeline YAML file (a mapping with a top-level `pipeline:` key).
        overrides: `--set` strings for every run (they win over the file's own).
        allow_outside_paths: as `genkit run --allow-outside-paths`.
        reuse: keep a run whose identical resolved spec already finished (run folder with
            final weights and metrics.json) and whose export holds that spec; train the rest.
            (A pipeline with a `sweep:` runs `genkit.pipeline.sweep.run_sweep`, which resumes
            its study on its own.)

    Returns:
        `reports/<pipeline>/`, holding report.md, report.html and metrics.csv.

    Raises:
        SpecError: the pipeline file or a spec is invalid; nothing was trained or written.
        PipelineFailed: one or more runs failed (after the others ran and the report was
            written). Both are `GenkitError`s.
    """
    from genkit.quiet_tf import quiet_tensorflow_import

    quiet_tensorflow_import()
    start = time.time()
    print(f"checking {path} and every spec it names (with their overrides)...", flush=True)
    pipeline = load_pipeline(path, overrides, allow_outside_paths=allow_outside_paths)
    if pipeline.sweep is not None:
        from genkit.pipeline.sweep import run_sweep

        # A sweep always resumes its own study (its journal), so `reuse` has nothing to add.
        folder, failed = run_sweep(pipeline, allow_outside_paths=allow_outside_paths)
        if failed:
            raise PipelineFailed(folder, failed, len(failed))
        return folder
    n = len(pipeline.runs)
    records = [
        RunRecord(
            label=run.label,
            spec=source_label(run.loaded.path.resolve()),
            family=run.loaded.spec.model.family,
            data_source=run.loaded.spec.data.source,
        )
        for run in pipeline.runs
    ]
    print(f"pipeline {pipeline.name}: {n} run{'s' if n != 1 else ''}, every spec valid", flush=True)

    def report():
        return write_report(
            pipeline.report_dir,
            name=pipeline.name,
            description=pipeline.description,
            source=source_label(pipeline.path.resolve()),
            records=records,
            seconds=time.time() - start,
        )

    quiet = _DropRetracingWarnings()
    logging.getLogger("tensorflow").addFilter(quiet)
    try:
        for i, (run, record) in enumerate(zip(pipeline.runs, records), 1):
            print(f"\n[{i}/{n}] {run.label}: {record.spec} ({record.family})", flush=True)
            if reuse and _reuse(run, record):
                report()
                continue
            try:
                _run_one(run, record, f"[{i}/{n}] {run.label}")
            except KeyboardInterrupt:
                record.status, record.error = "failed", "interrupted (Ctrl-C)"
                report()
                raise
            finally:
                _free_memory()
            report()
    finally:
        logging.getLogger("tensorflow").removeFilter(quiet)

    folder = report()
    failed = [(r.label, r.stage, r.error) for r in records if r.status != "ok"]
    print(f"\npipeline {pipeline.name} done in {format_duration(time.time() - start)}:")
    for r in records:
        outcome = "ok" if r.status == "ok" else f"FAILED at {r.stage}"
        print(f"  {r.label:<24} {outcome:<20} {format_duration(r.seconds)}")
    print(f"report: {folder / 'report.md'} (and report.html, metrics.csv)", flush=True)
    if failed:
        raise PipelineFailed(folder, failed, n)
    return folder


def _run_one(run: PlannedRun, record: RunRecord, tag: str) -> None:
    """train -> evaluate -> export one run, filling `record`; a failure is recorded, not raised."""
    from genkit.evaluate import evaluate_model, format_table, write_metrics
    from genkit.evaluate.sample_quality import sample_scores
    from genkit.export.from_run import export_run
    from genkit.train import train

    spec = run.loaded.spec
    runs_base = Path(spec.runs_dir) / spec.name
    before = set(runs_base.iterdir()) if runs_base.is_dir() else set()
    start = time.time()
    try:
        record.stage = "train"
        prep = train(run.loaded, score_samples=sample_scores)
        record.train_seconds = time.time() - start
        record.run_dir = prep.run_dir

        record.stage = "evaluate"
        metrics = evaluate_model(prep)
        path = write_metrics(metrics, prep.run_dir)
        print(format_table(metrics))
        print(f"metrics written to {path}")

        record.stage = "export"
        manifest = export_run(prep, run.export_dir)
        record.export_dir = run.export_dir
        parity = {k: f"{v.get('parity_max_abs_diff', float('nan')):.1e}" for k, v in manifest["networks"].items()}
        print(f"exported {', '.join(manifest['networks'])} to {run.export_dir} (ONNX vs Keras max abs diff: {parity})")
        record.status, record.stage = "ok", ""
    except Exception as err:  # noqa: BLE001 - one run's failure must not throw away the others'
        # Not hidden: the message goes into the report, a bug's traceback is printed, and
        # the pipeline fails at the end (PipelineFailed).
        record.status = "failed"
        if isinstance(err, SpecError):
            record.error = str(err.located(run.loaded.source))
        elif isinstance(err, GenkitError):
            record.error = str(err)
        else:
            record.error = f"{type(err).__name__}: {err}"
            traceback.print_exc()
        if record.run_dir is None:  # training failed: point at the folder it started, if any
            new = sorted(set(runs_base.iterdir()) - before) if runs_base.is_dir() else []
            record.run_dir = new[-1] if new else None
        print(f"{tag} FAILED at {record.stage}: {record.error}", file=sys.stderr, flush=True)
    else:
        print(f"{tag} done in {format_duration(time.time() - start)}", flush=True)
    finally:
        record.seconds = time.time() - start


def _reuse(run: PlannedRun, record: RunRecord) -> bool:
    """Fill `record` from an earlier finished run and export of the identical spec, if there is one."""
    from genkit.train.run_folder import find_finished_run

    run_dir = find_finished_run(run.loaded.spec)
    try:
        manifest = json.loads((Path(run.export_dir) / "manifest.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    if run_dir is None or manifest.get("spec") is None:
        return False
    try:
        exported = validate_dict(manifest["spec"]).model_dump(mode="json")
    except SpecError:
        return False
    if exported != run.loaded.spec.model_dump(mode="json"):
        return False
    facts = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    record.status, record.run_dir, record.export_dir = "ok", run_dir, Path(run.export_dir)
    record.train_seconds = facts.get("train_seconds")
    print(f"reused {run_dir} and {run.export_dir}: same resolved spec, finished", flush=True)
    return True


class _DropRetracingWarnings(logging.Filter):
    """Drops TensorFlow's 'N out of the last M calls ... triggered tf.function retracing'.

    Every run of a pipeline builds new models in the same process, so later runs trace new
    functions by design; the warning (a paragraph per call) would bury the progress lines.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def _free_memory() -> None:
    # Each run builds its own models and tf.data pipelines; without this the graphs of
    # earlier runs stay alive for the whole pipeline.
    import keras

    keras.backend.clear_session()
    gc.collect()
