"""Run folders: `runs/<name>/<timestamp>/`, what they record, and finding them again."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import time
from pathlib import Path

import yaml

from genkit.atomic import atomic_write_text
from genkit.errors import GenkitError
from genkit.version import __version__

__all__ = [
    "add_train_seconds",
    "recorded_train_seconds",
    "check_export_target",
    "existing_export_manifest",
    "find_finished_run",
    "find_latest_run",
    "hashed_fields",
    "is_run_folder",
    "load_run_spec",
    "new_run_dir",
    "runs_base",
    "spec_hash",
    "write_run_record",
]

SPEC_FILE = "spec.yaml"
# The most genkit adds to a name within a folder: the export swap's `.<name>.tmp-<pid>-XXXXXXXX`.
NAME_SUFFIX_BYTES = 26


def spec_hash(spec) -> str:
    """Hash of the resolved spec's `hashed_fields`."""
    return hashlib.sha256(json.dumps(hashed_fields(spec.model_dump(mode="json")), sort_keys=True).encode()).hexdigest()[:16]


def hashed_fields(data: dict) -> dict:
    """A resolved spec mapping minus what may change on resume: the epoch count, unless a
    cosine schedule's length depends on it (the learning rate would jump on resume)."""
    train = data.get("train", {})
    if train.get("optimizer", {}).get("schedule") == "cosine":
        return data
    return {**data, "train": {k: v for k, v in train.items() if k != "epochs"}}


# --------------------------------------------------------------------------- where a run may write
# A run writes only into runs_dir/<name>/<timestamp>/ (a folder it creates) and into its export
# folder (replaced only by genkit.export, and only when it holds an export). These checks are the
# filesystem's line of defence, whatever the spec validator lets through.
def runs_base(spec) -> Path:
    """`runs_dir/<name>`, checked: the name is one plain folder name and runs_dir is not a file."""
    _check_name(spec.name)
    runs = Path(spec.runs_dir)
    for folder in (runs, *runs.parents):
        if folder.exists() and not folder.is_dir():
            raise GenkitError(
                f"runs_dir: {runs} cannot hold run folders: {folder} is a file. "
                "Set runs_dir to a folder (default: runs), or move that file away."
            )
    base = runs / spec.name
    if base.exists() and not base.is_dir():
        raise GenkitError(
            f"name: {base} is a file, so the runs of '{spec.name}' cannot be kept under it. "
            "Give the spec another name, or move that file away."
        )
    return base


def _check_name(name) -> None:
    plain = isinstance(name, str) and name not in ("", ".", "..") and not any(c in name for c in "/\\\0")
    if not plain:
        raise GenkitError(
            f"name: {name!r} is not a plain folder name; it names runs_dir/<name>/ and exports/<name>/, "
            "which must stay inside runs_dir and exports. Use letters, digits, '_', '-' and '.' "
            "(not '.' or '..' alone), e.g. name: my_vae_mnist."
        )
    limit = _name_max(Path.cwd())
    if len(name.encode()) + NAME_SUFFIX_BYTES > limit:
        raise GenkitError(
            f"name: {len(name.encode())} bytes is too long for this file system, which allows {limit} "
            f"per file name; genkit adds up to {NAME_SUFFIX_BYTES} to it for its temporary folders. "
            f"Use a name of at most {limit - NAME_SUFFIX_BYTES} bytes."
        )


def _name_max(folder: Path) -> int:
    for candidate in (folder, *folder.parents):
        try:
            return os.pathconf(candidate, "PC_NAME_MAX")
        except (OSError, ValueError, AttributeError):
            continue
    return 255


def _contains(outer: Path, inner: Path) -> bool:
    return outer == inner or outer in inner.parents


def existing_export_manifest(path) -> dict | None:
    """The parsed manifest.json of the folder `path` (a dict with a name), or None when it has none."""
    try:
        manifest = json.loads((Path(path) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("name"), str) else None


def check_export_target(path, field: str, spec=None, run_dir=None) -> Path:
    """Refuse an export folder that replacing could harm, as a GenkitError naming `field`
    ("export.dir", "name" or "--out"): the working folder or one above it, the runs folder or
    one above it, the run folder or one above it, a file or a link, a non-empty folder that is
    not a genkit export, or a name too long for the file system."""
    path = Path(path)
    target = path.resolve()
    fix = {
        "name": "Give the spec a plain name (the default export folder is exports/<name>)",
        "--out": "Pass --out a new folder, e.g. --out exports/<name>",
    }.get(field, "Set export.dir to a folder of its own, or leave it out (the default is exports/<name>)")
    guarded = [(Path.cwd().resolve(), "the working folder")]
    if spec is not None:
        guarded.append((Path(spec.runs_dir).resolve(), "the runs folder (runs_dir)"))
    if run_dir is not None:
        guarded.append((Path(run_dir).resolve(), "this run's folder"))
    for folder, what in guarded:
        if _contains(target, folder):
            where = "is" if target == folder else "is a folder above"
            raise GenkitError(
                f"{field}: the export folder {path} {where} {what} ({folder}); an export replaces its whole "
                f"folder, so genkit will not write there. {fix}."
            )
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        kind = "a symbolic link" if path.is_symlink() else "a file"
        raise GenkitError(f"{field}: the export folder {path} is {kind}, not a folder; genkit will not replace it. {fix}.")
    if path.is_dir() and any(path.iterdir()) and existing_export_manifest(path) is None:
        raise GenkitError(
            f"{field}: {path} already exists and is not a genkit export (it has no manifest.json); an export "
            f"replaces its whole folder, so genkit will not touch it. {fix}, or move that folder away."
        )
    limit = _name_max(target.parent if target.parent.exists() else Path.cwd())
    if len(path.name.encode()) + NAME_SUFFIX_BYTES > limit:
        raise GenkitError(
            f"{field}: the export folder's name {path.name[:40]!r}... ({len(path.name.encode())} bytes) is too long "
            f"for this file system ({limit} per name, and genkit adds up to {NAME_SUFFIX_BYTES}). {fix}."
        )
    return path


def _check_run_paths(spec) -> Path:
    """Everything a new run will write, checked before it starts: its run folder and its export folder."""
    base = runs_base(spec)  # also checks the name, and so the default export folder exports/<name>
    if spec.export.dir:
        # (The default folder is checked at export time: a pipeline exports its runs elsewhere.)
        try:
            check_export_target(spec.export.dir, "export.dir", spec)
        except OSError as err:
            if err.errno != errno.ENAMETOOLONG:
                raise
            raise GenkitError(f"export.dir: {spec.export.dir[:60]}... is too long a path for this file system; choose a shorter one.") from None
    return base


def new_run_dir(spec) -> Path:
    """A fresh `runs_dir/<name>/<timestamp>/` (never an existing folder)."""
    run_dir = Path(spec.runs_dir) / str(spec.name)
    try:
        base = _check_run_paths(spec)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir, n = base / stamp, 1
        while run_dir.exists():  # two runs in the same second
            n += 1
            run_dir = base / f"{stamp}-{n}"
        run_dir.mkdir(parents=True)
    except OSError as err:
        if err.errno == errno.ENAMETOOLONG:
            raise GenkitError(
                f"runs_dir: the run folder {run_dir} is too long a path for this file system. "
                "Set runs_dir to a shorter folder, or give the spec a shorter name."
            ) from None
        if err.errno in (errno.ENOTDIR, errno.EEXIST):
            raise GenkitError(
                f"runs_dir: cannot make the run folder {run_dir}: part of that path is a file. "
                "Set runs_dir to a folder (default: runs), or move that file away."
            ) from None
        raise
    return run_dir


def find_latest_run(spec):
    """The newest run folder of this spec's name that has a checkpoint, or None."""
    base = runs_base(spec)
    runs = sorted(p for p in base.glob("*") if (p / "checkpoints").is_dir()) if base.is_dir() else []
    return runs[-1] if runs else None


def find_finished_run(spec):
    """The newest run folder trained, evaluated and saved with exactly this resolved spec, or None."""
    from genkit.errors import SpecError
    from genkit.spec import validate_dict

    base = runs_base(spec)
    resolved = spec.model_dump(mode="json")
    for run_dir in sorted(base.glob("*"), reverse=True) if base.is_dir() else []:
        if not ((run_dir / "model.weights.h5").is_file() and (run_dir / "metrics.json").is_file()):
            continue
        try:
            # Validated again, so that options added to genkit since (with their defaults) compare equal.
            if validate_dict(yaml.safe_load((run_dir / SPEC_FILE).read_text())).model_dump(mode="json") == resolved:
                return run_dir
        except (OSError, yaml.YAMLError, SpecError):
            continue
    return None


def write_run_record(run_dir: Path, spec, data_origin: str) -> None:
    """The resolved spec (every default filled in) and the facts needed to reproduce the run."""
    import keras
    import tensorflow as tf

    resolved = spec.model_dump(mode="json")
    atomic_write_text(
        run_dir / SPEC_FILE,
        "# Resolved spec written by genkit: every default filled in.\n" + yaml.safe_dump(resolved, sort_keys=False),
    )
    record = {
        "genkit": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "seed": spec.seed,
        "spec_hash": spec_hash(spec),
        "data": data_origin,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_text(run_dir / "run.json", json.dumps(record, indent=2))


def recorded_train_seconds(run_dir: Path) -> float:
    """The training wall time run.json holds so far (0 for a new run)."""
    path = Path(run_dir) / "run.json"
    return float(json.loads(path.read_text()).get("train_seconds", 0.0)) if path.is_file() else 0.0


def add_train_seconds(run_dir: Path, seconds: float) -> None:
    """Add a training session's wall time to run.json (a resumed run adds up its sessions)."""
    path = Path(run_dir) / "run.json"
    record = json.loads(path.read_text()) if path.is_file() else {}
    record["train_seconds"] = round(record.get("train_seconds", 0.0) + seconds, 1)
    atomic_write_text(path, json.dumps(record, indent=2))


def read_run_spec(run_dir: Path) -> dict:
    path = Path(run_dir) / SPEC_FILE
    if not path.is_file():
        raise GenkitError(
            f"'{run_dir}' is not a genkit run folder (no {SPEC_FILE}). Give a folder under runs/<name>/ "
            "written by 'genkit train' or 'genkit run', or a spec file."
        )
    return yaml.safe_load(path.read_text())


def is_run_folder(path) -> bool:
    """Whether `path` is a run folder (`runs/<name>/<time>/`, holding the resolved spec.yaml)."""
    return Path(path).is_dir() and (Path(path) / SPEC_FILE).is_file()


def load_run_spec(run_dir, overrides=()):
    """The resolved spec stored in the run folder `run_dir`, with `--set` overrides applied on top:
    what `genkit run --resume RUN_FOLDER` trains on (the run's own --set flags are in it already).

    Its paths are used as stored: they were resolved when the run began. A `genkit.spec.LoadedSpec`
    whose path is the folder's spec.yaml.
    """
    from genkit.spec.loader import LoadedSpec, SourceMap, apply_override, parse_override, validate_dict

    path = Path(run_dir) / SPEC_FILE
    data = read_run_spec(run_dir)
    if not isinstance(data, dict):
        raise GenkitError(f"{path} does not hold a spec mapping: this run folder cannot be resumed. Start a new run from the spec file.")
    lines = {(): str(path)}
    for text in overrides:
        key, value = parse_override(text)
        apply_override(data, key, value, lines, text)
    source = SourceMap(lines)
    return LoadedSpec(spec=validate_dict(data, source), source=source, path=path)
