"""benchmarks/quality.py: the twins are plain Keras, and the harness scores both sides end to end."""

import ast
import importlib
import json
import math
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def quality():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("quality")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_twins_import_no_genkit_module():
    tree = ast.parse((BENCHMARKS / "quality_twins.py").read_text())
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert "keras" in imported
    assert not [m for m in imported if m.split(".")[0] in ("genkit", "_ratio", "train_overhead")]


def test_a_twin_goes_back_to_the_weights_of_an_earlier_time(quality):
    twin = quality.quality_twins.build("cvae", (28, 28, 1), 10, seed=0)
    x = np.random.default_rng(0).random((256, 28, 28, 1)).astype("float32")
    y = np.arange(256) % 10
    first = twin.fit_for(x, y, 0.0)  # one step, and the tracing
    assert first["steps"] == 1 and not twin.snapshots
    trained = twin.fit_for(x, y, 1.0, snapshot_every=0.05)  # training goes on from there
    assert len(twin.snapshots) >= 2 and trained["steps"] > 2 and trained["train_seconds"] > first["train_seconds"] + 1
    at, steps, weights = twin.snapshots[0]
    back = twin.match(at + 1e-6, lambda s: pytest.fail("no training needed"))
    assert back == {"train_seconds": at, "steps": steps} and first["train_seconds"] < at < trained["train_seconds"]
    assert all(np.array_equal(a, b) for a, b in zip(twin.get_weights(), weights))
    # A later time than trained: the twin trains on for the missing seconds.
    more = twin.match(trained["train_seconds"] + 0.5, lambda s: {"asked": s})
    assert more["asked"] == pytest.approx(0.5)


def test_harness_scores_genkit_and_the_twin_at_equal_wall_time(quality, tmp_path, capsys):
    # A tiny (untrained) classifier as the feature extractor keeps the test from training genkit's CNN.
    classifier = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="relu", name="features"),
            keras.layers.Dense(10),
        ]
    )
    classifier.save(tmp_path / "tiny.keras")
    out = tmp_path / "quality.json"
    rows = quality.main(
        [
            "--only",
            "cvae",
            "--max-minutes",
            "0.01",
            "--n",
            "100",
            "--set",
            f"evaluate.feature_extractor={tmp_path / 'tiny.keras'}",
            "--scratch",
            str(tmp_path / "scratch"),
            "--out",
            str(out),
        ]
    )
    (row,) = rows
    assert row["family"] == "cvae" and row["order"] == "genkit, twin"
    for side in ("genkit", "twin"):
        scores = row[side]
        assert scores["n"] == 100 and scores["reference"] == 1000  # the offline test split
        assert math.isfinite(scores["fid"]) and scores["fid"] >= 0
        assert 0 <= scores["class_accuracy"] <= 1 and 0 < scores["mode_coverage"] <= 1
    # The twin trains at least as long as genkit did (it stops at the first step past the budget).
    assert row["twin"]["train_seconds"] >= row["genkit"]["train_seconds"] > 0 and row["twin"]["steps"] >= 1
    assert Path(row["genkit"]["export"], "manifest.json").is_file()
    assert json.loads(out.read_text())[0]["genkit"]["fid"] == row["genkit"]["fid"]
    printed = capsys.readouterr().out
    genkit_line = next(line for line in printed.splitlines() if line.startswith("| cvae | cvae_mnist (genkit)"))
    assert f"{row['genkit']['fid']:.1f}" in genkit_line and f"{row['genkit']['class_accuracy']:.3f}" in genkit_line
    assert "keras.io twin" in printed and "load average before genkit" in printed


def test_sampler_sweep_reads_settings_and_refuses_bad_ones():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        sweep = importlib.import_module("sampler_sweep")
    finally:
        sys.path.remove(str(BENCHMARKS))
    assert sweep.parse_setting("dpmpp_2m_sde:15:g1.5:i0-600") == {
        "sampler": "dpmpp_2m_sde",
        "steps": 15,
        "guidance_scale": 1.5,
        "guidance_interval": (0, 600),
    }
    assert sweep.parse_setting("ddim:50:e0") == {"sampler": "ddim", "steps": 50, "eta": 0.0}
    for bad in ("ddim", "ddim:fifty", "ddim:50:x3"):
        with pytest.raises(SystemExit, match="setting"):
            sweep.parse_setting(bad)


def test_the_ddpm_twin_warms_its_ema_up_so_a_short_run_samples_its_trained_weights(quality):
    # keras.io's fixed 0.999 kept ~45% of the initial weights after a CPU's ~800 steps (every
    # sample one class); with tf.train.ExponentialMovingAverage's warm-up update n uses decay
    # min(0.999, (1 + n) / (10 + n)), so the average is mostly the trained weights from the start.
    twin = quality.quality_twins.build("ddpm_cond", (8, 8, 1), 2, seed=0)
    twin.compile_twin()
    x = np.random.default_rng(0).uniform(-1, 1, (64, 8, 8, 1)).astype("float32")
    one_hot = np.eye(2, dtype="float32")[np.arange(64) % 2]
    twin.train_step((x, one_hot))  # the zero-initialised output conv lets only itself learn here
    initial = [w.numpy() for w in twin.ema_network.weights]
    twin.train_step((x, one_hot))
    decay = 3 / 12
    moved = 0
    for before, average, trained in zip(initial, twin.ema_network.weights, twin.network.weights):
        np.testing.assert_allclose(average.numpy(), decay * before + (1 - decay) * trained.numpy(), atol=1e-6)
        moved += not np.allclose(before, trained.numpy())
    assert moved > 10  # the step changed the network, so the check above compares something
