"""Scale: tf.distribute strategies, mixed precision, XLA and data streamed from shards.

The strategy checks need two logical CPU devices or a TF_CONFIG cluster, which TensorFlow
fixes when it starts, so they run in fresh processes (`tests/distribute_checks.py`).
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genkit.data import load_data
from genkit.data.shards import write_npz_shards, write_tfrecord_shards
from genkit.errors import SpecError
from genkit.spec import validate_dict
from genkit.spec.data_section import DataSpec
from genkit.train.distribute import check_global_batch
from tests.tiny import GAN_LOSSES, LOSSES, tiny_spec

ROOT = Path(__file__).resolve().parents[1]


def run_check(*args, env=None, timeout=240):
    """Run a check of tests/distribute_checks.py in a fresh process; its last stdout line as JSON."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.distribute_checks", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- strategies
@pytest.mark.parametrize("family", ["vae", "wgan"])
def test_mirrored_on_two_devices_trains_like_one_device(family):
    result = run_check("mirrored_matches_one_device", family)
    assert result["replicas"] == [1, 2]
    assert result["moved"] > 1e-4  # the steps changed the weights, so equal weights mean equal updates
    assert result["max_abs_diff"] <= 1e-4 * max(result["scale"], 1.0), result
    for name, (one, two) in result["losses"].items():
        if not name.endswith("grad_norm"):  # logged per replica, averaged: not the norm of the summed gradient
            assert two == pytest.approx(one, rel=1e-4, abs=1e-5), name


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_finish_with_the_same_weights_and_only_the_chief_writes_runs(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        command = [sys.executable, "-m", "tests.distribute_checks", "multi_worker", str(tmp_path / "runs"), str(tmp_path / f"w{index}.npz")]
        workers.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [w.communicate(timeout=300) for w in workers]
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-3000:]
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert [r["chief"] for r in reports] == [True, False]
    runs = list((tmp_path / "runs" / "tiny_vae").iterdir())
    assert [str(r) for r in runs] == [reports[0]["run_dir"]]  # one run folder: the chief's
    assert not Path(reports[1]["run_dir"]).exists()  # the other worker's folder is gone
    with np.load(tmp_path / "w0.npz") as a, np.load(tmp_path / "w1.npz") as b:
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize(
    "tf_config, expected",
    [(None, "not set"), ("{not json", "not JSON"), ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "ps", "index": 0}}', "'type'")],
)
def test_multi_worker_without_a_usable_tf_config_is_a_spec_error(tf_config, expected):
    from genkit.train.distribute import _check_tf_config

    with pytest.raises(SpecError, match=expected) as err:
        _check_tf_config(tf_config)
    assert err.value.problems[0].path == ("train", "distribute")


def test_a_global_batch_that_replicas_cannot_share_evenly_names_data_batch_size():
    check_global_batch(32, 2, 2)
    with pytest.raises(SpecError, match="multiple of 4") as err:
        check_global_batch(34, 2, 2)
    assert err.value.problems[0].path == ("data", "batch_size")


# --------------------------------------------------------------------------- precision and XLA
@pytest.mark.parametrize("family", ["vae", "gan"])
def test_mixed_precision_trains_with_finite_float32_losses(family):
    logs = run_check("mixed_precision_step", family)
    assert logs.pop("compute_dtype") == "float16"
    assert logs and all(np.isfinite(v) for v in logs.values()), logs


def test_xla_under_op_determinism_is_a_spec_error():
    with pytest.raises(SpecError, match="train.jit_compile"):
        validate_dict(tiny_spec("vae", **{"train.jit_compile": True, "train.deterministic": True}))


def test_every_family_trains_a_step_with_xla():
    families = sorted([*LOSSES, *GAN_LOSSES, "ddpm"])
    logs = run_check("xla_steps", *families, timeout=400)
    assert set(logs) == set(families)
    assert all(np.isfinite(v) for v in logs.values()), logs


# --------------------------------------------------------------------------- streamed data
def _digits(n=50):
    """n 6x6 images whose first pixel is the example's index, and labels index mod 5."""
    x = np.random.default_rng(0).integers(0, 256, (n, 6, 6), dtype=np.uint8)
    x[:, 0, 0] = np.arange(n)
    return x, np.arange(n) % 5


@pytest.fixture(params=["npz_shards", "tfrecord"])
def shards(request, tmp_path):
    x, y = _digits()
    write = write_npz_shards if request.param == "npz_shards" else write_tfrecord_shards
    write(tmp_path / "train", x, y, per_shard=12)
    write(tmp_path / "val", x[:7], y[:7], per_shard=7)
    write(tmp_path / "test", x[:10], y[:10], per_shard=5)
    return DataSpec(
        source=request.param,
        path=str(tmp_path / "train-*"),
        val_path=str(tmp_path / "val-*"),
        test_path=str(tmp_path / "test-*"),
        labels=True,
        shuffle_buffer=8,
    )


def _epoch(batches):
    ids, labels = [], []
    for x, y in batches:
        ids += np.rint(x.numpy()[:, 0, 0, 0] * 255).astype(int).tolist()
        labels += y.numpy().tolist()
    return ids, labels


def test_a_streamed_epoch_reads_every_shard_example_once_shuffled_with_its_label(shards):
    data = load_data(shards, seed=0)
    assert (data.n_train, data.shape, data.num_classes) == (50, (6, 6, 1), 5)
    assert (len(data.x_val), len(data.x_test)) == (7, 10)
    batches = data.train_dataset(8, seed=1)
    first, labels = _epoch(batches)
    second, _ = _epoch(batches)
    assert sorted(first) == list(range(50)) and sorted(second) == list(range(50))
    assert first != list(range(50)) and second != first  # shuffled, and differently every epoch
    assert labels == [i % 5 for i in first]


def test_a_limit_streams_the_first_examples_in_shard_order(shards):
    data = load_data(shards.model_copy(update={"limit": 20}), seed=0)
    ids, _ = _epoch(data.train_dataset(8, seed=1))
    assert data.n_train == 20 and len(ids) == 20 and len(set(ids)) == 20


@pytest.mark.parametrize("field", ["path", "test_path", "val_path"])
def test_a_glob_that_matches_nothing_names_its_field(shards, field):
    with pytest.raises(SpecError) as err:
        load_data(shards.model_copy(update={field: "/nowhere/shard-*"}), seed=0)
    assert err.value.problems[0].path == ("data", field)
    assert "matches no files" in str(err.value)


def test_streamed_sources_refuse_in_memory_options_and_need_test_shards():
    raw = tiny_spec("vae", **{"data.source": "npz_shards", "data.path": "train-*.npz", "data.validation_split": 0.2})
    with pytest.raises(SpecError) as err:
        validate_dict(raw)
    paths = {p.path for p in err.value.problems}
    assert {("data", "validation_split"), ("data", "test_path")} <= paths


def test_a_tiny_vae_trains_from_streamed_shards(tmp_path):
    from genkit.train import prepare

    x, y = _digits(64)
    big = np.repeat(np.repeat(x[:, :, :], 5, axis=1), 5, axis=2)[:, :28, :28]  # (64, 28, 28)
    write_npz_shards(tmp_path / "train", big, y, per_shard=20)
    write_npz_shards(tmp_path / "test", big[:16], y[:16], per_shard=16)
    raw = tiny_spec("vae", **{"data": {"source": "npz_shards", "path": str(tmp_path / "train-*.npz"), "test_path": str(tmp_path / "test-*.npz"), "batch_size": 16}})
    prep = prepare(validate_dict(raw), quiet=True)
    assert prep.steps_per_epoch == 4
    logs = prep.model.fit(prep.data.train_dataset(16, seed=3), epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][-1])
