"""ProGAN: the growth schedule (α and stage switches at the declared image counts, surviving
resume), the fade-in blends, the optimizer restart, the drift term, the spec rules, and the
per-stage exports. Tiny networks on 28x28 MNIST, grown 7x7 -> 14x14 -> 28x28."""

from __future__ import annotations

from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import yaml

from genkit.cli import main
from genkit.errors import SpecError
from genkit.losses import drift_penalty
from genkit.spec import validate_dict
from genkit.train import prepare

ROOT = Path(__file__).resolve().parents[1]
BATCH = 8
EQ = "EqualizedConv2D"


def tiny_spec(**growth) -> dict:
    """A progan spec on 96 MNIST digits: 3 stages of 4 to 8 channels, phases of a few batches."""
    return {
        "name": "tiny_progan",
        "seed": 5,
        "data": {"source": "mnist", "limit": 96, "batch_size": BATCH, "range": [-1, 1], "validation_split": 0.25},
        "model": {
            "family": "progan",
            "latent_dim": 8,
            "networks": {
                "generator": {
                    "layers": [
                        {"PixelNormalization": {}},
                        {"EqualizedDense": {"units": 392, "activation": "leaky_relu"}},
                        {"Reshape": {"target_shape": [7, 7, 8]}},
                        {"PixelNormalization": {}},
                    ]
                },
                "discriminator": {
                    "layers": [
                        {"MinibatchStdDev": {"group_size": 4}},
                        {EQ: {"filters": 8, "kernel_size": 3, "activation": "leaky_relu"}},
                        {"Flatten": {}},
                        {"EqualizedDense": {"units": 1, "gain": 1.0}},
                    ]
                },
            },
        },
        "growth": {
            "filters": [8, 8, 4],
            "stable_images": 16,
            "fade_images": 24,
            "generator_block": {
                "layers": [
                    {"UpSampling2D": {"size": 2}},
                    {EQ: {"filters": "$filters", "kernel_size": 3, "activation": "leaky_relu"}},
                    {"PixelNormalization": {}},
                ]
            },
            "to_rgb": {"layers": [{EQ: {"filters": 1, "kernel_size": 1, "gain": 1.0}}]},
            "from_rgb": {"layers": [{EQ: {"filters": "$filters", "kernel_size": 1, "activation": "leaky_relu"}}]},
            "discriminator_block": {
                "layers": [
                    {EQ: {"filters": "$out_filters", "kernel_size": 3, "activation": "leaky_relu"}},
                    {"AveragePooling2D": {"pool_size": 2}},
                ]
            },
            **growth,
        },
        "train": {
            "epochs": 1,
            "tensorboard": False,
            "sample_every": 0,
            "optimizer": {"name": "adam", "learning_rate": 1e-3, "beta_1": 0.0, "beta_2": 0.99},
            "ema": 0.9,
        },
        "evaluate": {"metrics": ["fid"], "samples": 16},
    }


def batches(prep):
    return prep.data.train_dataset(BATCH, shuffle=False)


class Record(keras.callbacks.Callback):
    """Per step: images seen before it, the phase it ran in, its logged α and resolution, and
    the generator optimizer's update count after it."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def on_train_batch_begin(self, batch, logs=None):
        self.before = int(self.model.images_seen.numpy())

    def on_train_batch_end(self, batch, logs=None):
        m = self.model
        self.rows.append(
            (
                self.before,
                m.phase,
                float(logs["alpha"]),
                float(logs["resolution"]),
                int(m.generator_optimizer.iterations.numpy()),
            )
        )


# --------------------------------------------------------------------------- the schedule
def test_phases_begin_at_the_declared_image_counts():
    growth = validate_dict(tiny_spec()).growth  # stable 16, fade 24, 3 stages
    starts = [0, 16, 40, 56, 80]
    assert [growth.phase_start(p) for p in range(5)] == starts
    for phase, start in enumerate(starts):
        assert growth.phase_at(start) == phase
        assert phase == 0 or growth.phase_at(start - 1) == phase - 1
    assert growth.phase_at(10**9) == 4  # the last resolution trains until the end
    assert [growth.alpha_at(i) for i in (15, 16, 28, 40, 68)] == [None, 0.0, 0.5, None, 0.5]
    per_growth = validate_dict(tiny_spec(stable_images=[64, 16], fade_images=[8, 24])).growth
    assert per_growth.phase_starts == [0, 64, 72, 88, 112]
    assert [per_growth.fade_length(p) for p in (1, 3)] == [8, 24]


@pytest.mark.slow
def test_fit_fades_in_and_switches_stage_at_the_declared_counts_and_restarts_adam():
    spec = tiny_spec()
    spec["data"]["validation_split"] = 0.0  # 12 batches of 8
    prep = prepare(validate_dict(spec), quiet=True)
    record = Record()
    prep.model.fit(batches(prep), epochs=1, steps_per_epoch=12, callbacks=[record], verbose=0)
    growth, sides = prep.spec.growth, [7, 14, 28]
    for before, phase, alpha, resolution, updates in record.rows:
        assert phase == growth.phase_at(before), before
        start = growth.phase_start(phase)
        expected_alpha = (before - start) / 24 if phase % 2 else 1.0
        assert alpha == pytest.approx(expected_alpha), before
        assert resolution == sides[(phase + 1) // 2]
        # Adam restarted when the phase began: its count is the updates since then.
        assert updates == (before - start) // BATCH + 1, before
    assert [row[1] for row in record.rows] == [0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4]
    assert int(prep.model.optimizer_phase.numpy()) == 4


def test_only_the_current_phase_parts_are_trained_and_the_blend_ends_are_the_two_stages():
    from genkit.families.progan.growing import discriminate, generate, real_images_at, upsample

    prep = prepare(validate_dict(tiny_spec()), quiet=True)
    model, sides = prep.model, [7, 14, 28]
    z = np.random.default_rng(0).standard_normal((4, 8)).astype("float32")
    low, high = np.asarray(generate(model.generator, z, sides, 0)), np.asarray(generate(model.generator, z, sides, 1))
    np.testing.assert_allclose(
        np.asarray(generate(model.generator, z, sides, 1, alpha=0.0)), np.asarray(upsample(low)), atol=1e-6
    )
    np.testing.assert_allclose(np.asarray(generate(model.generator, z, sides, 1, alpha=1.0)), high, atol=1e-6)
    x = np.random.default_rng(1).uniform(-1, 1, (4, 28, 28, 1)).astype("float32")
    x14 = np.asarray(real_images_at(x, 2))
    np.testing.assert_allclose(
        np.asarray(real_images_at(x, 2, alpha=0.0)), np.asarray(upsample(real_images_at(x, 4))), atol=1e-6
    )
    np.testing.assert_allclose(
        np.asarray(discriminate(model.discriminator, x14, sides, 1, alpha=0.0)),
        np.asarray(discriminate(model.discriminator, np.asarray(real_images_at(x, 4)), sides, 0)),
        atol=1e-5,
    )
    # The grid of a model 12 images into the 14x14 fade-in: 14x14 draws at α 0.5, enlarged to 28x28.
    model.images_seen.assign(28)
    images, columns, labels = model.preview(None)
    assert images.shape == (32, 28, 28, 1) and columns == 8 and labels == ["14x14, α 0.50"] * 4
    np.testing.assert_array_equal(images[:, ::2, ::2], images[:, 1::2, 1::2])
    model.images_seen.assign(0)
    # At the first stage only its own parts change; the 14x14 and 28x28 blocks keep their weights.
    block = model.generator.get_layer("generator_block_14x14")
    before = [np.array(w) for w in block.weights]
    base = [np.array(w) for w in model.generator.get_layer("generator_base").weights]
    model.train_step(next(iter(batches(prep))))
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(before, block.weights))
    assert any(
        not np.array_equal(a, np.asarray(b)) for a, b in zip(base, model.generator.get_layer("generator_base").weights)
    )


def test_the_logged_drift_is_the_mean_squared_real_score():
    from genkit.families.progan.growing import discriminate, real_images_at

    scores = np.array([[0.5], [-2.0], [3.0]], "float32")
    assert float(drift_penalty(scores)) == pytest.approx((0.25 + 4.0 + 9.0) / 3)
    prep = prepare(validate_dict(tiny_spec()), quiet=True)
    model = prep.model
    x = next(iter(batches(prep)))
    x = x[0] if isinstance(x, tuple) else x
    real = real_images_at(x, 4)  # 28x28 -> the first stage's 7x7
    # Scored before the update, in a batch of its own: groups of 4 keep reals apart from fakes.
    by_hand = float(
        np.mean(np.square(np.asarray(discriminate(model.discriminator, real, [7, 14, 28], 0, training=True))))
    )
    logs = model.train_step(x)
    assert float(logs["drift"]) == pytest.approx(by_hand, rel=1e-5)


# --------------------------------------------------------------------------- resume
def weights(path: Path) -> dict:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda key, item: out.__setitem__(key, np.asarray(item)) if isinstance(item, h5py.Dataset) else None
        )
    return out


def _train(folder: Path, spec: dict, *extra) -> Path:
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    assert main(["train", str(path), *extra]) == 0
    return max((folder / "runs" / spec["name"]).iterdir())


@pytest.mark.slow
def test_resume_mid_fade_in_and_at_a_phase_boundary_is_bit_exact(tmp_path, monkeypatch):
    """3 epochs of 3 steps (24 images each) against 1 epoch, resumed to 2, resumed to 3. With
    stable 16 and fade 32, epoch 1 ends 8 images into the 14x14 fade-in, epoch 2 exactly where
    14x14 starts training alone (its checkpoint holds Adam's state from before the restart),
    epoch 3 a quarter into the 28x28 fade-in."""
    spec = tiny_spec(stable_images=16, fade_images=32)
    spec["train"].update(epochs=3, steps_per_epoch=3)
    for folder in ("whole", "parts"):
        (tmp_path / folder).mkdir()
    monkeypatch.chdir(tmp_path / "whole")
    whole = _train(tmp_path / "whole", spec)
    monkeypatch.chdir(tmp_path / "parts")
    spec["train"]["epochs"] = 1
    parts = _train(tmp_path / "parts", spec)
    for epochs in (2, 3):
        assert main(["train", "spec.yaml", "--resume", "--set", f"train.epochs={epochs}"]) == 0
    a, b = weights(whole / "model.weights.h5"), weights(parts / "model.weights.h5")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    model = prepare(validate_dict(spec), quiet=True).model
    model.load_weights(parts / "model.weights.h5")
    assert int(model.images_seen.numpy()) == 72 and model.phase == 3 and int(model.optimizer_phase.numpy()) == 3


# --------------------------------------------------------------------------- spec and export
def test_the_shapes_spec_uses_equalized_layers_pixel_norm_and_minibatch_stddev():
    from genkit.nets.blocks import EqualizedConv2D, EqualizedDense, MinibatchStdDev, PixelNormalization
    from genkit.spec import load_spec

    spec = load_spec(ROOT / "specs" / "progan_shapes.yaml").spec
    spec = validate_dict({**spec.model_dump(mode="json"), "data": {**spec.data.model_dump(mode="json"), "limit": 64}})
    model = prepare(spec, quiet=True).model

    def layers(network):
        return [
            layer
            for layer in network._flatten_layers(include_self=False, recursive=True)
            if not isinstance(layer, keras.Model)
        ]

    for network in (model.generator, model.discriminator):
        weighted = [layer for layer in layers(network) if layer.weights]
        assert weighted and all(isinstance(layer, (EqualizedConv2D, EqualizedDense)) for layer in weighted)
    assert any(isinstance(layer, PixelNormalization) for layer in layers(model.generator))
    head = model.discriminator.get_layer("discriminator_head")
    assert isinstance(head.layers[1], MinibatchStdDev)
    assert model.sides == [4, 8, 16, 32]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            {"growth.generator_block.layers": [{EQ: {"filters": "$fliters", "kernel_size": 3}}]},
            r"\$fliters is not filled in here; this network takes \$filters",
        ),
        ({"data.image_size": 30}, r"30x30 images would halve 2 times, which does not end on a whole size of 2 or more"),
        ({"growth.fade_images": 4}, r"growth.fade_images: is 4, fewer images than one batch \(8\)"),
        ({"growth.fade_images": [16, 4]}, r"growth.fade_images\[1\]: is 4, fewer images than one batch"),
        ({"growth.stable_images": [16]}, r"has 1 entries; growth.filters has 3, so the networks grow 2 times"),
        (
            {"train.optimizer.schedule": "cosine"},
            r"restarts the optimizer's state, its step count included, at every growth phase",
        ),
        ({"growth.filters": [8, 100000, 4]}, r"growth.filters\[1\]: is 100,000, above the largest layer size"),
        (
            {"data.image_size": 28, "export.onnx.networks": ["generator", "generator_8x8"]},
            r"'generator_8x8' is not a stage of this growth; its stages' generators are generator_7x7, generator_14x14",
        ),
        (
            {"export.onnx.networks": ["generator_7x7", "critic"]},
            r"'critic' is not a network the progan family exports; it exports generator, discriminator \(and, when named",
        ),
        (
            {"growth.to_rgb.layers": [{EQ: {"filters": 1, "kernel_size": 1, "activation": "sigmoid"}}]},
            r"a sigmoid output lies in \[0.0, 1.0\] but data.range is \[-1.0, 1.0\]",
        ),
    ],
)
def test_spec_rules_name_the_field(change, match):
    spec = tiny_spec()
    for dotted, value in change.items():
        node = spec
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    with pytest.raises(SpecError, match=match):
        validate_dict(spec)


def test_a_template_that_does_not_fit_its_stage_is_a_spec_error_naming_the_stage():
    spec = tiny_spec()
    spec["growth"]["generator_block"]["layers"][0] = {"UpSampling2D": {"size": 3}}
    with pytest.raises(
        SpecError,
        match=r"growth.generator_block: outputs shape \[21, 21, 8\]; at 14x14 it doubles the size, so it must be \[14, 14, any\]",
    ):
        prepare(validate_dict(spec), quiet=True)


def test_stage_generators_export_on_request_and_sample_with_onnxruntime(tmp_path, monkeypatch):
    from genkit.export.from_run import export_run
    from genkit.runtime import Sampler

    monkeypatch.chdir(tmp_path)
    spec = tiny_spec()
    spec["export"] = {"onnx": {"networks": ["generator", "generator_14x14"]}}
    prep = prepare(validate_dict(spec), quiet=True)
    prep.model.train_step(next(iter(batches(prep))))
    manifest = export_run(prep, tmp_path / "export")
    assert set(manifest["networks"]) == {"generator", "generator_14x14"}
    assert manifest["networks"]["generator_14x14"]["outputs"][0]["shape"] == [None, 14, 14, 1]
    assert all(entry["parity_max_abs_diff"] <= 1e-4 for entry in manifest["networks"].values())
    images = Sampler(tmp_path / "export").sample(5, seed=0)[0]
    assert images.shape == (5, 28, 28, 1) and images.min() >= -1.0 and images.max() <= 1.0
