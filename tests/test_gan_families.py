"""Adversarial families (gan, cgan, wgan): steps, optimizers, averaging, rules, blocks, end to end."""

import io
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from genkit.cli import main
from genkit.errors import SpecError
from genkit.modeling.adversarial import draw_latents
from genkit.modeling.steps import judge_as_one_batch, optimizer_variables
from genkit.nets.blocks import MinibatchDiscrimination, MinibatchStdDev
from genkit.spec import validate_dict
from genkit.spec.card import card
from genkit.train import prepare
from genkit.train.checkpoint import load_with_optimizer
from genkit.train.gan_monitor import AdversarialMonitor, mean_pairwise_distance, nearest_neighbour_distances
from tiny import tiny_gan_spec

FAMILIES = ("gan", "cgan", "wgan")


def build(family, **overrides):
    return prepare(validate_dict(tiny_gan_spec(family, **overrides)), quiet=True)


def first_batch(prep):
    return next(iter(prep.data.train_dataset(prep.spec.data.batch_size, shuffle=False)))


def weights(network):
    return [np.array(w) for w in network.trainable_weights]


def moved(before, after):
    return any(not np.allclose(a, b) for a, b in zip(before, after))


def problems(spec_dict):
    with pytest.raises(SpecError) as info:
        validate_dict(spec_dict)
    return info.value.problems


# --------------------------------------------------------------------------- the game
@pytest.mark.parametrize(("family", "steps_field"), [("gan", "discriminator_steps"), ("cgan", "discriminator_steps"), ("wgan", "critic_steps")])
def test_train_step_moves_both_players_and_makes_k_opponent_updates_per_generator_update(family, steps_field):
    prep = build(family, **{f"loss.{steps_field}": 2})
    model, batch = prep.model, first_batch(prep)
    opponent = model.critic if family == "wgan" else model.discriminator
    g_before, d_before = weights(model.generator), weights(opponent)
    logs = [model.train_step(batch) for _ in range(3)]
    assert moved(g_before, weights(model.generator)) and moved(d_before, weights(opponent))
    generator_optimizer, opponent_optimizer = (opt for opt, _ in optimizer_variables(model, card(family)))
    assert int(generator_optimizer.iterations) == 3 and int(opponent_optimizer.iterations) == 6
    assert all(np.isfinite(float(v)) for v in logs[-1].values())
    if family == "wgan":
        assert {"critic_loss", "g_loss", "wasserstein", "gradient_penalty", "critic_grad_norm", "g_grad_norm"} <= set(logs[-1])
    else:
        assert {"d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"} <= set(logs[-1])
        assert 0.0 < float(logs[-1]["d_real"]) < 1.0 and 0.0 < float(logs[-1]["d_fake"]) < 1.0


@pytest.mark.parametrize("generator_loss", ["non_saturating", "minimax", "max_likelihood"])
def test_every_generator_loss_trains_with_finite_values(generator_loss):
    prep = build("gan", **{"loss.generator_loss": generator_loss, "loss.label_smoothing": 0.1})
    logs = [prep.model.train_step(first_batch(prep)) for _ in range(2)]
    assert all(np.isfinite(float(v)) for v in logs[-1].values())


def test_the_discriminator_learns_to_tell_real_from_generated_images():
    prep = build("gan", **{"train.optimizers": {"discriminator": {"learning_rate": 3e-3}, "generator": {"learning_rate": 1e-6}}})
    batch = first_batch(prep)
    for _ in range(25):
        prep.model.train_step(batch)
    # The generator barely moves, so D pulls D(x) up and D(G(z)) down.
    scores = prep.model.evaluate(tf.data.Dataset.from_tensors(batch), verbose=0, return_dict=True)
    assert scores["d_real"] > 0.6 > 0.4 > scores["d_fake"]


def test_test_step_reports_the_jsd_bound_and_both_scores_on_held_out_data():
    prep = build("gan")
    result = prep.model.evaluate(prep.data.eval_dataset("val", 32), verbose=0, return_dict=True)
    assert {"loss", "d_loss", "g_loss", "d_real", "d_fake"} == set(result)
    assert result["loss"] == pytest.approx(np.log(2) - result["d_loss"], abs=1e-5)


def test_feature_matching_adds_or_replaces_the_adversarial_term():
    for combine in ("add", "replace"):
        prep = build("gan", **{"loss.feature_matching": {"layer": "features", "weight": 0.5, "combine": combine}})
        logs = prep.model.train_step(first_batch(prep))
        term, total = float(logs["feature_matching"]), float(logs["g_loss"])
        assert term > 0
        assert (total == pytest.approx(term)) == (combine == "replace")


def test_feature_matching_layer_must_exist_and_gets_a_suggestion():
    with pytest.raises(SpecError) as info:
        build("gan", **{"loss.feature_matching": {"layer": "featurs"}})
    (problem,) = info.value.problems
    assert problem.path == ("loss", "feature_matching", "layer") and "Did you mean 'features'" in problem.suggestion


def test_cgan_discriminator_reads_the_label_as_channels_or_by_projection():
    for conditioning in ("input", "projection"):
        prep = build("cgan", **{"loss.discriminator_conditioning": conditioning})
        model = prep.model
        model.train_step(first_batch(prep))
        x = prep.data.x_train[:4]
        a = np.asarray(model.discriminator([x, np.full(4, 1, "int32")]))
        b = np.asarray(model.discriminator([x, np.full(4, 7, "int32")]))
        assert a.shape == (4, 1) and np.abs(a - b).max() > 1e-6, conditioning
        assert model.sample(3, labels=2, seed=0).shape == (3, 28, 28, 1)


def test_projection_needs_a_final_dense_layer_of_one_unit():
    spec = tiny_gan_spec("cgan", **{"loss.discriminator_conditioning": "projection"})
    layers = spec["model"]["networks"]["discriminator"]["layers"]
    layers[2:] = [{"Conv2D": {"filters": 1, "kernel_size": 14}}, {"Flatten": {}}]  # one score, but not from a Dense layer
    with pytest.raises(SpecError, match="projection discriminator needs a final 'Dense: {units: 1}'"):
        prepare(validate_dict(spec), quiet=True)


def test_weight_clipping_holds_after_every_critic_step():
    prep = build("wgan", **{"loss.lipschitz": "clip", "loss.clip_value": 0.01, "loss.critic_steps": 2})
    model, batch = prep.model, first_batch(prep)
    for _ in range(3):
        model.train_step(batch)
        values = np.concatenate([w.ravel() for w in weights(model.critic)])
        assert np.abs(values).max() <= 0.01 + 1e-7
        assert np.isclose(np.abs(values), 0.01).any()  # the clip was active, not vacuous


def test_generator_weight_average_follows_the_warmed_up_decay():
    prep = build("gan", **{"train.ema": 0.99})
    model = prep.model
    average_before = [np.array(w) for w in model.ema_network.weights]
    model.train_step(first_batch(prep))
    decay = min(0.99, (1 + 1) / (10 + 1))  # one generator update so far
    for before, average, current in zip(average_before, model.ema_network.weights, model.generator.weights):
        np.testing.assert_allclose(np.array(average), decay * before + (1 - decay) * np.array(current), rtol=1e-5, atol=1e-6)
    assert model.sampling_network is model.ema_network
    plan = model.export_plan(prep.data.x_train)
    assert plan.networks["generator"] is model.ema_network
    z = np.random.default_rng(0).standard_normal((2, 8)).astype("float32")
    np.testing.assert_allclose(model.sample(2, seed=0), model.ema_network.predict(z, verbose=0), atol=1e-6)


def test_saved_weights_restore_both_optimizers_iterations_and_moments(tmp_path):
    overrides = {"loss.discriminator_steps": 2, "train.ema": 0.9,
                 "train.optimizers": {"generator": {"name": "rmsprop", "learning_rate": 1e-3}}}
    prep = build("gan", **overrides)
    for _ in range(2):
        prep.model.train_step(first_batch(prep))
    prep.model.save_weights(tmp_path / "model.weights.h5")
    fresh = build("gan", **overrides).model
    load_with_optimizer(fresh, tmp_path / "model.weights.h5")
    for (saved, _), (loaded, _) in zip(optimizer_variables(prep.model, card("gan")), optimizer_variables(fresh, card("gan"))):
        assert type(saved) is type(loaded) and len(saved.variables) == len(loaded.variables) > 2
        for a, b in zip(saved.variables, loaded.variables):
            np.testing.assert_array_equal(np.array(a), np.array(b))
    assert [int(o.iterations) for o, _ in optimizer_variables(fresh, card("gan"))] == [2, 4]
    for a, b in zip(prep.model.ema_network.weights, fresh.ema_network.weights):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_mixed_precision_scales_each_players_loss():
    try:
        prep = build("gan", **{"train.precision": "mixed_float16"})
        logs = [prep.model.train_step(first_batch(prep)) for _ in range(2)]
        assert all(np.isfinite(float(v)) for v in logs[-1].values())
        assert isinstance(prep.model.discriminator_optimizer, keras.optimizers.LossScaleOptimizer)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_the_preview_shows_the_same_latents_every_epoch():
    prep = build("cgan")
    images, cols, labels = prep.model.preview(prep.data.x_val[:8])
    again, _, _ = prep.model.preview(prep.data.x_val[:8])
    assert images.shape == (80, 28, 28, 1) and cols == 8 and labels[3] == "label 3"
    np.testing.assert_array_equal(images, again)


# --------------------------------------------------------------------------- monitor
def test_monitor_warns_once_when_the_discriminator_wins_outright():
    stream = io.StringIO()
    monitor = AdversarialMonitor(np.zeros((2, 4)), card("gan").monitor.remedies, patience=5, stream=stream)
    for step in range(12):
        monitor.on_train_batch_end(step, {"d_fake": 0.001})
    assert stream.getvalue().count("discriminator is winning") == 1
    assert "label_smoothing" in stream.getvalue()


def test_monitor_warns_when_the_preview_collapses_to_one_image():
    prep = build("gan")
    model = prep.model
    last = model.generator.layers[-1].layers[-1]  # the trunk's output convolution
    last.kernel.assign(tf.zeros_like(last.kernel))  # every z gives tanh(bias): one image
    stream = io.StringIO()
    monitor = AdversarialMonitor(prep.data.x_val[:16], card("gan").monitor.remedies, start_step=0, stream=stream)
    monitor.set_model(model)
    monitor.on_epoch_end(0)
    assert "samples may be collapsing" in stream.getvalue() and "MinibatchStdDev" in stream.getvalue()
    assert mean_pairwise_distance(prep.data.x_val[:16]) > 1.0


def test_a_few_modes_show_as_near_copies_though_the_spread_stays_large():
    images = np.random.default_rng(0).uniform(-1, 1, size=(4, 28, 28, 1))
    modes = np.repeat(images, 8, axis=0)  # 32 previews, 4 distinct images
    assert mean_pairwise_distance(modes) > 0.7 * mean_pairwise_distance(images)
    assert (nearest_neighbour_distances(modes) < 1e-5).all() and (nearest_neighbour_distances(images) > 10).all()


# --------------------------------------------------------------------------- rules
def test_rules_of_the_adversarial_families_through_validate():
    spec = tiny_gan_spec("wgan")
    spec["model"]["networks"]["critic"]["layers"][-1] = {"Dense": {"units": 1, "activation": "sigmoid"}}
    (problem,) = problems(spec)
    assert problem.path == ("model", "networks", "critic", "layers", 3, "Dense", "activation")
    assert "critic ends in sigmoid" in problem.message and "Wasserstein" in problem.message

    spec = tiny_gan_spec("gan")
    spec["model"]["networks"]["discriminator"]["layers"].append({"Activation": {"activation": "sigmoid"}})
    with pytest.raises(SpecError, match="applies the sigmoid inside its cross-entropy"):
        validate_dict(spec)

    with pytest.raises(SpecError, match=r"loss.gp_weight: applies to lipschitz: gradient_penalty, not 'clip'"):
        validate_dict(tiny_gan_spec("wgan", **{"loss.lipschitz": "clip", "loss.gp_weight": 5.0}))
    with pytest.raises(SpecError, match=r"loss.clip_value: applies to lipschitz: clip"):
        validate_dict(tiny_gan_spec("wgan", **{"loss.clip_value": 0.05}))

    spec = tiny_gan_spec("wgan")
    spec["model"]["networks"]["critic"]["layers"].insert(1, {"BatchNormalization": {}})
    with pytest.raises(SpecError, match="batch normalisation makes every output depend on the whole batch"):
        validate_dict(spec)
    validate_dict({**spec, "loss": {"lipschitz": "clip", "critic_steps": 2}})  # clipping allows it

    with pytest.raises(SpecError, match=r"data.batch_size: 30 real images cannot be split into loss.critic_steps = 4"):
        validate_dict(tiny_gan_spec("wgan", **{"data.batch_size": 30, "loss.critic_steps": 4}))
    with pytest.raises(SpecError, match=r"model.latent_dim: the gan family needs a latent size, the size of z"):
        spec = tiny_gan_spec("gan")
        del spec["model"]["latent_dim"]
        validate_dict(spec)


def test_family_fields_are_checked_by_name():
    with pytest.raises(SpecError, match=r"loss.critic_steps: unknown key"):
        validate_dict(tiny_gan_spec("gan", **{"loss.critic_steps": 3}))
    with pytest.raises(SpecError, match=r"loss.generator_loss: got 'nonsaturating'.*Did you mean 'non_saturating'"):
        validate_dict(tiny_gan_spec("gan", **{"loss.generator_loss": "nonsaturating"}))
    with pytest.raises(SpecError, match=r"loss.discriminator_conditioning: unknown key"):
        validate_dict(tiny_gan_spec("gan", **{"loss.discriminator_conditioning": "projection"}))
    with pytest.raises(SpecError, match=r"train.optimizers.critic: 'critic' is not a network of the gan family"):
        validate_dict(tiny_gan_spec("gan", **{"train.optimizers": {"critic": {}}}))
    with pytest.raises(SpecError, match=r"model.condition: a conditional family needs"):
        spec = tiny_gan_spec("cgan")
        del spec["model"]["condition"]
        validate_dict(spec)
    with pytest.raises(SpecError, match=r"'reconstruction' needs a family with an encoder"):
        validate_dict(tiny_gan_spec("gan", **{"evaluate.metrics": ["reconstruction"]}))
    spec = tiny_gan_spec("gan")
    spec["model"]["networks"]["generator"]["layers"][-1]["Conv2D"]["activation"] = "sigmoid"
    with pytest.raises(SpecError, match=r"a sigmoid output lies in \[0.0, 1.0\] but data.range is \[-1.0, 1.0\]"):
        validate_dict(spec)


# --------------------------------------------------------------------------- blocks
@pytest.mark.parametrize("layer", [MinibatchStdDev(), MinibatchStdDev(group_size=None, epsilon=1e-6), MinibatchDiscrimination(8, kernel_dim=3)])
def test_minibatch_blocks_round_trip_their_config(layer):
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    assert keras.saving.get_registered_name(type(layer)) == f"genkit>{type(layer).__name__}"


def test_minibatch_stddev_appends_the_mean_spread_of_each_group():
    x = np.random.default_rng(0).normal(size=(8, 3, 3, 2)).astype("float32")
    out = np.asarray(MinibatchStdDev(group_size=4)(x))
    groups = x.reshape(2, 4, 3, 3, 2)  # examples 0-3 and 4-7
    spread = np.sqrt(groups.var(axis=1) + 1e-8).reshape(2, -1).mean(axis=1)
    assert out.shape == (8, 3, 3, 3)
    np.testing.assert_allclose(out[:, 1, 2, 2], np.repeat(spread, 4), rtol=1e-5)
    np.testing.assert_array_equal(out[..., :2], x)
    whole = np.sqrt(x[:, 0, 0, :].var(axis=0) + 1e-8).mean()
    np.testing.assert_allclose(np.asarray(MinibatchStdDev(group_size=None)(x[:, 0, 0, :]))[:, 2], whole, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(MinibatchStdDev(group_size=3)(x[:, 0, 0, :]))[:, 2], whole, rtol=1e-5)  # 8 % 3: one group


def test_minibatch_stddev_keeps_real_and_generated_halves_apart():
    real = np.random.default_rng(1).normal(size=(4, 5)).astype("float32")
    fake = np.repeat(real[:1], 4, axis=0)  # collapsed: four copies
    out = np.asarray(MinibatchStdDev(group_size=4)(np.concatenate([real, fake])))
    assert out[:4, -1].min() > 0.3 and out[4:, -1].max() < 1e-3


def test_minibatch_discrimination_sums_closeness_to_the_other_examples():
    f = np.random.default_rng(1).normal(size=(5, 6)).astype("float32")
    layer = MinibatchDiscrimination(3, kernel_dim=2)
    out = np.asarray(layer(f))
    m = (f @ np.asarray(layer.kernel)).reshape(5, 3, 2)
    closeness = np.exp(-np.abs(m[:, None] - m[None]).sum(-1))  # (5, 5, 3)
    np.testing.assert_allclose(out[:, 6:], closeness.sum(axis=1) - 1.0, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Add Flatten before it"):
        MinibatchDiscrimination(3)(np.zeros((2, 4, 4, 1), "float32"))


def test_discriminator_with_minibatch_blocks_trains_and_exports_to_onnx(tmp_path):
    from genkit.export.convert import to_onnx
    from genkit.export.parity import parity_max_abs_diff

    layers = tiny_gan_spec("gan")["model"]["networks"]["discriminator"]["layers"]
    layers = layers[:2] + [{"MinibatchStdDev": {"group_size": 4}}, {"Flatten": {}}, {"MinibatchDiscrimination": {"num_kernels": 4}}, {"Dense": {"units": 1}}]
    prep = build("gan", **{"model.networks.discriminator": {"layers": layers}})
    logs = prep.model.train_step(first_batch(prep))
    assert np.isfinite(float(logs["d_loss"]))
    discriminator = prep.model.discriminator
    proto = to_onnx(discriminator, ["logit"], 17)
    assert parity_max_abs_diff(discriminator, proto, ["logit"], seed=0) < 1e-4
    discriminator.save(tmp_path / "d.keras")
    x = prep.data.x_val[:8]
    np.testing.assert_allclose(np.asarray(keras.saving.load_model(tmp_path / "d.keras")(x)), np.asarray(discriminator(x)), atol=1e-6)


# --------------------------------------------------------------------------- end to end
@pytest.mark.parametrize("family", ["gan", "cgan"])
def test_run_exports_a_generator_that_samples_through_onnxruntime(family, tmp_path, capsys):
    import yaml

    spec = tiny_gan_spec(family, **{"train.ema": 0.9, "runs_dir": str(tmp_path / "runs"), "export.dir": str(tmp_path / "export")})
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    assert main(["run", str(tmp_path / "spec.yaml")]) == 0
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["sampling"] == {"network": "generator", "latent_input": "z", "label_input": "y" if family == "cgan" else None, "output": "x"}
    assert manifest["prior"] == {"kind": "standard_normal"} and manifest["networks"]["generator"]["parity_max_abs_diff"] < 1e-4
    label = ["--label", "3"] if family == "cgan" else []
    assert main(["sample", str(tmp_path / "export"), "--n", "16", *label, "--out", str(tmp_path / "x.npz")]) == 0
    samples = np.load(tmp_path / "x.npz")
    assert samples["x"].shape == (16, 28, 28, 1) and samples["x"].min() >= -1.0 and samples["x"].max() <= 1.0
    if family == "cgan":
        assert (samples["y"] == 3).all()
    (run_dir,) = (tmp_path / "runs" / f"tiny_{family}").iterdir()
    assert (run_dir / "networks" / "generator_ema.keras").is_file() and (run_dir / "samples" / "epoch_001.png").is_file()

    # Resume for one more epoch: both optimizers continue from the checkpoint.
    capsys.readouterr()
    assert main(["train", str(tmp_path / "spec.yaml"), "--resume", "--set", "train.epochs=2"]) == 0
    assert "resuming" in capsys.readouterr().out
    from genkit.train import open_run

    iterations = [int(o.iterations) for o, _ in optimizer_variables(open_run(run_dir).model, card(family))]
    steps = int(np.ceil(224 / 32))  # 224 training images, batches of 32
    assert iterations == [2 * steps, 2 * steps]


def test_a_critic_that_scores_images_apart_scores_the_generator_s_fakes_alone():
    from genkit.families.wgan.model import couples_examples

    prep = build("wgan", **{"loss.lipschitz": "gradient_penalty"})
    model = prep.model
    assert model.scores_apart
    # Fakes alone score as they do beside real images, which is what makes skipping the real half exact.
    fake = model.generator(draw_latents(model.noise, 8, model.latent_dim), training=False)
    ((_, beside),) = judge_as_one_batch(lambda images: model.critic(images, training=True), first_batch(prep)[:8], fake)
    np.testing.assert_allclose(np.asarray(model.critic(fake, training=True)), np.asarray(beside), atol=1e-5)

    batch_normed = {"layers": [{"Conv2D": {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}}, {"BatchNormalization": {}},
                               {"LeakyReLU": {"negative_slope": 0.2}}, {"Flatten": {}}, {"Dense": {"units": 1}}]}
    clipped = build("wgan", **{"loss.lipschitz": "clip", "model.networks.critic": batch_normed}).model
    assert couples_examples(clipped.critic) and not clipped.scores_apart
