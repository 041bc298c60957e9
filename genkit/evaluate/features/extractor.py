"""`Extractor`: a classifier of real images, with its penultimate layer's activations as features.

Wraps genkit's own CNN (made by `get_extractor`) or a classifier of your own
(`Extractor.from_keras`), and maps images from the data's value range to the range the
network takes.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from genkit.errors import GenkitError

__all__ = ["Extractor", "check_data"]

_MIN_SIDE = 10  # two (3x3 valid conv, 2x2 pool) stages need at least 10x10 pixels


class Extractor:
    """A classifier of real images, and the activations of its penultimate layer as features.

    Use `get_extractor(data)` for genkit's own CNN, `Extractor.from_keras(path, data)` for
    a classifier of your own. Images passed to `features` and `predict` are in the value
    range of the data the extractor was made for (`value_range`); they are mapped to the
    range the network was trained on, values outside it clipped (as when saving a picture).

    The network may tell apart more than the data's labels: genkit's CNN for a data set with
    ground-truth factors (`shapes`) has one softmax head per categorical factor (shape, colour),
    so that its features see colour as well as shape. Its logits are then the heads' groups
    side by side (`heads`: their sizes); `predict` answers the label head, `predict_modes`
    the combination of every head's answer (shape x colour).

    Attributes:
        model: the Keras classifier (images in `input_range` -> class scores).
        accuracy: its accuracy on the data's test split, in the data's labels.
        heads: sizes of the softmax groups in the logits, e.g. (4, 6), or None for one group
            (the labels).
        label_head: which group holds the labels.
        value_range: the range of the images the methods take, e.g. (-1.0, 1.0).
        input_range: the range the network itself takes: (0.0, 1.0) for genkit's CNN.
        feature_layer: name of the layer whose output `features` returns.
        meta: how it was made: recipe, data origin and hash, test examples, training time.

    Example:

        extractor = get_extractor(data)
        f_real = extractor.features(data.x_test)  # (N, 256) float64
        labels = extractor.predict(samples)        # (N,) int64
    """

    def __init__(
        self,
        model,
        *,
        accuracy: float,
        feature_layer: str,
        value_range=(0.0, 1.0),
        input_range=(0.0, 1.0),
        name: str = "",
        meta: dict | None = None,
        heads=None,
        label_head: int = 0,
    ):
        self.model = model
        self.accuracy = float(accuracy)
        self.heads = None if heads is None else tuple(int(n) for n in heads)
        self.label_head = int(label_head)
        self.feature_layer = feature_layer
        self.value_range = tuple(float(v) for v in value_range)
        self.input_range = tuple(float(v) for v in input_range)
        self.name = name or f"classifier {model.name}"
        self.meta = dict(meta or {})
        # One forward pass gives both outputs; inference mode (no dropout) in `_forward`.
        self._both = keras.Model(model.inputs[0], [model.get_layer(feature_layer).output, model.outputs[0]])

    def features(self, x, *, batch_size: int = 500) -> np.ndarray:
        """Outputs of `feature_layer` for images `x` in `value_range`: (N, D) float64."""
        return self._forward(x, batch_size)[0]

    def predict(self, x, *, batch_size: int = 500) -> np.ndarray:
        """Predicted label of each image in `x` (in `value_range`): (N,) int64."""
        scores = self._forward(x, batch_size)[1]
        if self.heads is None:
            return np.argmax(scores, axis=1)
        return np.argmax(self._groups(scores)[self.label_head], axis=1)

    def predict_modes(self, x, *, batch_size: int = 500) -> np.ndarray:
        """The class of each image among all the network tells apart: (N,) int64.

        With heads, the combination of the heads' answers in C order (shape * 6 + colour on
        `shapes`, 24 classes); else the label.
        """
        scores = self._forward(x, batch_size)[1]
        if self.heads is None:
            return np.argmax(scores, axis=1)
        return np.ravel_multi_index([np.argmax(group, axis=1) for group in self._groups(scores)], self.heads)

    @property
    def num_modes(self) -> int:
        """How many classes `predict_modes` tells apart."""
        return int(np.prod(self.heads)) if self.heads else int(self.model.outputs[0].shape[-1])

    def _groups(self, scores: np.ndarray) -> list:
        """The logits of each head: (N, heads[h]) arrays."""
        return np.split(scores, np.cumsum(self.heads)[:-1], axis=1)

    def describe(self) -> str:
        """One line naming the network, its data and its test accuracy, for reports."""
        tested = self.meta.get("test_examples")
        on = f" on {tested:,} test images" if tested else ""
        if self.heads is None:
            return f"{self.name} - test accuracy {self.accuracy:.4f}{on}"
        classes = (self.meta.get("heads") or {}).get("classes", f"{self.num_modes} classes")
        modes = self.meta.get("mode_accuracy", float("nan"))
        return f"{self.name}, heads for {classes} - test accuracy {self.accuracy:.4f} (all heads right: {modes:.4f}){on}"

    @property
    def classifier(self) -> keras.Model:
        """The classifier as a Keras model that takes images in `value_range` (one score per label out).

        For code written against a plain Keras classifier (`classifier.predict(x)` and
        an argmax), such as `genkit.evaluate.classifier.class_accuracy`. Unlike `predict`,
        it does not clip values outside the range. With heads, it outputs the label head's logits.
        """
        scale, offset = self._affine()
        layers = [keras.Input(self.model.input_shape[1:])]
        if (scale, offset) != (1.0, 0.0):
            layers.append(keras.layers.Rescaling(scale, offset))
        layers.append(self.model)
        if self.heads is not None:
            # The label head's logits, picked out of all heads' by a fixed 0/1 matrix.
            start = sum(self.heads[: self.label_head])
            pick = np.eye(sum(self.heads), dtype=np.float32)[:, start : start + self.heads[self.label_head]]
            layers.append(keras.layers.Dense(pick.shape[1], use_bias=False, trainable=False, name="label_head"))
        if len(layers) == 2:
            return self.model
        classifier = keras.Sequential(layers, name=f"{self.model.name}_labels")
        if self.heads is not None:
            classifier.get_layer("label_head").set_weights([pick])
        return classifier

    @classmethod
    def from_keras(cls, path, data, *, layer: str | None = None, input_range=(0.0, 1.0)) -> Extractor:
        """A classifier of your own (a `.keras` file) as the extractor for `data`.

        Args:
            path: the `.keras` file; its output is one score per class.
            data: the `Dataset` whose images it will see; its test split measures the
                accuracy and its `range` is the range `features`/`predict` take.
            layer: the layer whose output are the features. Default: the input of the last
                layer that has weights (the final Dense), skipping a trailing Softmax or
                Activation layer.
            input_range: the value range the classifier was trained on.
        """
        import genkit.nets  # noqa: F401  (registers genkit's blocks so a .keras file using them loads)

        check_data(data, "Extractor.from_keras")
        path = Path(path)
        if not path.is_file():
            raise GenkitError(f"feature extractor: {path} does not exist; expected a .keras classifier file.")
        model = keras.saving.load_model(path, compile=False)
        if tuple(model.input_shape[1:]) != tuple(data.shape):
            raise GenkitError(
                f"feature extractor: {path} takes images of shape {tuple(model.input_shape[1:])}, but "
                f"{data.source} images are {tuple(data.shape)}."
            )
        layer = layer or _penultimate_layer(model, path)
        names = [each.name for each in model.layers]
        if layer not in names:
            raise GenkitError(f"feature extractor: {path} has no layer {layer!r}; its layers are {', '.join(names)}.")
        extractor = cls(
            model,
            accuracy=float("nan"),
            feature_layer=layer,
            value_range=data.range,
            input_range=input_range,
            name=f"classifier {path} (layer {layer!r}) on {data.source}",
            meta={"path": str(path), "origin": data.origin, "test_examples": len(data.x_test)},
        )
        extractor.accuracy = float(np.mean(extractor.predict(data.x_test) == data.y_test))
        return extractor

    def _affine(self) -> tuple[float, float]:
        """(scale, offset) taking `value_range` to `input_range`: x_in = x * scale + offset."""
        (low, high), (in_low, in_high) = self.value_range, self.input_range
        scale = (in_high - in_low) / (high - low)
        return scale, in_low - low * scale

    def _forward(self, x, batch_size):
        x = np.asarray(x, dtype=np.float32)
        expected = tuple(self.model.input_shape[1:])
        if x.shape[1:] != expected:
            raise ValueError(
                f"feature extractor: got images of shape {x.shape[1:]}; expected (N, {', '.join(map(str, expected))})."
            )
        scale, offset = self._affine()
        low, high = self.input_range
        features, scores = [], []
        for start in range(0, len(x), batch_size):
            batch = np.clip(x[start : start + batch_size] * scale + offset, low, high)
            f, s = self._both(batch, training=False)
            features.append(np.asarray(f, dtype=np.float64).reshape(len(batch), -1))  # (B, D)
            scores.append(np.asarray(s))
        width = int(np.prod(self._both.outputs[0].shape[1:]))
        if not features:
            return np.zeros((0, width)), np.zeros((0, self.model.outputs[0].shape[-1]))
        return np.concatenate(features), np.concatenate(scores)


def check_data(data, who: str) -> None:
    """Raise unless `data` is labelled and holds images of at least 10x10 pixels; `who` names the caller."""
    if not data.labelled:
        raise GenkitError(
            f"{who}: the feature extractor is a classifier and needs labels, but {data.origin} is loaded "
            "without them. Load it with load_data(spec, seed, need_labels=True) or set data.labels: true."
        )
    if len(data.shape) != 3 or min(data.shape[:2]) < _MIN_SIDE:
        raise GenkitError(
            f"{who}: the feature extractor needs images of at least {_MIN_SIDE}x{_MIN_SIDE} pixels (H, W, C); "
            f"{data.source} examples have shape {tuple(data.shape)}."
        )


def _penultimate_layer(model, path) -> str:
    """Name of the layer whose output feeds the last layer with weights (the final Dense, past any Softmax)."""
    for layer in reversed(model.layers):
        if layer.weights:
            source = layer.input._keras_history.operation  # the layer that produced its input
            if isinstance(source, keras.layers.InputLayer):
                break  # a one-layer classifier: its "features" would be the pixels
            return source.name
    raise GenkitError(f"feature extractor: cannot tell the feature layer of {path}; pass layer= to name it.")
