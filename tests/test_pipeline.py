"""Pipelines: every spec checked before training, each run trained/evaluated/exported, one report."""

import csv
import importlib
import re
from pathlib import Path

import pytest
import yaml
from tiny import tiny_spec

from genkit.errors import GenkitError, SpecError
from genkit.pipeline import PipelineFailed, is_pipeline_file, load_pipeline, run_pipeline

REPO = Path(__file__).resolve().parents[1]


def write_yaml(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working folder holding two tiny specs (runs/, exports/ and reports/ land here)."""
    monkeypatch.chdir(tmp_path)
    write_yaml(tmp_path / "specs" / "ae.yaml", tiny_spec("autoencoder", **{"data.limit": 256}))
    write_yaml(tmp_path / "specs" / "vae.yaml", tiny_spec("vae", **{"data.limit": 256}))
    return tmp_path


def two_runs(project, **extra) -> Path:
    pipeline = {
        "pipeline": "tiny",
        "description": "Two tiny specs.",
        "runs": [{"spec": "../specs/ae.yaml", "name": "ae"}, {"spec": "../specs/vae.yaml"}],
        "set": ["train.epochs=2"],  # two points make a loss curve
        **extra,
    }
    return write_yaml(project / "pipelines" / "tiny.yaml", pipeline)


def written_under(project) -> list:
    return [p for folder in ("runs", "reports", "exports") for p in (project / folder).rglob("*")]


# --------------------------------------------------------------------------- a whole pipeline
def test_pipeline_trains_evaluates_exports_each_run_and_writes_one_report(project):
    report_dir = run_pipeline(two_runs(project))

    assert report_dir == Path("reports/tiny")
    for label in ("ae", "tiny_vae"):  # the second run is labelled by its spec's name
        assert (project / "exports" / "tiny" / label / "manifest.json").is_file()
    with open(report_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["run"] for r in rows] == ["ae", "tiny_vae"]
    assert [r["status"] for r in rows] == ["ok", "ok"]
    for column in ("loss", "reconstruction", "mse_per_pixel", "export_parity_max_abs_diff", "train_seconds"):
        assert all(r[column] for r in rows), column
    assert rows[1]["neg_elbo"] and not rows[0]["neg_elbo"]  # only the VAE has an ELBO
    assert float(rows[0]["export_parity_max_abs_diff"]) <= 1e-4

    markdown = (report_dir / "report.md").read_text()
    table = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + 2  # header + one row per run
    assert "MSE / pixel" in table[0] and "−ELBO" in table[0] and "export parity" in table[0]
    links = re.findall(r"\]\((images/[^)]+)\)", markdown)
    assert len(links) == 4  # a sample grid and a loss curve per run
    assert all((report_dir / link).is_file() for link in links)

    page = (report_dir / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 4
    assert not re.search(r"(src|href)=\"(?!data:|#)", page)  # nothing loaded from elsewhere
    assert "http://" not in page and "https://" not in page and "<link" not in page


def test_reuse_keeps_finished_runs_of_the_same_spec_and_trains_the_changed_one(project, capsys):
    path = two_runs(project)
    run_pipeline(path)
    first = sorted((project / "runs").glob("*/*/model.weights.h5"))
    capsys.readouterr()

    spec = yaml.safe_load((project / "specs" / "vae.yaml").read_text())
    spec["seed"] = 4  # the VAE's spec changes; the autoencoder's does not
    write_yaml(project / "specs" / "vae.yaml", spec)
    run_pipeline(path, reuse=True)
    out = capsys.readouterr().out
    second = sorted((project / "runs").glob("*/*/model.weights.h5"))

    assert out.count("reused ") == 1 and "runs/tiny_autoencoder" in out.split("reused ")[1].splitlines()[0]
    assert len(second) == len(first) + 1  # only the VAE trained again
    with open(project / "reports" / "tiny" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["ok", "ok"] and all(r["train_seconds"] for r in rows)


# --------------------------------------------------------------------------- checked before training
def test_every_problem_of_the_pipeline_and_its_specs_is_reported_before_any_training(project):
    bad = tiny_spec("vae")
    bad["model"]["latent_dimm"] = 3
    write_yaml(project / "specs" / "bad.yaml", bad)
    path = write_yaml(
        project / "pipelines" / "broken.yaml",
        {
            "pipeline": "broken",
            "runs": [
                {"spec": "../specs/ae.yaml", "nmae": "x"},
                {"spec": "../specs/vea.yaml"},
                {"spec": "../specs/bad.yaml"},
                {"spec": "../specs/vae.yaml", "set": ["train.epochs=many"]},
            ],
        },
    )
    with pytest.raises(SpecError) as caught:
        run_pipeline(path)
    message = str(caught.value)
    assert re.search(r"broken\.yaml:\d+ runs\[0\]\.nmae: unknown key 'nmae'\. Did you mean 'name'\?", message)
    assert re.search(r"broken\.yaml:\d+ runs\[1\]\.spec: '\.\./specs/vea\.yaml' does not exist .* Did you mean '\.\./specs/vae\.yaml'", message)
    assert re.search(r"bad\.yaml:\d+ model\.latent_dimm: unknown key 'latent_dimm'\. Did you mean 'latent_dim'\?", message)
    assert re.search(r"broken\.yaml:\d+ \(set train\.epochs=many\) train\.epochs: got 'many'", message)
    assert written_under(project) == []


def test_two_runs_with_one_label_are_refused(project):
    path = two_runs(project, runs=[{"spec": "../specs/vae.yaml"}, {"spec": "../specs/vae.yaml", "set": ["train.epochs=2"]}])
    with pytest.raises(SpecError, match=r"tiny\.yaml:\d+ runs\[1\]: the label 'tiny_vae' is already used by runs\[0\]"):
        load_pipeline(path, build=False)


def test_overrides_apply_pipeline_then_run_then_command_line(project):
    path = two_runs(project, set=["train.epochs=2", "seed=5"])
    data = yaml.safe_load(path.read_text())
    data["runs"][0]["set"] = ["train.epochs=3", "seed=6"]
    write_yaml(path, data)
    ae, vae = load_pipeline(path, ["seed=7"], build=False).runs
    assert (ae.loaded.spec.train.epochs, ae.loaded.spec.seed) == (3, 7)
    assert (vae.loaded.spec.train.epochs, vae.loaded.spec.seed) == (2, 7)
    assert ae.export_dir == Path("exports/tiny/ae")


def test_a_spec_that_sets_export_dir_exports_there(project):
    spec = tiny_spec("autoencoder", **{"export.dir": "mine"})
    write_yaml(project / "specs" / "ae.yaml", spec)
    ae, _ = load_pipeline(two_runs(project), build=False).runs
    assert ae.export_dir == Path("mine")


def test_pipeline_paths_stay_inside_the_project_unless_allowed(project, monkeypatch):
    monkeypatch.delenv("GENKIT_ALLOW_OUTSIDE_PATHS", raising=False)
    path = two_runs(project, set=["runs_dir=/tmp/elsewhere"])
    with pytest.raises(SpecError, match=r"tiny\.yaml:\d+ set\[0\]: '/tmp/elsewhere' resolves to .*outside the project folder"):
        load_pipeline(path, build=False)
    assert load_pipeline(path, build=False, allow_outside_paths=True).runs


def test_pipeline_files_are_told_from_specs(project):
    assert is_pipeline_file(two_runs(project))
    assert not is_pipeline_file(project / "specs" / "ae.yaml")
    assert not is_pipeline_file(project / "missing.yaml")


@pytest.mark.parametrize("name", ["smoke", "mnist_zoo"])
def test_shipped_pipelines_are_valid(name, monkeypatch):
    monkeypatch.chdir(REPO)
    pipeline = load_pipeline(REPO / "pipelines" / f"{name}.yaml", build=False)
    assert pipeline.name == name and len(pipeline.runs) >= 7


# --------------------------------------------------------------------------- a failing run
def test_a_run_that_fails_is_reported_and_the_others_still_run(project, monkeypatch):
    train_stage = importlib.import_module("genkit.train")  # the package: `genkit.train` is the API's function
    real_train = train_stage.train

    def train_or_fail(loaded, **kwargs):
        if loaded.spec.name == "tiny_autoencoder":
            raise GenkitError("training diverged: the weights hold NaN or Inf.")
        return real_train(loaded, **kwargs)

    monkeypatch.setattr(train_stage, "train", train_or_fail)
    with pytest.raises(PipelineFailed, match=r"1 of 2 pipeline runs failed: ae \(at train: training diverged") as caught:
        run_pipeline(two_runs(project))

    report_dir = caught.value.report_dir
    assert caught.value.failed == [("ae", "train", "training diverged: the weights hold NaN or Inf.")]
    with open(report_dir / "metrics.csv", newline="") as f:
        rows = {r["run"]: r for r in csv.DictReader(f)}
    assert rows["ae"]["status"] == "failed" and rows["ae"]["failed_stage"] == "train"
    assert "diverged" in rows["ae"]["error"] and rows["ae"]["loss"] == ""
    assert rows["tiny_vae"]["status"] == "ok" and rows["tiny_vae"]["neg_elbo"]
    markdown = (report_dir / "report.md").read_text()
    assert "failed at train" in markdown and "training diverged" in markdown
    assert (project / "exports" / "tiny" / "tiny_vae" / "manifest.json").is_file()
    assert not (project / "exports" / "tiny" / "ae").exists()
