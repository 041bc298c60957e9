"""Ctrl-C works the same in every phase of `genkit run` (issue 13, "Signals"): exit code 130,
no traceback, nothing half-written, and the printed command finishes *this* run.

Each test here failed before:
- training: the resume hint was `genkit run SPEC --resume`, without the run's --set flags;
  typed as shown it was refused (or resumed another run, the newest of the spec file's name);
- evaluation: in a process started with SIGINT ignored (a background job of a script, some job
  and test runners) Ctrl-C during evaluation was dropped and the run went on to exit 0: Python
  keeps SIGINT ignored, and training's handler restored "ignored" when training ended;
- export: the same, and a Ctrl-C that did stop evaluation or export said only "interrupted",
  not what was kept nor how to finish.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from tiny import tiny_spec

from genkit.cli import main

REPO = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------- helpers
# Run inside the genkit process before `main`. Neither changes what genkit does: one marks the
# moment evaluation starts; the other sends the process Ctrl-C just before the export folder is
# swapped in (every file of the new export written), the worst moment for it.
MARK_EVALUATION = """
from genkit.quiet_tf import quiet_tensorflow_import
quiet_tensorflow_import()
import pathlib
import genkit.evaluate
_evaluate_model = genkit.evaluate.evaluate_model
def evaluate_model(prep):
    pathlib.Path("evaluating").touch()
    return _evaluate_model(prep)
genkit.evaluate.evaluate_model = evaluate_model
"""
CTRL_C_BEFORE_THE_EXPORT_SWAP = """
import os, signal, time
import genkit.atomic
_swap = genkit.atomic._swap_into_place
def swap(new, final, previous):
    if final.name == "export":  # not the checkpoints, also swapped in whole
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the interrupt lands here; where it is ignored, the export goes on
    return _swap(new, final, previous)
genkit.atomic._swap_into_place = swap
"""


def genkit_process(folder: Path, *args, sigint_ignored: bool = False, hook: str = "") -> subprocess.Popen:
    """`genkit ARGS` in `folder`, started as a terminal's foreground job (SIGINT default) or, with
    `sigint_ignored`, as a script's background job (SIGINT ignored, as POSIX shells start them)."""
    code = hook + "\nimport sys\nfrom genkit.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    # "Ignored" is inherited through exec; a handler (pytest's own) is reset to the default.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN if sigint_ignored else signal.default_int_handler)
    try:
        return subprocess.Popen(
            [sys.executable, "-c", code, *args],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def wait_for(predicate, process, timeout=240.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def write_spec(folder: Path, raw: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump({**raw, "runs_dir": "runs", "export": {"dir": "export"}}))
    return path


def run_folders(runs: Path) -> list:
    return sorted(p for p in runs.glob("*/*") if p.is_dir())


def weights(path: Path) -> dict:
    arrays = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return arrays


def digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def temporaries(folder: Path) -> list:
    """What an unfinished atomic write leaves: `.<name>.tmp-*` (and .old-/.del-) files or folders."""
    return [p for p in folder.rglob(".*") if re.search(r"\.(tmp|old|del)-", p.name)]


def assert_clean_interrupt(process, err: str) -> None:
    assert process.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]


def finish_with(err: str, label: str) -> list:
    """The commands after `label` in the interrupt message, each split as a shell would."""
    match = re.search(rf"{label} (.+)$", err, re.MULTILINE)
    assert match, err[-3000:]
    return [shlex.split(part) for part in match.group(1).split(" && ")]


def genkit(words: list) -> int:
    assert words[0] == "genkit", words
    return main(words[1:])


EVALUATED = tiny_spec(
    "vae",
    **{
        "train.sample_every": 0,
        "evaluate.metrics": ["reconstruction", "elbo", "log_likelihood"],
        "evaluate.importance_samples": 1000,
    },
)


# --------------------------------------------------------------------------- training
def test_ctrl_c_in_training_prints_a_command_that_resumes_this_run_with_its_overrides(tmp_path, monkeypatch):
    raw = tiny_spec("vae", **{"train.epochs": 3, "train.steps_per_epoch": 4, "train.sample_every": 0})
    flags = ["--set", "train.epochs=5", "--set", "runs_dir=my runs"]  # a path that needs quoting
    interrupted = tmp_path / "interrupted"
    path = write_spec(interrupted, raw)
    process = genkit_process(interrupted, "run", str(path), *flags, "--out", "my export")
    wait_for(lambda: list((interrupted / "my runs").glob("*/*/checkpoints/epoch_0001")), process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=180)
    assert_clean_interrupt(process, err)
    (run_dir,) = run_folders(interrupted / "my runs")
    assert not (run_dir / "model.weights.h5").exists()
    assert not (interrupted / "my export").exists()

    # The printed command, typed as shown, resumes this run folder with its --set flags and --out.
    (command,) = finish_with(err, "Resume with:")
    monkeypatch.chdir(interrupted)
    assert genkit(command) == 0
    assert command == ["genkit", "run", "--resume", str(run_dir.relative_to(interrupted)), "--out", "my export"]
    assert run_folders(interrupted / "my runs") == [run_dir]
    with open(run_dir / "history.csv") as f:
        assert [int(row.split(",")[0]) for row in f.read().splitlines()[1:]] == [0, 1, 2, 3, 4]
    assert (run_dir / "metrics.json").is_file() and (interrupted / "my export" / "manifest.json").is_file()

    # ... to the weights of the same run trained without a break.
    whole = tmp_path / "whole"
    path = write_spec(whole, raw)
    monkeypatch.chdir(whole)
    assert main(["train", str(path), *flags]) == 0
    (whole_run,) = run_folders(whole / "my runs")
    first, second = weights(run_dir / "model.weights.h5"), weights(whole_run / "model.weights.h5")
    assert first.keys() == second.keys()
    assert not [k for k in first if not np.array_equal(first[k], second[k])]


# --------------------------------------------------------------------------- evaluation
def test_ctrl_c_in_evaluation_exits_130_keeps_the_trained_run_and_says_how_to_finish(tmp_path, monkeypatch):
    path = write_spec(tmp_path, EVALUATED)
    process = genkit_process(tmp_path, "run", str(path), sigint_ignored=True, hook=MARK_EVALUATION)
    wait_for(lambda: (tmp_path / "evaluating").exists(), process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=180)
    assert_clean_interrupt(process, err)
    (run_dir,) = run_folders(tmp_path / "runs")
    assert (run_dir / "model.weights.h5").is_file()  # training finished: the run folder is complete
    assert not (run_dir / "metrics.json").exists()
    assert not (tmp_path / "export").exists()
    assert temporaries(tmp_path) == []
    assert "evaluation" in err and str(run_dir.relative_to(tmp_path)) in err

    # The printed commands finish this run: evaluate it, then export it.
    commands = finish_with(err, "Finish with:")
    relative = str(run_dir.relative_to(tmp_path))
    assert commands == [["genkit", "evaluate", relative], ["genkit", "export", relative]]
    monkeypatch.chdir(tmp_path)
    for command in commands:
        assert genkit(command) == 0
    assert json.loads((run_dir / "metrics.json").read_text())["metrics"]["neg_log_likelihood"] > 0
    assert (tmp_path / "export" / "manifest.json").is_file()


# --------------------------------------------------------------------------- export
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny VAE run, evaluated and exported (to export/)."""
    folder = tmp_path_factory.mktemp("exported")
    path = write_spec(folder, {**EVALUATED, "evaluate": {"samples": 64}})
    here = Path.cwd()
    os.chdir(folder)
    try:
        assert main(["run", str(path)]) == 0
    finally:
        os.chdir(here)
    (run_dir,) = run_folders(folder / "runs")
    return folder, run_dir


@pytest.mark.parametrize("command", ["run", "export"])
def test_ctrl_c_in_export_exits_130_leaves_the_export_folder_untouched_and_says_how_to_finish(command, exported, tmp_path, monkeypatch):
    folder, first_run = exported
    before = digest(folder / "export")
    metrics = (first_run / "metrics.json").read_bytes()
    target = str(first_run.relative_to(folder)) if command == "export" else "spec.yaml"
    process = genkit_process(folder, command, target, sigint_ignored=True, hook=CTRL_C_BEFORE_THE_EXPORT_SWAP)
    _, err = process.communicate(timeout=300)
    assert_clean_interrupt(process, err)
    assert "export" in err and "untouched" in err
    assert digest(folder / "export") == before  # the previous export, exactly
    assert temporaries(folder) == []  # no .export.tmp-* (nor .metrics.json.tmp-*) left
    assert (first_run / "metrics.json").read_bytes() == metrics

    # The run folder is usable: the printed command exports it.
    run_dir = first_run if command == "export" else next(r for r in run_folders(folder / "runs") if r != first_run)
    assert json.loads((run_dir / "metrics.json").read_text())["name"] == EVALUATED["name"]
    (finish,) = finish_with(err, "Export again with:")
    assert finish == ["genkit", "export", str(run_dir.relative_to(folder))]
    monkeypatch.chdir(folder)
    assert genkit(finish) == 0
    manifest = json.loads((folder / "export" / "manifest.json").read_text())
    assert manifest["genkit_export"]["run"].endswith(run_dir.name)
    assert temporaries(folder) == []


# --------------------------------------------------------------------------- --resume RUN_FOLDER
def test_resume_takes_a_run_folder_and_still_the_spec_form(tmp_path, monkeypatch, capsys):
    path = write_spec(tmp_path, tiny_spec("vae", **{"train.sample_every": 0, "train.steps_per_epoch": 2}))
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(path), "--set", "runs_dir=other runs"]) == 0
    (run_dir,) = run_folders(tmp_path / "other runs")
    folder = str(run_dir.relative_to(tmp_path))
    # The folder's stored spec (runs_dir included) is used; --set may still extend train.epochs.
    assert main(["train", "--resume", folder, "--set", "train.epochs=2"]) == 0
    assert "resuming other runs/" in capsys.readouterr().out
    assert main(["train", "--resume", str(path), "--set", "runs_dir=other runs", "--set", "train.epochs=3"]) == 0
    assert run_folders(tmp_path / "other runs") == [run_dir] and not (tmp_path / "runs").exists()
    with open(run_dir / "history.csv") as f:
        assert [int(row.split(",")[0]) for row in f.read().splitlines()[1:]] == [0, 1, 2]
    capsys.readouterr()
    for args in (["--resume", folder, str(path)], ["--resume", str(tmp_path / "other runs")], []):
        assert main(["run", *args]) == 2
        assert "--resume" in capsys.readouterr().err


# --------------------------------------------------------------------------- interrupted_phase itself
def test_an_exception_that_follows_a_ctrl_c_is_the_interrupt():
    """TensorFlow's C++ can turn the KeyboardInterrupt into another exception (seen: SystemError,
    ValueError from tf.data); after a SIGINT any exception is the interrupt, with the message."""
    from genkit.train.interrupt import PhaseInterrupted, interrupted_phase

    with pytest.raises(PhaseInterrupted, match="evaluate again"):
        with interrupted_phase("evaluate again"):
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            except KeyboardInterrupt:
                raise ValueError("Argument `structure` is a scalar") from None
    with pytest.raises(ValueError, match="a real error"):  # no SIGINT: errors stay errors
        with interrupted_phase("evaluate again"):
            raise ValueError("a real error")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
