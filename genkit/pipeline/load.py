"""Check a pipeline file and every run's spec (with its overrides) before anything runs.

`load_pipeline` loads every spec with the pipeline's and the run's overrides and builds its
networks (as `genkit validate` does); every problem of every run is reported at once, as
one `SpecError` whose problems point at the pipeline file's lines, before anything is written.
A `sweep:` section is checked too: one run to vary, and each of its values accepted by that run's spec.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from genkit.errors import GenkitError, Problem, SpecError, did_you_mean
from genkit.pipeline.schema import EXPORTS_DIR, Pipeline, PipelineFile, PlannedRun, RunEntry
from genkit.pipeline.sweep_plan import check_values, override_text
from genkit.spec import LoadedSpec, SourceMap, load_spec, parse_override
from genkit.spec.loader import ALLOW_OUTSIDE_ENV, PATH_FIELDS, outside_paths_allowed, pydantic_problems
from genkit.spec.yaml_reader import read_yaml, source_label

__all__ = ["is_pipeline_file", "load_pipeline"]


def is_pipeline_file(path) -> bool:
    """True when `path` is a YAML mapping with a top-level `pipeline:` key (else: a spec, or unreadable)."""
    # The same bounded reader as specs (size, depth and alias caps): a hostile file is refused here
    # without being built, and load_spec then reports what is wrong with it.
    try:
        data, _ = read_yaml(Path(path), source_label(Path(path)))
    except (OSError, SpecError):
        return False
    return isinstance(data, dict) and "pipeline" in data


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
    label = source_label(path.resolve())
    data, lines = read_yaml(path, label)
    source = SourceMap(lines)
    allow = outside_paths_allowed(allow_outside_paths)

    problems: list = []
    try:
        parsed = PipelineFile.model_validate(data)
        name, description, common, entries = parsed.pipeline, parsed.description, list(parsed.set), list(enumerate(parsed.runs))
        sweep = parsed.sweep
    except ValidationError as err:
        # Report the file's problems, and still check the specs of the runs that are readable.
        found = [_without_union_tag(p) for p in pydantic_problems(err, PipelineFile)]
        problems += SpecError(found).located(source).problems
        sweep = None
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
            problems.append(Problem((), str(err), "", source_label(spec_path.resolve())))
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
        runs.append(PlannedRun(run_label, loaded, export_dir, where, overrides=(*texts, *overrides)))

    if isinstance(data, dict) and data.get("sweep") is not None:
        n_entries = len(data["runs"]) if isinstance(data.get("runs"), list) else len(entries)
        problems += _sweep_problems(sweep, n_entries, runs, source, allow_outside_paths)

    if problems:
        # The pipeline file's problems first, in line order; a spec listed twice reports its own once.
        problems = sorted(dict.fromkeys(problems), key=lambda p: (not p.where.startswith(f"{label}:"), _line(p.where, label)))
        raise SpecError(problems)
    return Pipeline(name=name, description=description, path=path, runs=tuple(runs), sweep=sweep)


def _sweep_problems(sweep, n_entries, runs, source, allow_outside_paths) -> list:
    """A sweep varies exactly one run, and that run's spec accepts every value of every param."""
    if n_entries != 1:
        return [
            Problem(
                ("sweep",),
                f"a sweep varies one run, and this pipeline has {n_entries}.",
                "Keep one entry under runs: (the spec the trials start from); sweep other specs in pipeline files of their own.",
                source.where(("sweep",)),
            )
        ]
    if sweep is None or not runs:
        return []  # the section's or the run's own problems are already reported
    run, problems = runs[0], []
    for key, param in sweep.params.items():
        where = source.where(("sweep", "params", key))
        for value in check_values(param):
            text = override_text(key, value)
            try:
                load_spec(run.loaded.path, [*run.overrides, text], allow_outside_paths=allow_outside_paths)
            except SpecError as err:
                found = [_at_pipeline_line(p, {text: where}) for p in err.problems]
                problems += [p for p in found if p.where.startswith(where)] or found
                break  # one bad value says enough about this param
            except GenkitError as err:
                problems.append(Problem(("sweep", "params", key), str(err), "", where))
                break
    return problems


def _without_union_tag(problem: Problem) -> Problem:
    """sweep.params.<key>.values|range.x -> sweep.params.<key>.x: the tag names pydantic's branch, not a key of the file."""
    path = problem.path
    if path[:2] == ("sweep", "params") and len(path) > 3 and path[3] in ("values", "range"):
        return Problem(path[:3] + path[4:], problem.message, problem.suggestion, problem.where)
    return problem


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
        return [Problem((), str(err), "", source_label(loaded.path.resolve()))]
    finally:
        keras.backend.clear_session()
    return []
