"""Pipelines: several specs checked together, then each trained, evaluated and exported.

Use a pipeline to compare models: one file names the specs, and `genkit run` checks them
all before any training starts, trains them one after another and writes one report.

    pipeline: mnist_zoo                       # reports/mnist_zoo/, exports/mnist_zoo/<run>/
    description: Every genkit family on MNIST, compared.
    set: [train.tensorboard=false]            # overrides for every run
    runs:
      - spec: ../specs/vae_mnist.yaml         # relative to this file
        name: vae                             # label in the report (default: the spec's name)
        set: [train.epochs=10]                # this run only

Overrides are read exactly as `--set` reads them and applied in this order: the
pipeline's `set`, the run's `set`, then the command line's `--set` (the last one wins).

Order of work (this module and `genkit/cli.py` are the only places that know it):
1. check the pipeline file, then load every spec with its overrides and build its networks
   (as `genkit validate` does); every problem of every run is reported at once, as one
   `SpecError`, before anything is written;
2. for each run: train -> evaluate -> export (to `exports/<pipeline>/<run>/` unless the
   spec sets `export.dir`). A run that fails is recorded with its stage and message, and
   the next run starts;
3. `reports/<pipeline>/` (see `genkit.report`) is rewritten after every run, so a long
   pipeline shows its progress and an interrupted one keeps what finished;
4. if any run failed, `PipelineFailed` is raised after the report is written.

Example:
    report_dir = run_pipeline("pipelines/smoke.yaml", ["train.epochs=2"])
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from genkit.errors import GenkitError, Problem, SpecError, did_you_mean
from genkit.report import RunRecord, format_duration, write_report
from genkit.spec import LoadedSpec, SourceMap, load_spec, parse_override, validate_dict
from genkit.spec.loader import ALLOW_OUTSIDE_ENV, PATH_FIELDS, _label, _pydantic_problems, _read_yaml, outside_paths_allowed

__all__ = ["Pipeline", "PipelineFailed", "PipelineFile", "PlannedRun", "RunEntry", "is_pipeline_file", "load_pipeline", "run_pipeline"]

REPORTS_DIR = Path("reports")
EXPORTS_DIR = Path("exports")
# Names become folder names (reports/<pipeline>/, exports/<pipeline>/<run>/): no '..'.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


# --------------------------------------------------------------------------- the file's schema
class RunEntry(BaseModel):
    """One run of a pipeline: a spec file and what to change in it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: str = Field(..., description="Spec file, relative to the pipeline file.")
    name: Optional[str] = Field(
        None, pattern=NAME_PATTERN, description="Label of the run in the report and its export folder (default: the spec's name)."
    )
    set: list[str] = Field(default_factory=list, description="Overrides for this run, as --set: 'train.epochs=10'.")


class PipelineFile(BaseModel):
    """A pipeline file: a name, a description and the runs, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pipeline: str = Field(..., pattern=NAME_PATTERN, description="Pipeline name: reports/<name>/ and exports/<name>/<run>/.")
    description: str = Field("", description="One line shown at the top of the report.")
    runs: list[RunEntry] = Field(..., min_length=1, description="The specs to run, in order.")
    set: list[str] = Field(default_factory=list, description="Overrides for every run, as --set (before each run's own).")


# --------------------------------------------------------------------------- the checked plan
@dataclass(frozen=True)
class PlannedRun:
    """A run whose spec, with every override applied, is valid and builds."""

    label: str
    loaded: LoadedSpec
    export_dir: Path
    where: str  # 'pipelines/x.yaml:7': the pipeline file's line naming this run


@dataclass(frozen=True)
class Pipeline:
    name: str
    description: str
    path: Path
    runs: tuple

    @property
    def report_dir(self) -> Path:
        return REPORTS_DIR / self.name


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


def is_pipeline_file(path) -> bool:
    """True when `path` is a YAML mapping with a top-level `pipeline:` key (else: a spec, or unreadable)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, TypeError):
        return False  # load_spec reports what is wrong with it
    return isinstance(data, dict) and "pipeline" in data


# --------------------------------------------------------------------------- 1. check everything
def load_pipeline(path, overrides=(), *, allow_outside_paths: bool = False, build: bool = True) -> Pipeline:
    """Check the pipeline file and every run's spec (with its overrides); raise every problem at once.

    Args:
        path: the pipeline YAML file.
        overrides: `--set` strings applied to every run, after the file's own.
        allow_outside_paths: let the pipeline and its specs name paths outside the working
            folder (or set GENKIT_ALLOW_OUTSIDE_PATHS=1).
        build: also build each spec's networks, as `genkit validate` does (imports TensorFlow).

    Raises:
        SpecError: every problem found, each with its file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise GenkitError(f"pipeline file '{path}' does not exist. Check the path.")
    label = _label(path.resolve())
    data, lines = _read_yaml(path, label)
    source = SourceMap(lines)
    allow = outside_paths_allowed(allow_outside_paths)

    problems: list = []
    try:
        parsed = PipelineFile.model_validate(data)
        name, description, common, entries = parsed.pipeline, parsed.description, list(parsed.set), list(enumerate(parsed.runs))
    except ValidationError as err:
        # Report the file's problems, and still check the specs of the runs that are readable.
        problems += SpecError(_pydantic_problems(err, PipelineFile)).located(source).problems
        name = data.get("pipeline") if isinstance(data.get("pipeline"), str) else path.stem
        description = ""
        common = data.get("set") if _is_list_of_str(data.get("set")) else []
        entries = list(_readable_entries(data.get("runs")))

    bad_texts = set()
    common_where = {}
    for j, text in enumerate(common):
        common_where[text] = source.where(("set", j))
        problems += _override_problems(text, ("set", j), source, allow, bad_texts)

    runs, labels, export_dirs = [], {}, {}
    for i, entry in entries:
        where = source.where(("runs", i, "spec"))
        set_where = dict(common_where)
        for j, text in enumerate(entry.set):
            set_where[text] = source.where(("runs", i, "set", j))
            problems += _override_problems(text, ("runs", i, "set", j), source, allow, bad_texts)
        entry_ok = not any(t in bad_texts for t in (*common, *entry.set))
        spec_path = path.parent / entry.spec
        if not spec_path.is_file():
            problems.append(_missing_spec(entry.spec, spec_path, ("runs", i, "spec"), where))
            continue
        if not allow and not _inside_working_folder(spec_path):
            problems.append(
                Problem(
                    ("runs", i, "spec"),
                    f"{entry.spec!r} resolves to {spec_path.resolve()}, outside the project folder {Path.cwd().resolve()}.",
                    f"Keep spec files inside it, or allow this deliberately with --allow-outside-paths (or {ALLOW_OUTSIDE_ENV}=1).",
                    where,
                )
            )
            continue
        # Overrides already reported as unreadable are left out, so the spec's own problems show too.
        texts = [t for t in (*common, *entry.set) if t not in bad_texts]
        try:
            loaded = load_spec(spec_path, [*texts, *overrides], allow_outside_paths=allow_outside_paths)
        except SpecError as err:
            problems += [_at_pipeline_line(p, set_where) for p in err.problems]
            continue
        except GenkitError as err:
            problems.append(Problem((), str(err), "", _label(spec_path.resolve())))
            continue
        if not entry_ok:
            continue  # it would not run as written
        if build:
            found = _build_problems(loaded)
            if found:
                problems += [_at_pipeline_line(p, set_where) for p in found]
                continue
        run_label = entry.name or loaded.spec.name
        if run_label in labels:
            problems.append(
                Problem(
                    ("runs", i),
                    f"the label {run_label!r} is already used by runs[{labels[run_label]}]; each run needs its own "
                    "(it names the run's row in the report and its export folder).",
                    "Give one of them a different 'name:'.",
                    source.where(("runs", i)),
                )
            )
            continue
        labels[run_label] = i
        export_dir = Path(loaded.spec.export.dir) if loaded.spec.export.dir else EXPORTS_DIR / name / run_label
        if export_dir in export_dirs:
            problems.append(
                Problem(
                    ("runs", i),
                    f"exports to {export_dir}, as runs[{export_dirs[export_dir]}] does; the second export would replace the first.",
                    "Set a different export.dir in one of them, or leave export.dir unset so each run exports to "
                    f"{EXPORTS_DIR}/{name}/<label>/.",
                    source.where(("runs", i)),
                )
            )
            continue
        export_dirs[export_dir] = i
        runs.append(PlannedRun(run_label, loaded, export_dir, where))

    if problems:
        # The pipeline file's problems first, in line order; a spec listed twice reports its own once.
        problems = sorted(dict.fromkeys(problems), key=lambda p: (not p.where.startswith(f"{label}:"), _line(p.where, label)))
        raise SpecError(problems)
    return Pipeline(name=name, description=description, path=path, runs=tuple(runs))


def _line(where: str, label: str) -> int:
    number = where[len(label) + 1 :].split(" ")[0].split(":")[0] if where.startswith(f"{label}:") else ""
    return int(number) if number.isdigit() else 0


def _is_list_of_str(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _readable_entries(raw):
    """The run entries that are valid on their own, when the file as a whole is not."""
    if not isinstance(raw, list):
        return
    for i, item in enumerate(raw):
        try:
            yield i, RunEntry.model_validate(item)
        except ValidationError:
            continue  # its problems are already in the file's


def _override_problems(text, path, source, allow, bad_texts) -> list:
    """An override written in the pipeline file: readable, and its paths inside the working folder."""
    where = source.where(path)
    try:
        key, value = parse_override(text)
    except SpecError:
        bad_texts.add(text)
        return [Problem(path, f"got {text!r}; expected KEY.PATH=VALUE, e.g. 'train.epochs=5'.", "", where)]
    # A pipeline file may come from someone else: its paths are confined as a spec file's are.
    if key in PATH_FIELDS and isinstance(value, str) and not allow:
        target = (Path.cwd() / Path(value).expanduser()).resolve()
        if not _inside_working_folder(target):
            bad_texts.add(text)
            return [
                Problem(
                    path,
                    f"{value!r} resolves to {target}, outside the project folder {Path.cwd().resolve()}.",
                    f"Keep paths inside it, or allow this deliberately with --allow-outside-paths (or {ALLOW_OUTSIDE_ENV}=1).",
                    where,
                )
            ]
    return []


def _inside_working_folder(path: Path) -> bool:
    root, resolved = Path.cwd().resolve(), Path(path).resolve()
    return resolved == root or root in resolved.parents


def _missing_spec(written: str, looked_for: Path, path, where) -> Problem:
    folder = looked_for.parent
    near = ""
    if folder.is_dir():
        options = [str(Path(written).parent / p.name) for p in folder.iterdir() if p.suffix in (".yaml", ".yml")]
        near = did_you_mean(written, options) if options else ""
    return Problem(
        path,
        f"{written!r} does not exist (looked for {os.path.normpath(looked_for)}).",
        f"Paths in a pipeline file are relative to it. {near}".strip(),
        where,
    )


def _at_pipeline_line(problem: Problem, set_where: dict) -> Problem:
    """A problem an override caused, located at the pipeline file's line that wrote it."""
    text = problem.where[len("--set ") :] if problem.where.startswith("--set ") else None
    if text in set_where:
        return Problem(problem.path, problem.message, problem.suggestion, f"{set_where[text]} (set {text})")
    return problem


def _build_problems(loaded: LoadedSpec) -> list:
    """Problems building the spec's family model without training data, as `genkit validate` finds them."""
    import keras

    from genkit.train import build_for_check

    try:
        build_for_check(loaded.spec)
    except SpecError as err:
        return err.located(loaded.source).problems
    except GenkitError as err:
        return [Problem((), str(err), "", _label(loaded.path.resolve()))]
    finally:
        keras.backend.clear_session()
    return []


# --------------------------------------------------------------------------- 2-4. run and report
def run_pipeline(path, overrides=(), *, allow_outside_paths: bool = False, reuse: bool = False) -> Path:
    """Check every run, then train, evaluate and export each; return the report folder.

    Args:
        path: the pipeline YAML file (a mapping with a top-level `pipeline:` key).
        overrides: `--set` strings for every run (they win over the file's own).
        allow_outside_paths: as `genkit run --allow-outside-paths`.
        reuse: keep a run whose identical resolved spec already finished (run folder with
            final weights and metrics.json) and whose export holds that spec; train the rest.

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
    n = len(pipeline.runs)
    records = [
        RunRecord(
            label=run.label,
            spec=_label(run.loaded.path.resolve()),
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
            source=_label(pipeline.path.resolve()),
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
    from genkit.export.from_run import export_run
    from genkit.train import train

    spec = run.loaded.spec
    runs_base = Path(spec.runs_dir) / spec.name
    before = set(runs_base.iterdir()) if runs_base.is_dir() else set()
    start = time.time()
    try:
        record.stage = "train"
        prep = train(run.loaded)
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
