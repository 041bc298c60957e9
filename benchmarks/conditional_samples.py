"""Are ONNX samples of a conditional export recognisably of the class asked for?

Draws N samples per class through `genkit.runtime.Sampler` (onnxruntime, the same path
as `genkit sample`), and scores them with a CNN trained on the real training images of
the export's dataset. Prints the classifier's own test accuracy, the per-class accuracy
of the samples and the confusion of the worst class.

    python benchmarks/conditional_samples.py exports/cvae_mnist --n 1000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from genkit.data import load_data
from genkit.evaluate.classifier import class_accuracy, train_classifier
from genkit.runtime import Sampler
from genkit.spec.data_section import DataSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir")
    parser.add_argument("--n", type=int, default=1000, help="samples per class")
    parser.add_argument("--source", default="mnist")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sampler = Sampler(args.export_dir)
    data = load_data(DataSpec(source=args.source, labels=True, range=tuple(sampler.value_range)), seed=args.seed)
    print(data.describe())
    start = time.time()
    classifier, accuracy = train_classifier(data, seed=args.seed)
    print(f"classifier trained in {time.time() - start:.0f} s; accuracy on {len(data.x_test):,} real test images: {accuracy:.4f}")

    labels = np.repeat(np.arange(sampler.num_classes, dtype="int32"), args.n)
    images = np.concatenate([sampler.sample(args.n, labels=k, seed=args.seed + k)[0] for k in range(sampler.num_classes)])
    scores = class_accuracy(classifier, images, labels)
    print(f"\nsamples from {args.export_dir} via onnxruntime ({sampler.provider}), {args.n} per class:")
    print("class  accuracy")
    for k, value in scores["per_class"].items():
        print(f"{k:>5}  {value:8.3f}")
    print(f"  all  {scores['overall']:8.3f}")
    worst = min(scores["per_class"], key=scores["per_class"].get)
    predicted = np.argmax(classifier.predict(images[labels == worst], verbose=0), axis=1)
    counts = np.bincount(predicted, minlength=sampler.num_classes)
    print(f"worst class {worst}: predicted as " + ", ".join(f"{k}: {c}" for k, c in enumerate(counts) if c))


if __name__ == "__main__":
    main()
