"""TensorBoard sample images: each epoch's grid (samples/epoch_NNN.png) also lands in the run's
TensorBoard log folder as an image summary, under tf.distribute and mixed_float16 too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genkit.api import train
from genkit.train.callbacks import SAMPLES_TAG
from tests.tiny import tiny_spec, tiny_translation_spec

ROOT = Path(__file__).resolve().parents[1]
FAST = {"train.epochs": 2, "train.steps_per_epoch": 2, "train.sample_every": 1, "train.tensorboard": True}


def image_summaries(logdir: Path) -> list:
    """(step, tag, pixels uint8 (H, W, C)) of every image summary in the event files under `logdir`."""
    import tensorflow as tf

    found = []
    for events in sorted(logdir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != "images":
                    continue
                # tf.summary.image stores [width, height, PNG bytes...] as a string tensor.
                encoded = tf.make_ndarray(value.tensor)
                found.append((event.step, value.tag, tf.io.decode_png(encoded[2]).numpy()))
    return found


def png_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        pixels = np.asarray(image)
    return pixels if pixels.ndim == 3 else pixels[..., None]


def assert_grids_match(run: Path, epochs: int) -> None:
    """One image per epoch, tag "samples", equal pixel for pixel to that epoch's PNG grid."""
    summaries = image_summaries(run / "tensorboard" / SAMPLES_TAG)
    assert [(step, tag) for step, tag, _ in summaries] == [(e, SAMPLES_TAG) for e in range(1, epochs + 1)]
    for step, _, pixels in summaries:
        expected = png_pixels(run / "samples" / f"epoch_{step:03d}.png")
        assert pixels.shape == expected.shape
        np.testing.assert_array_equal(pixels, expected)
    # Keras's own scalars stay in their runs: the grid is a run of its own beside them.
    assert (run / "tensorboard" / "train").is_dir()


def run_folder(tmp_path: Path, name: str) -> Path:
    (run,) = (tmp_path / "runs" / name).iterdir()
    return run


@pytest.mark.parametrize(
    "spec",
    [tiny_spec("autoencoder", **FAST), tiny_translation_spec("pix2pix", **FAST)],
    ids=["autoencoder reconstructions", "pix2pix translations"],
)
def test_each_epoch_grid_is_an_image_summary(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train(spec, evaluate=False, export=False, quiet=True)
    run = run_folder(tmp_path, spec["name"])
    assert_grids_match(run, epochs=2)
    # The grid holds the family's preview: originals above reconstructions, or A | G(A) | B rows.
    height = png_pixels(run / "samples" / "epoch_001.png").shape[0]
    assert height > 2 * 28


def test_no_summary_without_tensorboard(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = tiny_spec("autoencoder", **{**FAST, "train.epochs": 1, "train.tensorboard": False})
    train(spec, evaluate=False, export=False, quiet=True)
    run = run_folder(tmp_path, spec["name"])
    assert (run / "samples" / "epoch_001.png").is_file()
    assert not (run / "tensorboard").exists()


def mirrored_mixed_run(folder: str) -> None:
    """Train on two logical CPU devices in mixed_float16; print the run folder (own process:
    TensorFlow fixes its devices when it first runs an op)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    os.chdir(folder)
    spec = tiny_spec("vae", **{**FAST, "train.distribute": "mirrored", "train.precision": "mixed_float16"})
    run = train(spec, evaluate=False, export=False, quiet=True)
    print(json.dumps({"run": str(Path(folder) / run.folder), "replicas": run.model.distribute_strategy.num_replicas_in_sync}))


def test_grids_are_written_under_a_strategy_in_mixed_precision(tmp_path):
    code = f"from tests.test_tensorboard_images import mirrored_mixed_run; mirrored_mixed_run({str(tmp_path)!r})"
    done = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert_grids_match(Path(result["run"]), epochs=2)
