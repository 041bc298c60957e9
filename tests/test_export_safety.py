"""An export only ever replaces an export; a run never deletes or overwrites a file outside
runs/<name>/ and its own export folder; a write killed midway is cleared at the next one.

Each test here failed before (issue 13): an existing folder named by export.dir was replaced
whole, '.'/'..' names wrote outside runs/ and exports/, a starter's run replaced the trained
export of the shipped spec, a kill left `.<name>.tmp-*` folders forever, and a file as runs_dir
or an over-long name ended in a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from genkit.atomic import PREVIOUS, atomic_directory, leftovers, recover_interrupted
from genkit.cli import main
from genkit.errors import GenkitError
from genkit.spec import validate_dict
from genkit.spec.starter import starter_spec
from genkit.train.run_folder import check_export_target, new_run_dir
from tiny import tiny_spec

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.stem for p in (REPO / "specs").glob("*.yaml"))


def digest(folder: Path) -> dict:
    """Every file under `folder` (hidden ones too) -> its sha256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def everything(folder: Path) -> set:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_yaml(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working folder with shipped specs, an earlier export and a tiny spec (exports/<name> by default)."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    other = tmp_path / "exports" / "other"
    other.mkdir(parents=True)
    (other / "manifest.json").write_text(json.dumps({"format": 1, "name": "other"}))
    (other / "decoder.onnx").write_bytes(b"trained weights")
    write_yaml(tmp_path / "tiny.yaml", tiny_spec("vae"))
    return tmp_path


def run(*args) -> int:
    return main(["run", "tiny.yaml", *[x for a in args for x in ("--set", a)]])


# --------------------------------------------------------------------------- refused before training
@pytest.mark.parametrize(
    "override, field",
    [
        ("export.dir=specs", "export.dir"),  # deleted every shipped spec
        ("export.dir=.", "export.dir"),  # crashed renaming the working folder
        ("export.dir=..", "export.dir"),
        ("export.dir=exports", "export.dir"),  # the folder of all exports
        ("export.dir=runs", "export.dir"),  # the runs folder
        ("name=.", "name"),  # exported into exports/ itself, deleting every other export
        ("name=..", "name"),  # wrote a run folder outside runs/, then crashed
        ("name=" + "n" * 240, "name"),  # too long for the file system
    ],
)
def test_a_run_that_would_write_outside_its_folders_is_refused_before_it_starts(project, override, field, capsys):
    (project / "runs").mkdir()
    before, around = digest(project), sorted(p.name for p in project.parent.iterdir())
    assert run(override) == 2
    err = capsys.readouterr().err
    assert f"{field}: " in err and "Traceback" not in err, err
    assert digest(project) == before  # shipped specs, other exports: all as they were
    assert sorted(p.name for p in project.parent.iterdir()) == around  # nothing next to the project
    assert list((project / "runs").iterdir()) == []  # refused before training


def test_runs_dir_that_is_a_file_is_a_clear_error(project, capsys):
    (project / "runs").write_text("not a folder")
    assert run() == 2
    err = capsys.readouterr().err
    assert "runs_dir" in err and "is a file" in err
    assert (project / "runs").read_text() == "not a folder"


def test_the_filesystem_checks_hold_whatever_the_spec_validator_allows(project):
    spec = validate_dict(tiny_spec("vae"))
    for name in ("..", ".", "", "a/b", "../x", "a\\b", "x" * 300):
        with pytest.raises(GenkitError, match=r"^name: "):
            new_run_dir(spec.model_copy(update={"name": name}))
    (project / "afile").write_text("x")
    for runs_dir in ("afile", "afile/runs", "r/" + "x" * 300, "/".join(["y" * 200] * 25)):  # ENOTDIR, ENAMETOOLONG
        with pytest.raises(GenkitError, match=r"^runs_dir: "):
            new_run_dir(spec.model_copy(update={"runs_dir": runs_dir}))
    with pytest.raises(GenkitError, match=r"^export\.dir: .*too long"):
        new_run_dir(spec.model_copy(update={"export": spec.export.model_copy(update={"dir": "e" * 250})}))
    for path in (".", "..", str(project.parent), "runs", "runs/tiny_vae"):
        with pytest.raises(GenkitError, match=r"^--out: "):
            check_export_target(path, "--out", spec, run_dir=Path("runs/tiny_vae/1"))
    with pytest.raises(GenkitError, match=r"^export\.dir: .*not a genkit export"):
        check_export_target("specs", "export.dir", spec)
    assert not (project / "runs").exists()
    assert new_run_dir(spec).parent == Path("runs/tiny_vae")


def test_starters_do_not_take_the_names_of_shipped_specs():
    for family in ("vae", "cvae", "dcgan" if "dcgan" in SHIPPED else "gan", "ddpm"):
        name = yaml.safe_load(starter_spec(family, "mnist"))["name"]
        assert name == f"my_{family}_mnist" and name not in SHIPPED


# --------------------------------------------------------------------------- an export replaces only an export
@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """exports/tiny_vae from `genkit run`, and a second run of the same name with another seed."""
    folder = tmp_path_factory.mktemp("two_runs")
    here = Path.cwd()
    os.chdir(folder)
    try:
        write_yaml(folder / "tiny.yaml", tiny_spec("vae"))
        write_yaml(folder / "changed.yaml", tiny_spec("vae", seed=4))  # what a starter of the same name was
        assert main(["run", "tiny.yaml"]) == 0
        assert main(["train", "changed.yaml"]) == 0
    finally:
        os.chdir(here)
    first, second = sorted((folder / "runs" / "tiny_vae").iterdir())
    return folder, first, second


def test_an_export_of_another_spec_is_refused_then_replaced_with_force_keeping_the_old_one(two_runs, monkeypatch, capsys):
    folder, first, second = two_runs
    monkeypatch.chdir(folder)
    export = folder / "exports" / "tiny_vae"
    trained = digest(export)
    assert json.loads((export / "manifest.json").read_text())["genkit_export"]["name"] == "tiny_vae"

    assert main(["export", str(second)]) == 2  # silently replaced the trained export before
    err = capsys.readouterr().err
    assert "name: " in err and "another spec" in err and "--force" in err
    assert digest(export) == trained

    assert main(["export", str(second), "--force"]) == 0
    assert digest(export / PREVIOUS) == trained  # the replaced export, whole
    assert json.loads((export / "manifest.json").read_text())["spec"]["seed"] == 4

    # The same spec again replaces silently and keeps .previous; a third spec pushes it out (one level).
    assert main(["export", str(second)]) == 0
    assert digest(export / PREVIOUS) == trained
    assert main(["export", str(first)]) == 2
    assert main(["export", str(first), "--force"]) == 0
    assert json.loads((export / PREVIOUS / "manifest.json").read_text())["spec"]["seed"] == 4
    assert not (export / PREVIOUS / PREVIOUS).exists()
    from genkit.runtime import Sampler

    assert Sampler(export).sample(2, seed=0)[0].shape[0] == 2  # the runtime ignores .previous
    assert leftovers(export) == []


def test_export_refuses_folders_that_are_not_exports_of_that_model(two_runs, monkeypatch, capsys, tmp_path):
    folder, first, _ = two_runs
    monkeypatch.chdir(folder)
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    for out in (str(keep), ".", "..", "runs", str(first)):
        before = digest(keep)
        assert main(["export", str(first), "--out", out, "--force"]) == 2  # --force does not override these
        err = capsys.readouterr().err
        assert "--out: " in err and "Traceback" not in err
        assert digest(keep) == before
    assert main(["export", str(first), "--out", str(folder / "exports" / "renamed")]) == 0  # a new folder is fine


# --------------------------------------------------------------------------- interrupted writes
KILLED_IN_THE_SWAP = """
import os, sys, time
from pathlib import Path
from genkit.atomic import atomic_directory

final, flag, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
rename = os.rename

def first_rename_then_hang(src, dst):
    rename(src, dst)
    flag.write_text(str(dst))  # the old folder is out of place, the new one not yet in
    time.sleep(600)

os.rename = first_rename_then_hang
with atomic_directory(final, previous=mode) as tmp:
    (tmp / "manifest.json").write_text('{"format": 1, "name": "half"}')
    (tmp / "big.bin").write_bytes(os.urandom(1 << 16))
"""


@pytest.mark.parametrize("mode", ["drop", "keep"])
def test_sigkill_inside_the_swap_is_repaired_by_the_next_write(mode, tmp_path):
    parent = tmp_path / "exports"
    final = parent / "model"
    with atomic_directory(final) as tmp:
        (tmp / "manifest.json").write_text('{"format": 1, "name": "model"}')
    old = digest(final)
    neighbours = {"other/keep.txt": "a", ".other.tmp-1-abcdef01/x": "b", "model.txt": "c", ".model.tmp-not-ours/x": "d"}
    for rel, text in neighbours.items():
        (parent / rel).parent.mkdir(parents=True, exist_ok=True)
        (parent / rel).write_text(text)

    flag = tmp_path / "flag"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", KILLED_IN_THE_SWAP, str(final), str(flag), mode], env=env)
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    process.kill()  # SIGKILL
    process.wait()
    assert not final.exists() and leftovers(final)  # what the kill left: the export is gone

    seen = []
    with atomic_directory(final, check=lambda f: seen.append(digest(f)), previous="carry") as tmp:
        (tmp / "manifest.json").write_text('{"format": 1, "name": "model", "v": 2}')
    assert seen[0] == old  # the next write first put the old export back whole, then checked it
    assert json.loads((final / "manifest.json").read_text())["v"] == 2
    assert leftovers(final) == [] and not [p for p in parent.iterdir() if p.name.startswith(".model.") and "tmp-not" not in p.name]
    for rel, text in neighbours.items():
        assert (parent / rel).read_text() == text  # nothing else touched


def test_recovery_restores_the_old_export_when_the_kill_came_between_the_renames(tmp_path):
    final = tmp_path / "model"
    pid = dead_pid()
    old = tmp_path / f".model.old-{pid}-0123abcd"
    old.mkdir()
    (old / "manifest.json").write_text('{"name": "model"}')
    half = tmp_path / f".model.tmp-{pid}-89abcdef"
    half.mkdir()
    (half / "part.onnx").write_bytes(b"half")
    lines = recover_interrupted(final)
    assert (final / "manifest.json").read_text() == '{"name": "model"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert any("restored" in line for line in lines) and any("removed" in line for line in lines)


def test_stale_temporaries_are_cleaned_at_the_next_export_of_that_name_only(tmp_path, capsys):
    from test_export import RANGES, decoder_only_manifest, make_decoder

    from genkit.export import export_networks

    folder = tmp_path / "tiny_cvae"
    export_networks({"decoder": make_decoder()}, folder, decoder_only_manifest(), input_ranges=RANGES)
    pid = dead_pid()
    stale = [tmp_path / f".tiny_cvae.tmp-{pid}-0000abcd", tmp_path / f".tiny_cvae.old-{pid}-1111abcd", tmp_path / ".tiny_cvae.tmp-2222abcd"]
    for path in stale:
        path.mkdir()
        (path / "decoder.onnx").write_bytes(b"left by a kill")
    live = tmp_path / f".tiny_cvae.tmp-{os.getppid()}-3333abcd"  # a running process's: in use
    live.mkdir()
    others = {".other.tmp-1-4444abcd/x": "o", "notes.txt": "n", ".tiny_cvae.txt": "t"}
    for rel, text in others.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)

    export_networks({"decoder": make_decoder()}, folder, decoder_only_manifest(), input_ranges=RANGES)
    assert not any(p.exists() for p in stale)
    assert live.is_dir()
    for rel, text in others.items():
        assert (tmp_path / rel).read_text() == text
    assert capsys.readouterr().err.count("left by an interrupted write") == len(stale)
    assert (folder / "decoder.onnx").is_file()


def test_export_networks_refuses_a_folder_that_is_not_an_export(tmp_path):
    from test_export import RANGES, decoder_only_manifest, make_decoder

    from genkit.export import export_networks

    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "a.yaml").write_text("keep")
    with pytest.raises(GenkitError, match="not a genkit export"):
        export_networks({"decoder": make_decoder()}, folder, decoder_only_manifest(), input_ranges=RANGES, force=True)
    assert digest(folder) == {"a.yaml": hashlib.sha256(b"keep").hexdigest()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["specs"]
