"""The ddpm family: spec rules, Algorithm 1 training with EMA, sampling, export and TF-free sampling."""

import copy
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from genkit.errors import GenkitError, SpecError
from genkit.schedules import q_sample
from genkit.spec import validate_dict
from genkit.train import build_for_check, prepare
from tiny import tiny_ddpm_spec, tiny_spec

REPO = Path(__file__).resolve().parents[1]


def with_changes(spec: dict, changes: dict) -> dict:
    spec = copy.deepcopy(spec)
    for key, value in changes.items():
        node = spec
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return spec


# --------------------------------------------------------------------------- spec rules
@pytest.mark.parametrize(
    "base, changes, path, match",
    [
        ("ddpm", {"model.diffusion": None}, ("model", "diffusion"), "needs its noise schedule"),
        ("vae", {"model.diffusion": {"timesteps": 10}}, ("model", "diffusion"), "applies to diffusion families"),
        ("vae", {"sample": {"steps": 10}}, ("sample",), "applies to diffusion families"),
        ("ddpm", {"data.range": [0, 1]}, ("data", "range"), r"works on data in \[-1, 1\]"),
        (
            "ddpm",
            {"model.diffusion.schedule": "cosine", "model.diffusion.beta_end": 0.01},
            ("model", "diffusion", "beta_end"),
            "linear schedule, not cosine",
        ),
        ("ddpm", {"model.diffusion.beta_start": 0.03}, ("model", "diffusion", "beta_end"), "must exceed beta_start"),
        ("ddpm", {"sample.steps": 101}, ("sample", "steps"), "has 100 timesteps"),
        ("ddpm", {"sample.sampler": "ancestral", "sample.eta": 0.5}, ("sample", "eta"), "applies to sampler ddim"),
        ("ddpm", {"sample.variance": "posterior"}, ("sample", "variance"), "applies to sampler ancestral"),
        ("ddpm", {"sample.sampler": "dpmpp_2m", "sample.eta": 0.5}, ("sample", "eta"), "ddim, not dpmpp_2m"),
        ("ddpm", {"sample.guidance_scale": 3.0}, ("sample", "guidance_scale"), "conditional models"),
        ("ddpm", {"model.diffusion.label_dropout": 0.2}, ("model", "diffusion", "label_dropout"), "conditional models"),
        ("ddpm_cond", {"model.diffusion.label_dropout": 0.0}, ("sample", "guidance_scale"), "never trains"),
        ("ddpm", {"sample.guidance_interval": [0, 50]}, ("sample", "guidance_interval"), "conditional models"),
        ("ddpm_cond", {"sample.guidance_interval": [20, 100]}, ("sample", "guidance_interval"), "model's last is 99"),
        ("ddpm_cond", {"sample.guidance_interval": [60, 20]}, ("sample", "guidance_interval"), "low <= high"),
        ("ddpm_cond", {"sample.guidance_interval": [10]}, ("sample", "guidance_interval"), "2 items"),
        ("ddpm_cond", {"sample.guidance_interval": [10, True]}, ("sample", "guidance_interval"), "valid integer"),
        (
            "ddpm_cond",
            {"sample.guidance_scale": 1.0, "sample.guidance_interval": [0, 50]},
            ("sample", "guidance_interval"),
            "applies when sample.guidance_scale is not 1",
        ),
        ("ddpm_cond", {"data.labels": False}, ("data", "labels"), "needs labelled data"),
        ("ddpm", {"model.diffusion.schedule": "cosin"}, ("model", "diffusion", "schedule"), "Did you mean 'cosine'"),
    ],
)
def test_diffusion_rules_name_the_field_and_the_fix(base, changes, path, match):
    spec = tiny_ddpm_spec(conditional=True) if base == "ddpm_cond" else tiny_spec(base)
    with pytest.raises(SpecError) as info:
        validate_dict(with_changes(spec, changes))
    found = [p for p in info.value.problems if p.path[: len(path)] == path]
    assert found, str(info.value)
    assert any(re.search(match, p.format()) for p in found), str(info.value)


def test_a_denoiser_written_as_a_layer_list_or_without_t_is_refused_with_the_fix():
    spec = tiny_ddpm_spec(
        **{"model.networks.denoiser": {"layers": [{"Conv2D": {"filters": 1, "kernel_size": 3, "padding": "same"}}]}}
    )
    with pytest.raises(SpecError, match="so it is a graph"):
        build_for_check(validate_dict(spec))
    spec = tiny_ddpm_spec()
    spec["model"]["networks"]["denoiser"]["inputs"] = {"x": [28, 28, 1]}
    with pytest.raises(SpecError, match=r"Declare 'inputs' named t, x"):
        build_for_check(validate_dict(spec))


# --------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def cond():
    """The conditional tiny DDPM (embedding labels, guidance 2, EMA 0.9), trained 3 steps."""
    prep = prepare(validate_dict(tiny_ddpm_spec(conditional=True)), quiet=True)
    batches = list(prep.data.train_dataset(32, shuffle=False).take(3))
    for batch in batches:
        prep.model.train_step(batch)
    return prep


def test_a_train_step_moves_the_weights_and_the_ema_follows_with_its_warm_up_decay():
    prep = prepare(validate_dict(tiny_ddpm_spec()), quiet=True)
    model = prep.model
    batch = next(iter(prep.data.train_dataset(32, shuffle=False)))
    before, ema_before = model.denoiser.get_weights(), model.ema.network.get_weights()
    logs = model.train_step(batch)
    after, ema_after = model.denoiser.get_weights(), model.ema.network.get_weights()
    assert max(float(np.abs(a - b).max()) for a, b in zip(after, before)) > 1e-5
    decay = min(0.9, 2 / 11)  # (1 + n) / (10 + n) after the first update, n = 1
    for old, new, avg in zip(ema_before, after, ema_after):
        np.testing.assert_allclose(avg, decay * old + (1 - decay) * new, atol=1e-6)
    assert {"loss", "loss_t0_25", "loss_t25_50", "loss_t50_75", "loss_t75_100"} <= set(logs)
    assert all(np.isfinite(float(v)) for v in logs.values())


def test_loss_falls_on_a_fixed_batch_for_v_prediction_and_the_cosine_schedule():
    spec = tiny_ddpm_spec(
        **{
            "model.diffusion.prediction": "v",
            "model.diffusion.schedule": "cosine",
            "train.optimizer": {"learning_rate": 3e-3},
        }
    )
    prep = prepare(validate_dict(spec), quiet=True)
    import tensorflow as tf

    batch = next(iter(prep.data.train_dataset(32, shuffle=False)))
    step = tf.function(prep.model.train_step)  # traced once: 40 eager steps take ten times longer
    losses = [float(step(batch)["loss"]) for _ in range(40)]
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:5])


def test_a_conditional_checkpoint_loads_back_with_its_optimizer_slots(cond, tmp_path):
    from genkit.train.checkpoint import load_with_optimizer

    batch = next(iter(cond.data.train_dataset(cond.spec.data.batch_size, shuffle=False)))
    cond.model.train_step(batch)
    path = tmp_path / "model.weights.h5"
    cond.model.save_weights(path)
    twin = prepare(cond.spec, quiet=True).model
    load_with_optimizer(twin, path)  # the label embedding's slots stay where train_step put them
    for a, b in zip(cond.model.optimizer.variables, twin.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_the_family_forward_process_is_the_schedule_s(cond):
    model = cond.model
    x0 = np.random.default_rng(0).uniform(-1, 1, (5, 28, 28, 1)).astype("float32")
    eps = np.random.default_rng(1).standard_normal(x0.shape).astype("float32")
    t = np.array([0, 10, 50, 90, 99])
    x_t, target = (np.asarray(a) for a in model.forward(x0, t, eps))
    np.testing.assert_allclose(x_t, q_sample(model.schedule, x0, t, eps), atol=1e-6)
    np.testing.assert_array_equal(target, eps)


def test_label_dropout_replaces_about_that_share_of_labels_with_the_null_class(cond):
    y = np.random.default_rng(0).integers(0, 10, 20000).astype("int32")
    dropped = np.asarray(cond.model.drop_labels(y))
    changed = dropped != y
    assert np.all(dropped[changed] == 10) and cond.model.null_class == 10
    assert changed.mean() == pytest.approx(0.1, abs=0.01)


def test_the_onehot_null_class_is_the_zero_vector():
    spec = tiny_ddpm_spec(conditional=True, **{"model.condition": {"num_classes": 10, "encoding": "onehot"}})
    spec["model"]["networks"]["denoiser"]["inputs"]["y"] = [10]
    spec["model"]["networks"]["denoiser"]["graph"][1] = {"id": "emb", "layer": "Concatenate", "from": ["temb", "y"]}
    model = build_for_check(validate_dict(spec))
    embed = model.denoiser.get_layer("label_embedding")
    np.testing.assert_array_equal(np.asarray(embed(np.array([10, 3], "int32")))[0], np.zeros(10))


def test_samples_lie_in_the_data_range_and_the_preview_has_a_row_per_class(cond):
    x = cond.model.sample(3, labels=[1, 2, 3], seed=0)
    assert x.shape == (3, 28, 28, 1) and x.min() >= -1 and x.max() <= 1
    images, cols, rows = cond.model.preview(None)
    assert images.shape == (80, 28, 28, 1) and cols == 8 and rows[7] == "label 7"


# --------------------------------------------------------------------------- export and runtime
@pytest.fixture(scope="module")
def exported(cond, tmp_path_factory):
    from genkit.export.from_run import export_run

    out = tmp_path_factory.mktemp("ddpm") / "export"
    return out, export_run(cond, out)


def test_the_ema_denoiser_exports_with_x_t_y_and_the_schedule_in_the_manifest(cond, exported):
    out, manifest = exported
    net = manifest["networks"]["denoiser"]
    assert [i["name"] for i in net["inputs"]] == ["x", "t", "y"] and net["outputs"][0]["name"] == "epsilon"
    assert net["parity_max_abs_diff"] <= 1e-4
    d = manifest["diffusion"]
    assert (d["schedule"], d["timesteps"], d["null_class"], d["ema"]) == ("linear", 100, 10, True)
    assert d["sample"] == {
        "sampler": "ddim",
        "steps": 5,
        "eta": 0.0,
        "variance": "beta",
        "clip_denoised": True,
        "guidance_scale": 2.0,
        "guidance_interval": None,
    }
    np.testing.assert_allclose(d["alphas_cumprod"], cond.model.schedule.alphas_cumprod)
    card = (out / "README.md").read_text()
    assert (out / "samples.png").is_file() and "predicting epsilon over 100 linear noise levels" in card
    assert 'feeds[s["time_input"]]' in card or 's["time_input"]: np.full' in card


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"sampler": "ancestral", "steps": 20},
        {"guidance_scale": 1.0, "steps": 3},
        {"sampler": "dpmpp_2m", "steps": 4},
        {"sampler": "heun", "steps": 3},
        {"sampler": "dpmpp_2m_sde", "steps": 4},
        {"guidance_interval": (40, 80)},
    ],
)
def test_onnxruntime_sampling_loop_matches_the_keras_one(cond, exported, options):
    from genkit.runtime import Sampler

    labels = np.array([0, 3, 7, 9], "int32")
    onnx_x, y = Sampler(exported[0]).sample(4, labels=labels, seed=5, **options)
    keras_x = cond.model.sample(4, labels=labels, seed=5, **options)
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(onnx_x, keras_x, atol=2e-3)


def test_runtime_refuses_settings_the_export_cannot_take(exported):
    from genkit.runtime import Sampler

    sampler = Sampler(exported[0])
    with pytest.raises(GenkitError, match=r"steps must be an integer in \[1, 100\]"):
        sampler.sample(2, steps=500)
    with pytest.raises(GenkitError, match="eta applies to the ddim sampler"):
        sampler.sample(2, sampler="ancestral", eta=0.5)
    with pytest.raises(GenkitError, match="eta applies to the ddim sampler, not dpmpp_2m"):
        sampler.sample(2, sampler="dpmpp_2m", eta=0.5)
    with pytest.raises(GenkitError, match=r"guidance_interval must be two timesteps \[low, high\] with 0 <= low <= high <= 99"):
        sampler.sample(2, guidance_interval=(80, 200))
    with pytest.raises(GenkitError, match="guidance_interval applies when guidance_scale is not 1"):
        sampler.sample(2, guidance_scale=1.0, guidance_interval=(0, 50))
    with pytest.raises(GenkitError, match="no latent code"):
        sampler.decode(np.zeros((1, 4), "float32"))


def test_genkit_sample_runs_the_loop_without_tensorflow(exported, tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        from genkit.cli import main
        code = main(["sample", {str(exported[0])!r}, "--n", "10", "--label", "7", "--steps", "4", "--guidance-interval", "20", "80", "--out", {str(tmp_path / "sevens.png")!r}])
        leaked = [m for m in ("tensorflow", "keras", "tf2onnx", "onnx") if m in sys.modules]
        assert code == 0 and not leaked, (code, leaked)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "GENKIT_PROVIDER"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "label 7" in done.stdout and "ddim 4 steps" in done.stderr and "4/4" in done.stderr
    assert (tmp_path / "sevens.png").is_file()


@pytest.mark.slow
def test_genkit_run_trains_evaluates_exports_and_samples_an_unconditional_ddpm(tmp_path):
    import yaml

    from genkit.cli import main
    from genkit.runtime import Sampler

    spec = tiny_ddpm_spec(**{"runs_dir": str(tmp_path / "runs"), "export.dir": str(tmp_path / "export")})
    path = tmp_path / "ddpm.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path)]) == 0
    run = next((tmp_path / "runs" / "tiny_ddpm").iterdir())
    assert (run / "samples" / "epoch_001.png").is_file() and (run / "networks" / "denoiser_ema.keras").is_file()
    assert "loss_t75_100" in (run / "history.csv").read_text()
    x, y = Sampler(tmp_path / "export").sample(6, seed=1)
    assert x.shape == (6, 28, 28, 1) and y is None
