"""The family contract: every registered card passes the same checks (Keras's `run_layer_test` is the model).

A family is built from its own starter spec (what `genkit new FAMILY` writes), shrunk to a few
seconds of training, and must then:
- build, with every role of its card and a line saying what it adds;
- lower its objective on a fixed batch (families with one objective), or update every network
  with finite, named logs (two-player games, whose losses need not fall);
- round-trip its weights through save/load;
- resume exactly: N epochs + resume + M epochs gives the weights of N + M uninterrupted epochs;
- export to ONNX within its parity tolerance, and sample (or translate) with onnxruntime only,
  in a process that never imports TensorFlow, at the manifest's shapes and value range.
A new family gets all of it by registering its card.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from genkit.cli import main
from genkit.spec import validate_dict
from genkit.spec.card import card, family_names
from genkit.train import prepare
from tests.tiny import contract_spec

FAMILIES = family_names()
ROOT = Path(__file__).resolve().parents[1]


def weights(path: Path) -> dict:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda key, item: out.__setitem__(key, np.asarray(item)) if isinstance(item, h5py.Dataset) else None)
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_builds_from_its_starter_with_every_role(family):
    prep = prepare(validate_dict(contract_spec(family)), quiet=True)
    networks = prep.model.networks()
    assert set(card(family).roles) <= set(networks)
    assert set(prep.model.describe()) <= set(networks)
    # The card's logs are the model's first trackers (a family may add more, e.g. DDPM's loss per timestep range).
    assert [t.name for t in prep.model.metrics][: len(card(family).logs)] == list(card(family).logs)


@pytest.mark.parametrize("family", FAMILIES)
def test_train_steps_on_a_fixed_batch(family):
    declared = card(family)
    raw = contract_spec(family)
    raw["train"]["optimizer"] = {**raw["train"].get("optimizer", {}), "learning_rate": 3e-3}
    if declared.optimizers == "per_role":
        raw["train"].pop("optimizer")
    prep = prepare(validate_dict(raw), quiet=True)
    model = prep.model
    batch = next(iter(prep.data.train_dataset(prep.spec.data.batch_size, shuffle=False)))
    before = {role: [np.array(w) for w in net.trainable_weights] for role, net in model.networks().items() if role in declared.roles}
    logs = [model.train_step(batch) for _ in range(25 if declared.optimizers == "one" else 1)]
    assert set(logs[-1]) & set(declared.logs), sorted(logs[-1])
    assert all(np.isfinite(float(np.mean(v))) for v in logs[-1].values())
    if declared.optimizers == "one":
        first, last = float(logs[0]["loss"]), float(logs[-1]["loss"])
        assert last < 0.9 * first, f"{family}: loss {first:.3f} -> {last:.3f}"
    else:
        for role, old in before.items():
            new = model.networks()[role].trainable_weights
            assert any(not np.array_equal(a, np.array(b)) for a, b in zip(old, new)), f"{role} was not updated"


@pytest.mark.parametrize("family", FAMILIES)
def test_weights_round_trip_through_save_and_load(family, tmp_path):
    spec = validate_dict(contract_spec(family))
    prep = prepare(spec, quiet=True)
    model = prep.model
    batch = next(iter(prep.data.train_dataset(spec.data.batch_size, shuffle=False)))
    model.train_step(batch)  # moved away from the initialisation a fresh build would give
    path = tmp_path / "model.weights.h5"
    model.save_weights(path)
    twin = prepare(spec, quiet=True).model
    twin.load_weights(path)
    for role, net in model.networks().items():
        for a, b in zip(net.weights, twin.networks()[role].weights, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"{role}/{a.path}")


@pytest.mark.parametrize("family", FAMILIES)
def test_networks_round_trip_through_keras_saving(family, tmp_path):
    import keras
    import tensorflow as tf

    prep = prepare(validate_dict(contract_spec(family)), quiet=True)
    rng = np.random.default_rng(0)
    for role, net in prep.model.networks().items():
        path = tmp_path / f"{role}.keras"
        net.save(path)
        loaded = keras.saving.load_model(path)
        inputs = [rng.random((3, *i.shape[1:])).astype(i.dtype) if i.dtype != "int32" else np.array([1, 2, 3], "int32") for i in net.inputs]
        inputs = inputs if len(inputs) > 1 else inputs[0]
        for a, b in zip(tf.nest.flatten(net(inputs)), tf.nest.flatten(loaded(inputs))):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6, err_msg=role)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """family -> (folder, run folder) of a 2-epoch run through the CLI, trained once for the tests below."""
    runs = {}

    def get(family):
        if family not in runs:
            folder = tmp_path_factory.mktemp(f"whole_{family}")
            path = folder / "spec.yaml"
            path.write_text(yaml.safe_dump(contract_spec(family), sort_keys=False))
            with _chdir(folder):
                assert main(["train", str(path)]) == 0
            (run_dir,) = (folder / "runs" / f"contract_{family}").iterdir()
            runs[family] = (folder, run_dir)
        return runs[family]

    return get


class _chdir:
    def __init__(self, folder):
        self.folder, self.old = folder, None

    def __enter__(self):
        import os

        self.old = os.getcwd()
        os.chdir(self.folder)

    def __exit__(self, *exc):
        import os

        os.chdir(self.old)


@pytest.mark.parametrize("family", FAMILIES)
def test_resume_continues_to_the_uninterrupted_weights(family, trained, tmp_path):
    _, whole = trained(family)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(contract_spec(family, epochs=1), sort_keys=False))
    with _chdir(tmp_path):
        assert main(["train", str(path)]) == 0
        assert main(["train", str(path), "--resume", "--set", "train.epochs=2"]) == 0
    (halves,) = (tmp_path / "runs" / f"contract_{family}").iterdir()
    a, b = weights(whole / "model.weights.h5"), weights(halves / "model.weights.h5")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


SAMPLE_CHECK = """
import json, sys
import numpy as np
from genkit.runtime import Sampler
model = Sampler(sys.argv[1])
if model.directions:
    shape = model.image_shape
    x = np.random.default_rng(0).uniform(*model.value_range, size=(3, *shape)).astype("float32")
    out = {d: model.translate(x, d) for d in model.directions}
else:
    out = {"sample": model.sample(3, seed=0)[0]}
print(json.dumps({
    "tensorflow": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")),
    "shapes": {k: list(v.shape) for k, v in out.items()},
    "ranges": {k: [float(v.min()), float(v.max())] for k, v in out.items()},
}))
"""


@pytest.mark.parametrize("family", FAMILIES)
def test_exports_within_parity_and_samples_with_onnxruntime_only(family, trained):
    folder, run_dir = trained(family)
    out = folder / "export"
    with _chdir(folder):
        assert main(["export", str(run_dir), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["networks"]) <= set(card(family).export.networks)
    for name, entry in manifest["networks"].items():
        assert entry["parity_max_abs_diff"] <= entry["parity_tolerance"], name
    result = subprocess.run([sys.executable, "-c", SAMPLE_CHECK, str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["tensorflow"] == []
    low, high = manifest["data"]["range"]
    for key, shape in facts["shapes"].items():
        assert shape == [3, *manifest["data"]["shape"]], key
        lo, hi = facts["ranges"][key]
        assert low - 1e-5 <= lo and hi <= high + 1e-5, (key, lo, hi)

