"""Colour data with every family: each card's starter for `shapes` (what `genkit new FAMILY --dataset
shapes` writes, here sized for 32x32) validates and trains a step on 3-channel images; colour image
folders and a cifar10 copy load for the same networks."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image

from genkit.spec import validate_dict
from genkit.spec.card import card, family_names
from genkit.spec.starter import starter_spec
from genkit.train import prepare

FAMILIES = family_names()
SIDE = 32


def shapes_spec(family: str) -> dict:
    """The family's shapes starter with networks for 32x32, on 48 images, batches of 8 per update."""
    declared = card(family)
    raw = yaml.safe_load(declared.starter("shapes", (SIDE, SIDE, 3)))
    k = getattr(validate_dict(raw).loss, declared.sub_batches[0]) if declared.sub_batches else 1
    raw["name"] = f"colour_{family}"
    raw["data"].update(image_size=SIDE, limit=48, batch_size=8 * k, validation_split=0.25)
    raw["train"].update({"epochs": 1, "steps_per_epoch": 1, "tensorboard": False, "sample_every": 0})
    return raw


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_trains_a_step_on_colour_shapes(family):
    assert validate_dict(yaml.safe_load(starter_spec(family, "shapes"))).data.source == "shapes"  # as written: 64x64
    prep = prepare(validate_dict(shapes_spec(family)), quiet=True)
    batch = next(iter(prep.data.train_dataset(prep.spec.data.batch_size, shuffle=False)))
    images = batch if not isinstance(batch, tuple) else batch[0]
    assert tuple(images.shape[1:]) == (SIDE, SIDE, 3) and prep.data.shape == (SIDE, SIDE, 3)
    logs = prep.model.train_step(batch)
    assert set(logs) & set(card(family).logs), sorted(logs)
    assert all(np.isfinite(float(np.mean(v))) for v in logs.values())
    if card(family).condition == "required":
        assert prep.data.num_classes == 4 == prep.spec.model.condition.num_classes  # one class per shape


def test_colour_folders_and_cifar10_feed_the_same_networks(tmp_path, monkeypatch):
    """An RGB folder of 40x48 pictures (resized to 32x32) and a cifar10 copy train the vae's shapes networks."""
    rng = np.random.default_rng(0)
    for name in ("cats", "dogs"):
        (tmp_path / "pets" / name).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "pets" / name / f"{i}.png")
    np.savez(
        tmp_path / "cifar10.npz",
        x_train=rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8),
        y_train=np.arange(60) % 10,
        x_test=rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8),
        y_test=np.arange(20) % 10,
    )
    monkeypatch.setenv("GENKIT_DATA", str(tmp_path))
    sources = [
        {"source": "folder", "path": str(tmp_path / "pets"), "color_mode": "rgb"},
        {"source": "cifar10", "limit": 48},
    ]
    for data in sources:
        raw = shapes_spec("vae")
        raw["data"] = {**raw["data"], "limit": None, **data, "image_size": SIDE}
        prep = prepare(validate_dict(raw), quiet=True)
        assert prep.data.shape == (SIDE, SIDE, 3), data
        logs = prep.model.train_step(next(iter(prep.data.train_dataset(8, shuffle=False))))
        assert np.isfinite(float(logs["loss"]))
