"""Sweeps: a pipeline's one run as trials over --set paths, each in its own process, resumed after a kill, ranked."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_pipeline import write_yaml
from tiny import tiny_spec

import genkit.pipeline.sweep as sweep_module
from genkit.errors import GenkitError, SpecError
from genkit.pipeline import PipelineFailed, load_pipeline, run_pipeline
from genkit.pipeline.schema import Sweep
from genkit.pipeline.sweep_journal import Journal, Trial
from genkit.pipeline.sweep_plan import override_text, planned_trials
from genkit.spec import parse_override

REPO = Path(__file__).resolve().parents[1]
PARAMS = {"loss.kl_weight": [0.5, 1.0, 2.0], "model.latent_dim": [2, 4]}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_yaml(tmp_path / "specs" / "vae.yaml", tiny_spec("vae", **{"data.limit": 256, "evaluate.samples": 32}))
    return tmp_path


def sweep_file(project, sweep, runs=None, name="sw") -> Path:
    data = {
        "pipeline": name,
        "runs": runs or [{"spec": "../specs/vae.yaml"}],
        "set": ["train.steps_per_epoch=2"],
        "sweep": {"metric": "neg_elbo", **sweep},
    }
    return write_yaml(project / "pipelines" / f"{name}.yaml", data)


# --------------------------------------------------------------------------- checked before any training
@pytest.mark.parametrize(
    "sweep, runs, expected",
    [
        (
            {"method": "grd", "params": PARAMS},
            None,
            r"sw\.yaml:\d+ sweep\.method: got 'grd'; expected one of grid, random, optuna\. Did you mean 'grid'\?",
        ),
        ({"method": "grid", "params": {}}, None, r"sw\.yaml:\d+ sweep\.params: .*at least 1 item"),
        (
            {"method": "grid", "params": {"model.latent_dim": []}},
            None,
            r"sw\.yaml:\d+ sweep\.params\.model\.latent_dim: got \[\]; .*at least 1 item",
        ),
        (
            {"method": "random", "trials": 3, "params": {"model.latent_dim": {"low": 2, "hgh": 8}}},
            None,
            r"sw\.yaml:\d+ sweep\.params\.model\.latent_dim\.hgh: unknown key 'hgh'\. Did you mean 'high'\?",
        ),
        (
            {"method": "grid", "trials": 4, "params": PARAMS},
            None,
            r"sw\.yaml:\d+ sweep: .*method grid runs every combination .* takes no trials",
        ),
        ({"method": "random", "params": PARAMS}, None, r"sw\.yaml:\d+ sweep: .*method random needs trials"),
        (
            {"method": "grid", "params": {"model.latent_dim": {"low": 2, "high": 8}}},
            None,
            r"sweep: .*method grid needs a list of values",
        ),
        (
            {"method": "random", "trials": 2, "params": {"loss.kl_weight": {"low": 0, "high": 1, "log": True}}},
            None,
            r"low must be > 0",
        ),
        (
            {"method": "grid", "params": PARAMS},
            [{"spec": "../specs/vae.yaml"}, {"spec": "../specs/vae.yaml", "name": "b"}],
            r"sw\.yaml:\d+ sweep: a sweep varies one run, and this pipeline has 2",
        ),
    ],
)
def test_a_bad_sweep_section_is_refused_with_its_line(project, sweep, runs, expected):
    with pytest.raises(SpecError, match=expected):
        load_pipeline(sweep_file(project, sweep, runs), build=False)


def test_each_param_path_and_value_is_checked_against_the_spec_at_its_line(project):
    path = sweep_file(project, {"method": "grid", "params": {"loss.kl_wieght": [0.5], "model.latent_dim": [2, -4]}})
    with pytest.raises(SpecError) as caught:
        load_pipeline(path, build=False)
    message = str(caught.value)
    lines = path.read_text().splitlines()
    kl_line = next(i for i, line in enumerate(lines, 1) if "loss.kl_wieght" in line)
    assert re.search(
        rf"sw\.yaml:{kl_line} \(set loss\.kl_wieght=0\.5\) loss\.kl_wieght: unknown key 'kl_wieght'\. Did you mean 'kl_weight'\?",
        message,
    )
    assert re.search(r"sw\.yaml:\d+ \(set model\.latent_dim=-4\) model\.latent_dim: got -4", message)
    assert not (project / "runs").exists() and not (project / "reports").exists()


def test_the_shipped_sweep_is_valid_and_has_six_trials(monkeypatch):
    monkeypatch.chdir(REPO)
    pipeline = load_pipeline(REPO / "pipelines" / "sweep_vae.yaml", build=False)
    trials = planned_trials(pipeline.sweep)
    assert len(trials) == 6 and {tuple(t) for t in trials} == {("loss.kl_weight", "model.latent_dim")}


def test_validate_says_what_a_sweep_will_run(monkeypatch, capsys):
    from genkit.cli import main

    monkeypatch.chdir(REPO)
    assert main(["validate", "pipelines/sweep_vae.yaml"]) == 0
    said = capsys.readouterr().out.strip().splitlines()[-1]
    assert said == "pipelines/sweep_vae.yaml: valid grid sweep of 6 trials over loss.kl_weight, model.latent_dim, ranked by neg_elbo (minimize)"


# --------------------------------------------------------------------------- the trials
def test_grid_is_the_product_of_the_values_in_order():
    sweep = Sweep(method="grid", params=PARAMS, metric="neg_elbo")
    trials = planned_trials(sweep)
    assert trials == [{"loss.kl_weight": k, "model.latent_dim": d} for k in (0.5, 1.0, 2.0) for d in (2, 4)]


def test_random_draws_follow_the_seed_and_stay_in_range():
    params = {
        "loss.kl_weight": {"low": 0.1, "high": 10, "log": True},
        "model.latent_dim": {"low": 2, "high": 16, "int": True},
        "seed": [1, 2, 3],
    }
    one = planned_trials(Sweep(method="random", trials=8, params=params, metric="m", seed=7))
    assert one == planned_trials(Sweep(method="random", trials=8, params=params, metric="m", seed=7))
    assert one != planned_trials(Sweep(method="random", trials=8, params=params, metric="m", seed=8))
    # A larger budget keeps the trials already drawn: a study can grow after it ran.
    assert planned_trials(Sweep(method="random", trials=12, params=params, metric="m", seed=7))[:8] == one
    assert all(
        0.1 <= t["loss.kl_weight"] <= 10 and t["model.latent_dim"] in range(2, 17) and t["seed"] in (1, 2, 3)
        for t in one
    )
    assert all(isinstance(t["model.latent_dim"], int) for t in one)


@pytest.mark.parametrize("value", [0.5, 3, True, "bce", [1, 2], None])
def test_a_trial_value_reads_back_through_set_as_itself(value):
    assert parse_override(override_text("a.b", value)) == (("a", "b"), value)


def test_a_journal_of_another_study_is_refused_and_a_running_trial_is_run_again(tmp_path):
    journal = Journal(tmp_path / "journal.json", "abc", "grid")
    journal.put(Trial(0, {"x": 1}, status="ok", value=1.0))
    journal.put(Trial(1, {"x": 2}))  # running when the sweep was killed
    again = Journal.open(tmp_path / "journal.json", "abc", "grid", "p.yaml")
    assert [t.number for t in again.mark_interrupted()] == [1]
    assert again.finished() == 1 and again.is_finished(0) and not again.is_finished(1)
    with pytest.raises(GenkitError, match=r"p\.yaml: its sweep or its spec .* changed since the study"):
        Journal.open(tmp_path / "journal.json", "other", "grid", "p.yaml")


# --------------------------------------------------------------------------- studies with quick stand-in trials
@pytest.fixture
def fake_trials(monkeypatch):
    """Trials run tests/sweep_fake_trial.py (no TensorFlow, ~0.3 s): metric 10 * kl_weight + latent_dim."""
    monkeypatch.setattr(sweep_module, "TRIAL_MODULE", "sweep_fake_trial")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))


def read_csv(path: Path) -> list:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_optuna_study_resumes_after_a_cut_off_trial_and_runs_it_again(project, fake_trials, monkeypatch):
    import optuna

    kl = {"low": 0.1, "high": 2.0, "log": True}
    path = sweep_file(
        project,
        {"method": "optuna", "trials": 5, "seed": 1, "params": {"loss.kl_weight": kl, "model.latent_dim": [2, 4, 8]}},
    )
    real = sweep_module._TrialRunner._record_result
    seen = []

    def cut_off_the_third(trial, tdir, code, metric):
        seen.append(trial.number)
        if len(seen) == 3:
            raise KeyboardInterrupt  # the trial's process ended, the sweep was stopped before it recorded it
        real(trial, tdir, code, metric)

    monkeypatch.setattr(sweep_module._TrialRunner, "_record_result", staticmethod(cut_off_the_third))
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(path)
    folder = project / "runs" / "sweeps" / "sw"
    before = json.loads((folder / "journal.json").read_text())["trials"]
    assert [t["status"] for t in before] == ["ok", "ok", "running"]
    stamps = [(folder / f"t{n:03d}" / "result.json").stat().st_mtime_ns for n in (0, 1)]

    monkeypatch.setattr(sweep_module._TrialRunner, "_record_result", staticmethod(real))
    run_pipeline(path)
    trials = json.loads((folder / "journal.json").read_text())["trials"]
    assert [t["number"] for t in trials] == list(range(5)) and all(t["status"] == "ok" for t in trials)
    assert trials[2]["params"] == before[2]["params"]  # the cut-off trial ran again with its values
    assert [(folder / f"t{n:03d}" / "result.json").stat().st_mtime_ns for n in (0, 1)] == stamps
    for t in trials:
        assert 0.1 <= t["params"]["loss.kl_weight"] <= 2.0 and t["params"]["model.latent_dim"] in (2, 4, 8)
        assert t["value"] == pytest.approx(10 * t["params"]["loss.kl_weight"] + t["params"]["model.latent_dim"])

    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(folder / "optuna.journal")))
    states = [t.state.name for t in optuna.load_study(study_name="sw", storage=storage).trials]
    assert sorted(states) == ["COMPLETE"] * 5 + ["FAIL"]  # the cut-off attempt, then its rerun
    values = [float(r["neg_elbo"]) for r in read_csv(project / "reports" / "sw" / "sweep.csv")]
    assert values == sorted(values) and len(values) == 5


def test_a_trial_whose_process_dies_is_listed_with_its_reason_and_the_rest_are_ranked(project, fake_trials):
    path = sweep_file(project, {"method": "grid", "params": {"loss.kl_weight": [1.0, 0.5], "model.latent_dim": [2, 3]}})
    report = run_pipeline(path)
    rows = read_csv(report / "sweep.csv")
    assert [(r["rank"], r["trial"], r["status"]) for r in rows] == [
        ("1", "t002", "ok"),
        ("2", "t000", "ok"),
        ("", "t001", "failed"),
        ("", "t003", "failed"),
    ]
    assert all("killed by signal 9" in r["error"] and r["failed_stage"] == "process" for r in rows[2:])
    markdown = (report / "report.md").read_text()
    assert re.search(
        r"^\|  \| t001 \| 1\.0 \| 3 \| – \| .* \| failed at process: the trial's process was killed by signal 9",
        markdown,
        re.MULTILINE,
    )


def test_a_sweep_fails_only_when_no_trial_finished_ok(project, fake_trials):
    path = sweep_file(project, {"method": "grid", "params": {"model.latent_dim": [3]}})
    with pytest.raises(PipelineFailed, match=r"1 of 1 pipeline runs failed: t000 \(at process"):
        run_pipeline(path)


def test_maximize_ranks_the_largest_first(project, fake_trials):
    path = sweep_file(
        project,
        {
            "method": "random",
            "trials": 4,
            "seed": 3,
            "metric": "loss",
            "direction": "maximize",
            "params": {"loss.kl_weight": {"low": 0.1, "high": 1.0}, "model.latent_dim": [2, 4]},
        },
    )
    values = [float(r["loss"]) for r in read_csv(run_pipeline(path) / "sweep.csv")]
    assert values == sorted(values, reverse=True) and len(values) == 4


# --------------------------------------------------------------------------- killed, resumed, ranked
def finished_trials(journal: Path) -> list:
    try:
        return [t for t in json.loads(journal.read_text())["trials"] if t["status"] in ("ok", "failed")]
    except (OSError, ValueError, KeyError):
        return []


@pytest.mark.slow  # six trials, each a process that imports TensorFlow: ~2-3 minutes on 2 cores
def test_a_sweep_killed_midway_resumes_without_rerunning_finished_trials_and_ranks_them(project):
    path = sweep_file(project, {"method": "grid", "params": PARAMS})
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    command = [sys.executable, "-m", "genkit.cli", "run", str(path.relative_to(project))]
    journal = project / "runs" / "sweeps" / "sw" / "journal.json"

    with open(project / "first.log", "w") as log:
        first = subprocess.Popen(
            command, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.time() + 300
        while len(finished_trials(journal)) < 2 and first.poll() is None and time.time() < deadline:
            time.sleep(0.5)
        assert first.poll() is None, (project / "first.log").read_text()[-3000:]
        os.killpg(first.pid, signal.SIGKILL)  # the sweep and its running trial, with no time to tidy up
        first.wait()
    kept = {t["number"]: t for t in finished_trials(journal)}
    assert 2 <= len(kept) < 6
    stamps = {n: (Path(t["run_dir"]) / "metrics.json").stat().st_mtime_ns for n, t in kept.items()}

    second = subprocess.run(command, check=False, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"resuming the study in runs/sweeps/sw: {len(kept)} of 6 trials finished" in second.stdout

    trials = json.loads(journal.read_text())["trials"]
    assert [t["number"] for t in trials] == list(range(6)) and all(t["status"] == "ok" for t in trials)
    assert [t["params"] for t in trials] == planned_trials(Sweep(method="grid", params=PARAMS, metric="neg_elbo"))
    for n, t in kept.items():  # finished trials were not run again
        assert trials[n]["run_dir"] == t["run_dir"]
        assert (Path(t["run_dir"]) / "metrics.json").stat().st_mtime_ns == stamps[n]
        assert len(list((project / "runs" / "sweeps" / "sw" / f"t{n:03d}" / "tiny_vae").iterdir())) == 1
    assert second.stdout.count("[trial t") == 2 * (6 - len(kept))  # a start and an end line per trial run now

    with open(project / "reports" / "sw" / "sweep.csv", newline="") as f:
        ranking = list(csv.DictReader(f))
    values = [float(r["neg_elbo"]) for r in ranking]
    assert [r["rank"] for r in ranking] == [str(i) for i in range(1, 7)] and values == sorted(values)
    by_trial = {t["number"]: t for t in trials}
    for r in ranking:  # each row's params and metric are its trial's
        t = by_trial[int(r["trial"][1:])]
        assert (float(r["loss.kl_weight"]), int(r["model.latent_dim"])) == tuple(t["params"].values())
        assert float(r["neg_elbo"]) == pytest.approx(t["value"])
    markdown = (project / "reports" / "sw" / "report.md").read_text()
    assert "## Sweep ranking" in markdown and "best first: smallest neg_elbo" in markdown
    best = ranking[0]["trial"]
    assert re.search(rf"^\| 1 \| {best} \| ", markdown, re.MULTILINE)
