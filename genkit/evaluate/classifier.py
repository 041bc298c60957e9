"""Class accuracy of conditional samples, scored by the domain classifier.

A sample drawn for class k counts as correct when a classifier trained on real images only
predicts k. The classifier is the network behind the domain feature extractor
(`genkit.evaluate.features.get_extractor`: trained once per data set and cached), and its
accuracy on the held-out test split is reported with every number computed from it, so a
weak classifier is visible next to the score it produced.
"""

from __future__ import annotations

import numpy as np

from genkit.evaluate.features import get_extractor
from genkit.nets.inference import predict_batches

__all__ = ["class_accuracy", "train_classifier"]


def train_classifier(data, *, epochs: int | None = None, seed: int = 0):
    """(classifier, its accuracy on data's test split). Needs labelled image data.

    The classifier is a Keras model taking images in data's value range and returning one
    score per class (`classifier.predict(x)`, then an argmax). It comes from the extractor
    cache when the same data, seed and epochs were seen before. `epochs` overrides the
    extractor recipe's epoch count (None: the recipe's).
    """
    extractor = get_extractor(data, seed=seed, epochs=epochs)
    return extractor.classifier, extractor.accuracy


def class_accuracy(classifier, images, labels) -> dict:
    """Share of `images` the classifier assigns to the class they were drawn for, overall and per class."""
    predicted = np.argmax(predict_batches(classifier, images), axis=1)
    labels = np.asarray(labels)
    per_class = {int(k): float(np.mean(predicted[labels == k] == k)) for k in np.unique(labels)}
    return {"overall": float(np.mean(predicted == labels)), "per_class": per_class}
