"""The shipped CVAE spec, trained as a user would, draws digits of the class asked for."""

import json

import numpy as np
import pytest

from genkit.cli import main

pytestmark = pytest.mark.slow


def test_shipped_cvae_spec_samples_are_of_the_asked_class(tmp_path):
    export_dir = tmp_path / "export"
    args = ["run", "specs/cvae_mnist.yaml", "--set", "train.epochs=12", "--set", "train.tensorboard=false",
            "--set", f"runs_dir={tmp_path / 'runs'}", "--set", f"export.dir={export_dir}"]
    assert main(args) == 0
    (metrics_file,) = (tmp_path / "runs" / "cvae_mnist").glob("*/metrics.json")
    metrics = json.loads(metrics_file.read_text())["metrics"]
    assert metrics["extractor_test_accuracy"] > 0.9

    # The exported decoder through onnxruntime, scored by a classifier trained on real digits.
    from genkit.data import load_data
    from genkit.evaluate.classifier import class_accuracy, train_classifier
    from genkit.runtime import Sampler
    from genkit.spec.data_section import DataSpec

    classifier, _ = train_classifier(load_data(DataSpec(source="mnist", labels=True), seed=0))
    sampler = Sampler(export_dir)
    labels = np.repeat(np.arange(10, dtype="int32"), 100)
    images = np.concatenate([sampler.sample(100, labels=k, seed=k)[0] for k in range(10)])
    scores = class_accuracy(classifier, images, labels)
    assert scores["overall"] > 0.75, scores
    assert min(scores["per_class"].values()) > 0.4, scores
