"""A compact image classifier trained on the run's own labelled data.

Used to score conditional samples: a sample drawn for class k counts as correct when
this classifier, trained on real images only, predicts k. Its accuracy on the held-out
test split is reported with every number computed from it, so a weak classifier is
visible next to the score it produced.
"""

from __future__ import annotations

import keras
import numpy as np

__all__ = ["class_accuracy", "train_classifier"]


def _network(shape, num_classes):
    return keras.Sequential(
        [
            keras.Input(shape),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(num_classes),
        ],
        name="domain_classifier",
    )


def train_classifier(data, *, epochs: int = 6, seed: int = 0):
    """(classifier, its accuracy on data's test split). Needs labelled data."""
    keras.utils.set_random_seed(seed)
    model = _network(data.shape, data.num_classes)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    model.fit(x, y, batch_size=128, epochs=epochs, verbose=0, shuffle=True)
    _, accuracy = model.evaluate(data.x_test, data.y_test, batch_size=256, verbose=0)
    return model, float(accuracy)


def class_accuracy(classifier, images, labels) -> dict:
    """Share of `images` the classifier assigns to the class they were drawn for, overall and per class."""
    predicted = np.argmax(classifier.predict(images, batch_size=256, verbose=0), axis=1)
    labels = np.asarray(labels)
    per_class = {int(k): float(np.mean(predicted[labels == k] == k)) for k in np.unique(labels)}
    return {"overall": float(np.mean(predicted == labels)), "per_class": per_class}
