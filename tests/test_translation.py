"""Image-to-image translation (pix2pix, cyclegan): losses, history pool, two-domain data, rules, end to end."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from genkit.cli import main
from genkit.data import load_data
from genkit.data.translation import degrade_resolution, dilate
from genkit.errors import GenkitError, SpecError
from genkit.losses import least_squares_discriminator_loss, least_squares_generator_loss, mean_absolute_error
from genkit.modeling.image_pool import ImagePool
from genkit.modeling.steps import optimizer_variables
from genkit.spec import validate_dict
from genkit.spec.card import card
from genkit.spec.data_section import DataSpec
from genkit.train import prepare
from tiny import tiny_translation_spec

REPO = Path(__file__).resolve().parents[1]


def value(tensor) -> float:
    return float(keras.ops.convert_to_numpy(tensor))


def build(family, **overrides):
    return prepare(validate_dict(tiny_translation_spec(family, **overrides)), quiet=True)


def first_batch(prep):
    return next(iter(prep.data.train_dataset(prep.spec.data.batch_size, shuffle=False)))


def players(model):
    """role -> the network that role's optimizer updates."""
    return {role: model.networks()[role] for role in card(model.family).roles}


def weights(network):
    return [np.array(w) for w in network.trainable_weights]


def problems(spec_dict):
    with pytest.raises(SpecError) as info:
        validate_dict(spec_dict)
    return info.value.problems


# --------------------------------------------------------------------------- losses
def test_least_squares_losses_match_hand_computed_values():
    real = np.array([[[[1.0], [0.5]]], [[[0.0], [2.0]]]])  # (2, 1, 2, 1): two images of two patch scores
    fake = np.array([[[[0.0], [1.0]]], [[[-1.0], [0.5]]]])
    # ½·mean((D(x) − 1)²) + ½·mean(D(G)²) over every patch
    real_term = (0.0 + 0.25 + 1.0 + 1.0) / 4
    fake_term = (0.0 + 1.0 + 1.0 + 0.25) / 4
    assert value(least_squares_discriminator_loss(real, fake)) == pytest.approx(0.5 * real_term + 0.5 * fake_term)
    # mean((D(G) − 1)²)
    assert value(least_squares_generator_loss(fake)) == pytest.approx((1.0 + 0.0 + 4.0 + 0.25) / 4)
    assert value(least_squares_discriminator_loss(np.ones(3), np.zeros(3))) == 0.0  # the perfect discriminator


def test_l1_and_cycle_terms_are_means_over_pixels():
    target = np.array([[[[0.0], [1.0]], [[0.5], [0.5]]]])  # (1, 2, 2, 1)
    output = np.array([[[[0.5], [1.0]], [[0.0], [1.5]]]])
    assert value(mean_absolute_error(target, output)) == pytest.approx((0.5 + 0.0 + 0.5 + 1.0) / 4)
    assert value(mean_absolute_error(target, target)) == 0.0


def test_cyclegan_generator_loss_adds_the_weighted_terms():
    prep = build("cyclegan", **{"loss.cycle_weight": 3.0, "loss.identity_ratio": 0.5})
    model = prep.model
    a, b = first_batch(prep)
    terms, _, _ = model._generator_terms(a, b, training=False)
    expected = terms["adversarial_ab"] + terms["adversarial_ba"] + 3.0 * (terms["cycle_a"] + terms["cycle_b"])
    expected += 1.5 * (terms["identity_a"] + terms["identity_b"])
    assert value(model._generator_loss(terms)) == pytest.approx(value(expected), rel=1e-6)
    fake_b = model.generator_ab(a, training=False)
    np.testing.assert_allclose(value(terms["cycle_a"]), np.mean(np.abs(np.asarray(model.generator_ba(fake_b)) - np.asarray(a))), rtol=1e-5)


# --------------------------------------------------------------------------- train steps
@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_a_train_step_moves_every_network_and_logs_finite_losses(family):
    prep = build(family)
    model, batch = prep.model, first_batch(prep)
    before = {role: weights(net) for role, net in players(model).items()}
    logs = [model.train_step(batch) for _ in range(2)][-1]
    for role, net in players(model).items():
        assert any(not np.allclose(a, b) for a, b in zip(before[role], weights(net))), role
    assert all(int(optimizer.iterations) == 2 for optimizer, _ in optimizer_variables(model, card(family)))
    assert all(np.isfinite(float(v)) for v in logs.values())
    if family == "pix2pix":
        assert {"d_loss", "g_loss", "g_adversarial", "l1", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"} <= set(logs)
        assert float(logs["g_loss"]) == pytest.approx(float(logs["g_adversarial"]) + 100.0 * float(logs["l1"]), rel=1e-5)
    else:
        assert {"g_loss", "adversarial_ab", "adversarial_ba", "cycle_a", "cycle_b", "cycle_error", "identity_a", "identity_b",
                "d_a_loss", "d_b_loss", "generator_ab_grad_norm", "discriminator_b_grad_norm"} <= set(logs)
    assert set(card(family).loss_networks) <= set(card(family).logs)


def test_pix2pix_l1_term_pulls_the_generator_to_the_targets():
    prep = build("pix2pix", **{"train.optimizers": {"generator": {"learning_rate": 3e-3}}})
    batch = first_batch(prep)
    logs = [prep.model.train_step(batch) for _ in range(25)]
    assert float(logs[-1]["l1"]) < 0.75 * float(logs[0]["l1"])


def test_pix2pix_weight_average_translates_and_exports():
    prep = build("pix2pix", **{"train.ema": 0.9})
    model = prep.model
    model.train_step(first_batch(prep))
    plan = model.export_plan(prep.data.x_train)
    networks, facts = plan.networks, plan.facts(list(plan.networks))
    assert networks["generator"] is model.ema_network and model.sampling_network is model.ema_network
    assert facts["translation"] == {"ab": {"network": "generator", "input": "x", "output": "y"}} and facts["sampling"] is None
    x = prep.data.x_val[:3]
    np.testing.assert_allclose(model.translate(x), model.ema_network.predict(x, verbose=0), atol=1e-6)


def test_the_history_pool_is_saved_with_the_weights(tmp_path):
    prep = build("cyclegan")
    prep.model.train_step(first_batch(prep))
    assert int(prep.model.pool_b.count) == 8  # pool_size 8, filled by the first batch of 28
    prep.model.save_weights(tmp_path / "model.weights.h5")
    fresh = build("cyclegan").model
    fresh.load_weights(tmp_path / "model.weights.h5")
    np.testing.assert_array_equal(np.asarray(fresh.pool_b.images), np.asarray(prep.model.pool_b.images))
    assert int(fresh.pool_b.count) == 8


# --------------------------------------------------------------------------- history pool
def test_the_pool_shows_new_images_while_it_fills():
    pool = ImagePool(5, (1, 1, 1), seed=0)
    out = np.asarray(pool.query(tf.constant([1.0, 2.0, 3.0])[:, None, None, None]))
    np.testing.assert_array_equal(out.ravel(), [1, 2, 3])
    out = np.asarray(pool.query(tf.constant([4.0, 5.0, 6.0])[:, None, None, None]))
    assert out.ravel()[:2].tolist() == [4, 5]  # the last two free slots take 4 and 5 as they are
    assert int(pool.count) == 5 and set(np.asarray(pool.images).ravel()[:5]) >= {1, 2, 3, 4, 5} - {out.ravel()[2]}


def test_a_full_pool_returns_a_stored_image_half_the_time_and_stores_the_new_one():
    pool = ImagePool(4, (1, 1, 1), seed=1)
    query = tf.function(pool.query)  # as in a compiled train step
    query(-tf.ones((4, 1, 1, 1)))  # full of -1
    swapped, n = 0, 0
    for step in range(300):
        new = float(step + 1)
        before = np.asarray(pool.images).ravel().copy()
        shown = float(np.asarray(query(tf.fill((1, 1, 1, 1), new))).ravel()[0])
        after = np.asarray(pool.images).ravel()
        (changed,) = np.flatnonzero(before != after) if shown != new else (None,)
        if shown != new:  # swapped: an old image is shown, and the new one takes its slot
            swapped += 1
            assert before[changed] == shown and after[changed] == new
        else:
            np.testing.assert_array_equal(before, after)
        n += 1
    assert 0.4 < swapped / n < 0.6
    assert ImagePool(0, (2, 2, 1)).query(tf.ones((3, 2, 2, 1))).shape == (3, 2, 2, 1)


# --------------------------------------------------------------------------- data
def test_derived_domains_match_hand_computed_images():
    x = np.zeros((1, 4, 4), np.uint8)
    x[0, 0, 0] = 255
    grown = dilate(x)
    assert grown[0, :2, :2].tolist() == [[255, 255], [255, 255]] and grown[0, 2:].sum() == 0
    small = degrade_resolution(x)  # 2x2 mean 0.25 in the corner block, then bilinear back
    assert small.shape == (1, 4, 4) and small[0, 0, 0] == pytest.approx(0.25) and small[0, 3, 3] == 0.0
    assert small.mean() == pytest.approx(x.mean() / 255.0)


def test_paired_data_stay_aligned_after_shuffling():
    data = load_data(DataSpec(source="mnist", limit=256, translation={"derive": "thicken"}), seed=0)
    assert data.paired and not data.labelled
    for a, b in data.train_dataset(32, shuffle=True, seed=4).take(3):
        np.testing.assert_array_equal(dilate(np.asarray(a)), np.asarray(b))  # each b is its own a, thickened
    first = np.asarray(next(iter(data.train_dataset(32, shuffle=True, seed=4)))[0])
    assert not np.array_equal(first, data.x_train[:32])  # it did shuffle


def test_unpaired_domains_come_from_disjoint_images_and_shuffle_apart():
    spec = DataSpec(source="mnist", translation={"pairing": "unpaired", "derive": "thicken"})
    data = load_data(spec, seed=0)
    paired = load_data(DataSpec(source="mnist", translation={"derive": "thicken"}), seed=0)
    pool = {a.tobytes() for a in np.concatenate([paired.x_train, paired.x_val])}
    thin_of_b = {a.tobytes() for a in np.concatenate([data.y_train, data.y_val])}
    # Every B image is the thickening of some digit, but never of a digit that A holds.
    a_set = {a.tobytes() for a in np.concatenate([data.x_train, data.x_val])}
    assert a_set <= pool and len(a_set) > 1000
    thick_of_a = {b.tobytes() for b in dilate(np.concatenate([data.x_train, data.x_val]))}
    assert not thick_of_a & thin_of_b
    a, b = next(iter(data.train_dataset(64, shuffle=True, seed=1)))
    assert a.shape == b.shape == (64, 28, 28, 1)
    assert not np.array_equal(np.asarray(a), data.x_train[:64]) and not np.array_equal(np.asarray(b), data.y_train[:64])
    assert len(data.x_val) == len(data.y_val) and len(data.x_test) == len(data.y_test)


def test_npz_and_folder_sources_read_both_domains(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (30, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "pairs.npz", x=x, y=255 - x)
    data = load_data(DataSpec(source="npz", path=str(tmp_path / "pairs.npz"), validation_split=0.0, translation={}), seed=0)
    np.testing.assert_allclose(data.x_train + data.y_train, 1.0, atol=1e-6)  # still pairs after the holdout
    assert len(data.x_test) == 3
    for name in ("trainA", "trainB"):
        (tmp_path / "images" / name).mkdir(parents=True)
    for i in range(12):
        Image.fromarray(x[i]).save(tmp_path / "images" / "trainA" / f"{i:02d}.png")
        Image.fromarray(255 - x[i]).save(tmp_path / "images" / "trainB" / f"{i:02d}.png")
    data = load_data(DataSpec(source="folder", path=str(tmp_path / "images"), validation_split=0.0, translation={}), seed=0)
    np.testing.assert_allclose(data.x_train + data.y_train, 1.0, atol=1e-6)
    Image.fromarray(x[12]).save(tmp_path / "images" / "trainA" / "lonely.png")
    with pytest.raises(SpecError, match=r"matched by file name; 1 in .*trainA without a partner \(lonely\)"):
        load_data(DataSpec(source="folder", path=str(tmp_path / "images"), translation={}), seed=0)
    assert load_data(DataSpec(source="folder", path=str(tmp_path / "images"), translation={"pairing": "unpaired"}), seed=0).x_train.shape[1:] == (8, 8, 1)


# --------------------------------------------------------------------------- rules
def test_rules_name_the_field_of_bad_translation_specs():
    spec = tiny_translation_spec("cyclegan")
    del spec["model"]["networks"]["discriminator_b"]
    (problem,) = problems(spec)
    assert problem.path == ("model", "networks") and "needs a network named 'discriminator_b'" in problem.message
    found = {p.path: p.message for p in problems(tiny_translation_spec("pix2pix", **{"data.translation.pairing": "unpaired"}))}
    assert "pix2pix learns from aligned pairs" in found[("data", "translation", "pairing")]
    assert "needs paired data" in found[("evaluate", "metrics")]  # its translation_l1 too
    with pytest.raises(SpecError, match=r"data.translation: the pix2pix family translates images of a domain A"):
        validate_dict(tiny_translation_spec("pix2pix", **{"data.translation": None}))
    with pytest.raises(SpecError, match=r"data.translation.derive: source 'mnist' holds one domain"):
        validate_dict(tiny_translation_spec("pix2pix", **{"data.translation": {"pairing": "paired"}}))
    with pytest.raises(SpecError, match=r"'translation_l1' compares G\(x\) with x's own target: it needs paired data"):
        validate_dict(tiny_translation_spec("cyclegan", **{"evaluate.metrics": ["translation_l1"]}))
    with pytest.raises(SpecError, match=r"'fid' scores samples drawn from a prior"):
        validate_dict(tiny_translation_spec("pix2pix", **{"evaluate.metrics": ["fid"]}))
    with pytest.raises(SpecError, match=r"train.ema: the cyclegan family has no sampling network"):
        validate_dict(tiny_translation_spec("cyclegan", **{"train.ema": 0.99}))
    with pytest.raises(SpecError, match=r"loss.pool_size: unknown key"):
        validate_dict(tiny_translation_spec("pix2pix", **{"loss.pool_size": 3}))
    from tiny import tiny_spec

    with pytest.raises(SpecError, match=r"data.translation: applies to the translation families"):
        validate_dict(tiny_spec("vae", **{"data.translation": {"derive": "thicken"}}))


def test_discriminators_must_give_patch_scores():
    spec = tiny_translation_spec("pix2pix")
    spec["model"]["networks"]["discriminator"]["layers"][-1] = {"Conv2D": {"filters": 2, "kernel_size": 3, "padding": "same"}}
    with pytest.raises(SpecError, match=r"model.networks.discriminator: outputs shape \[14, 14, 2\]; the discriminator must give one score per patch"):
        prepare(validate_dict(spec), quiet=True)


def test_cli_exits_2_with_the_field_of_a_bad_spec(tmp_path, capsys):
    spec = tiny_translation_spec("pix2pix", **{"data.translation.pairing": "unpaired"})
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(spec))
    assert main(["validate", str(tmp_path / "bad.yaml")]) == 2
    assert "data.translation.pairing: pix2pix learns from aligned pairs" in capsys.readouterr().err


# --------------------------------------------------------------------------- end to end
@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_run_exports_generators_that_translate_through_onnxruntime(family, tmp_path, capsys):
    spec = tiny_translation_spec(family, **{"runs_dir": str(tmp_path / "runs"), "export.dir": str(tmp_path / "export")})
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    assert main(["run", str(tmp_path / "spec.yaml")]) == 0
    (run_dir,) = (tmp_path / "runs" / f"tiny_{family}").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    generators = {"pix2pix": {"ab": "generator"}, "cyclegan": {"ab": "generator_ab", "ba": "generator_ba"}}[family]
    assert manifest["translation"] == {d: {"network": g, "input": "x", "output": "y"} for d, g in generators.items()}
    assert all(manifest["networks"][g]["parity_max_abs_diff"] < 1e-4 for g in generators.values())
    if family == "pix2pix":
        assert metrics["translation_l1_baseline"] < 0.1 and 0 < metrics["translation_l1"] < 1
    else:
        assert metrics["cycle_error"] == pytest.approx((metrics["cycle_error_a"] + metrics["cycle_error_b"]) / 2)
        assert metrics["mean_intensity_ab"]["target"] > metrics["mean_intensity_ab"]["input"]  # B is thicker
    assert (run_dir / "samples" / "epoch_001.png").is_file()
    assert main(["evaluate", str(tmp_path / "export")]) == 0  # the same scores through onnxruntime
    through_onnx = json.loads((tmp_path / "export" / "metrics.json").read_text())["metrics"]
    key = "translation_l1" if family == "pix2pix" else "cycle_error"
    assert through_onnx[key] == pytest.approx(metrics[key], abs=1e-4)
    assert "genkit sample" in (tmp_path / "export" / "README.md").read_text()

    digits = np.random.default_rng(0).integers(0, 255, (5, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "in.npz", x=digits)
    for direction in generators:
        out = tmp_path / f"{direction}.npz"
        capsys.readouterr()
        assert main(["sample", str(tmp_path / "export"), "--input", str(tmp_path / "in.npz"), "--direction", direction, "--out", str(out)]) == 0
        assert f"Translated 5 images ({direction})" in capsys.readouterr().out
        got = np.load(out)
        assert got["x"].shape == (5, 28, 28, 1) and 0.0 <= got["x"].min() and got["x"].max() <= 1.0
        np.testing.assert_allclose(got["source"][..., 0], digits / 255.0, atol=1e-6)
    assert main(["sample", str(tmp_path / "export"), "--input", str(tmp_path / "in.npz"), "--out", str(tmp_path / "grid.png")]) == 0
    assert main(["sample", str(tmp_path / "export"), "--out", str(tmp_path / "x.png")]) == 2
    assert "give them with --input" in capsys.readouterr().err.lower()
    if family == "pix2pix":
        assert main(["sample", str(tmp_path / "export"), "--input", str(tmp_path / "in.npz"), "--direction", "ba", "--out", str(tmp_path / "y.png")]) == 2

        # onnxruntime only: translating PNG files never imports TensorFlow.
        from PIL import Image

        (tmp_path / "pngs").mkdir()
        for i in range(3):
            Image.fromarray(digits[i, ::2, ::2]).save(tmp_path / "pngs" / f"{i}.png")  # 14x14: resized to 28x28
        code = textwrap.dedent(
            f"""
            import sys
            from genkit.runtime import input_main
            print(input_main({str(tmp_path / "export")!r}, {str(tmp_path / "pngs")!r}, {str(tmp_path / "t.npz")!r}))
            leaked = [m for m in ("tensorflow", "keras", "tf2onnx", "onnx") if m in sys.modules]
            assert not leaked, leaked
            """
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert np.load(tmp_path / "t.npz")["x"].shape == (3, 28, 28, 1)


def test_npz_inputs_of_another_size_are_resized_like_image_files(tmp_path):
    from PIL import Image

    from genkit.runtime.images import read_images

    small = np.zeros((2, 14, 14), np.uint8)
    small[:, 4:10, 6:8] = 255  # a bar
    np.savez(tmp_path / "small.npz", x=small)
    Image.fromarray(small[0]).save(tmp_path / "small.png")
    from_npz = read_images(tmp_path / "small.npz", (28, 28, 1), (-1.0, 1.0))
    from_png = read_images(tmp_path / "small.png", (28, 28, 1), (-1.0, 1.0))
    assert from_npz.shape == (2, 28, 28, 1)
    np.testing.assert_allclose(from_npz[0], from_png[0], atol=2 / 255)  # PNG pixels are rounded to 8 bits
    with pytest.raises(GenkitError, match="this export reads"):
        np.savez(tmp_path / "rgb.npz", x=np.zeros((2, 14, 14, 3), np.uint8))
        read_images(tmp_path / "rgb.npz", (28, 28, 1))
