"""The Python API (`genkit.load_spec`, `train`, `open_run`, `Run`, `load_export`) on a tiny CVAE."""

import contextlib
import json
import importlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from tiny import tiny_spec

import genkit

REPO = Path(__file__).resolve().parents[1]


def write_spec(folder: Path, **overrides) -> Path:
    spec = tiny_spec("cvae", **overrides)
    spec["runs_dir"] = str(folder / "runs")
    spec["export"] = {"dir": str(folder / "export")}
    path = folder / "cvae.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny CVAE trained, evaluated and exported through `genkit.train` (2 epochs, quiet)."""
    folder = tmp_path_factory.mktemp("api")
    path = write_spec(folder)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run = genkit.train(path, overrides=["train.epochs=2"], quiet=True)
    return folder, path, run, printed.getvalue()


def test_import_genkit_loads_neither_tensorflow_nor_keras():
    code = "import sys, genkit; print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'tf2onnx', 'onnxruntime'}))"
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_genkit_train_stays_the_function_after_the_train_package_is_imported():
    package = importlib.import_module("genkit.train")
    assert callable(genkit.train) and genkit.train is genkit.api.train
    assert package.prepare is not None  # the stage package itself is still importable by name
    assert set(genkit.__all__) >= {"load_spec", "train", "open_run", "load_export", "Run", "SpecError"}


def test_train_returns_a_run_with_history_metrics_and_an_export(trained):
    folder, _, run, printed = trained
    assert printed == ""  # quiet=True: no data summary, epoch lines or metrics table
    assert run.folder.parent == folder / "runs" / "tiny_cvae" and (run.folder / "model.weights.h5").is_file()
    assert run.spec.train.epochs == 2  # the override applied
    assert [row["epoch"] for row in run.history] == [0, 1]
    assert all(np.isfinite(row["loss"]) and "val_loss" in row for row in run.history)
    assert run.metrics["neg_elbo"] > 0 and 0.0 <= run.metrics["class_accuracy"] <= 1.0
    assert run.export_dir == folder / "export" and (run.export_dir / "manifest.json").is_file()


def test_open_run_reads_the_folder_and_evaluates_and_exports_as_the_commands_do(trained, tmp_path, capsys):
    _, _, run, _ = trained
    again = genkit.open_run(run.folder)
    assert again.spec == run.spec and again.history == run.history and again.metrics == run.metrics
    metrics = again.evaluate()
    assert metrics == again.metrics and metrics["neg_elbo"] > 0
    assert again.export(tmp_path / "copy") == tmp_path / "copy"
    out = capsys.readouterr().out
    assert "metrics of tiny_cvae" in out and "metrics written to" in out and f"to {tmp_path / 'copy'}" in out
    assert (tmp_path / "copy" / "manifest.json").is_file()


def test_export_never_silently_replaces_a_folder_that_is_not_its_export(trained, tmp_path):
    _, _, run, _ = trained
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    with pytest.raises(genkit.GenkitError, match="taken"):
        run.export(taken)
    assert (taken / "notes.txt").read_text() == "mine" and not (taken / "manifest.json").exists()


def test_a_finished_run_takes_export_and_evaluate_overrides_and_refuses_the_rest(trained, tmp_path, capsys):
    from genkit.cli import main

    folder, path, run, _ = trained
    out = tmp_path / "int8"
    assert main(["export", str(run.folder), "--set", "export.onnx.quantize=dynamic_int8", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["quantize"]["mode"] == "dynamic_int8"  # applied, not silently ignored
    with pytest.raises(genkit.SpecError, match=r"model\.latent_dim=4: a finished run keeps the spec it was trained with"):
        genkit.open_run(run.folder, overrides=["model.latent_dim=4"])
    capsys.readouterr()
    assert main(["export", str(path), "--set", "model.latent_dim=4", "--out", str(tmp_path / "no")]) == 2
    assert "only evaluate.* and export.* settings apply" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_open_run_of_a_folder_that_is_not_a_run_says_so(tmp_path):
    with pytest.raises(genkit.GenkitError, match="not a genkit run folder"):
        genkit.open_run(tmp_path)


def test_load_export_samples_deterministically_by_seed_and_label(trained):
    _, _, run, _ = trained
    sampler = genkit.load_export(run.export_dir)
    x, y = sampler.sample(4, seed=0)
    assert x.shape == (4, 28, 28, 1) and x.dtype == np.float32 and y.tolist() == [0, 1, 2, 3]
    assert np.array_equal(x, sampler.sample(4, seed=0)[0])
    assert not np.array_equal(x, sampler.sample(4, seed=1)[0])
    threes, labels = sampler.sample(4, labels=3, seed=0)
    assert (labels == 3).all()
    z = sampler.encode(threes, labels)
    assert z.shape == (4, 4) and sampler.decode(z, labels).shape == (4, 28, 28, 1)


def test_train_resumes_a_run_folder_and_trains_a_spec_mapping(trained, tmp_path):
    _, path, run, _ = trained
    # A copy of the run, so the shared one stays at 2 epochs for the other tests.
    copy = tmp_path / run.folder.name
    shutil.copytree(run.folder, copy)
    resumed = genkit.train(resume=copy, overrides=["train.epochs=3"], quiet=True, evaluate=False, export=False)
    assert resumed.folder == copy and [row["epoch"] for row in resumed.history] == [0, 1, 2]
    assert resumed.metrics == run.metrics  # metrics.json as it was: evaluate=False

    mapping = yaml.safe_load(path.read_text())
    mapping["runs_dir"] = str(tmp_path / "runs")
    fresh = genkit.train(mapping, quiet=True, evaluate=False, export=False)
    assert fresh.folder.parent == tmp_path / "runs" / "tiny_cvae" and fresh.metrics is None and fresh.export_dir is None


@pytest.mark.parametrize(
    ("override", "field"),
    [("model.latent_dimm=3", "model.latent_dimm"), ("train.epochs=0", "train.epochs"), ("data.batch_size=many", "data.batch_size")],
)
def test_a_bad_override_is_a_spec_error_naming_the_field(tmp_path, override, field):
    path = write_spec(tmp_path)
    with pytest.raises(genkit.SpecError, match=field.replace(".", r"\.")):
        genkit.load_spec(path, [override])
    with pytest.raises(genkit.SpecError, match=field.replace(".", r"\.")):
        genkit.train(path, overrides=override)  # one string is one override
    assert not (tmp_path / "runs").exists()


def test_a_missing_spec_file_is_a_spec_error(tmp_path):
    with pytest.raises(genkit.SpecError, match="does not exist"):
        genkit.load_spec(tmp_path / "missing.yaml")


def test_load_spec_returns_the_validated_spec(tmp_path):
    spec = genkit.load_spec(write_spec(tmp_path), ["model.latent_dim=6"])
    assert spec.model.family == "cvae" and spec.model.latent_dim == 6 and spec.train.epochs == 1


def test_allow_spec_change_without_resume_is_refused(tmp_path):
    with pytest.raises(genkit.GenkitError, match="allow_spec_change"):
        genkit.train(write_spec(tmp_path), allow_spec_change=True)
