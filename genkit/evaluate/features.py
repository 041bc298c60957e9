"""The domain feature extractor: a compact CNN trained on a data set's own real images.

FID, KID and precision/recall (`genkit.evaluate.distribution`) compare sets of images in a
feature space. FID (Heusel et al. 2017) uses Inception-v3 trained on ImageNet, which has
never seen a 28x28 grayscale digit; for MNIST-scale data the usual substitute, used here,
is the penultimate layer of a classifier trained on the domain itself (here its Dense
output before the ReLU; see `_network`). The classifier's
test accuracy goes with every number computed from it (`Extractor.describe()`), so a weak
feature space is visible next to the score it produced.

- `get_extractor(data)` trains that classifier on the real training split (train +
  validation) and caches it under `$GENKIT_CACHE/extractors` (default
  `~/.cache/genkit/extractors`), keyed by a sha256 of the training images, the labels,
  the recipe and the seed; a later call with the same data loads it in about a second.
- `Extractor.from_keras(path, data)` uses a classifier of your own instead.

The network always sees images in [0, 1]: data in [-1, 1] is mapped back first, and the
cache key is computed from those [0, 1] images, so one cached extractor serves both ranges.

Example:

    extractor = get_extractor(data)
    print(extractor.describe())  # CNN trained on mnist (..., hash 3f9c0a1b2d4e) - test accuracy 0.9850 ...
    fid = frechet_distance(extractor.features(data.x_test), extractor.features(samples))
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path

import keras
import numpy as np

from genkit.atomic import atomic_directory
from genkit.errors import GenkitError

__all__ = ["RECIPE", "Extractor", "get_extractor"]

RECIPE_VERSION = "genkit-cnn-1"  # change it whenever the recipe or the training code changes what is learnt

# Everything besides the data and the seed that decides the trained weights; it is part of
# the cache key and of meta.json. Measured on 2 busy CPU cores: 0.986-0.989 on the 1,000
# held-out digits of the offline MNIST 5k (seeds 0-2, 30 epochs, ~32 s); 0.913-0.915 on
# the Fashion-MNIST test split (seeds 0-1, 6 epochs, ~82 s).
RECIPE = {
    "version": RECIPE_VERSION,
    "filters": [32, 64],  # 3x3 valid convolution + ReLU + 2x2 max-pool, per stage
    "feature_units": 256,  # the penultimate Dense layer, before its ReLU: the feature space
    "dropout": 0.3,
    "batch_size": 64,  # 128 was as fast but ~0.003 less accurate on both data sets
    "learning_rate": 2e-3,  # Adam, cosine-decayed to 0 over the run
    # epochs = clip(ceil(images_seen / n_train), min_epochs, max_epochs): 4,000 digits get
    # 30 epochs, 60,000 images 6, and a tiny test set no more than 30.
    "images_seen": 120_000,
    "min_epochs": 6,
    "max_epochs": 30,
    # Random affine jitter (one resampling per image) for small training sets only: it
    # lifts the 4,000 offline digits from ~0.978 to ~0.985, but cost Fashion-MNIST
    # (60,000 images, 5 epochs) 3 points, where the data itself is the regulariser.
    "augment_below": 20_000,
    "rotation": 0.04,  # fraction of a full turn: up to ±14°
    "zoom": 0.1,  # scale in [0.9, 1.1]
    "shift": 0.1,  # fraction of the image size: up to ±2.8 pixels at 28x28
}

_MIN_SIDE = 10  # two (3x3 valid conv, 2x2 pool) stages need at least 10x10 pixels
_LEVELS = 65535  # [0, 1] images are keyed and trained on this grid: x = round(u * 65535) / 65535


class Extractor:
    """A classifier of real images, and the activations of its penultimate layer as features.

    Use `get_extractor(data)` for genkit's own CNN, `Extractor.from_keras(path, data)` for
    a classifier of your own. Images passed to `features` and `predict` are in the value
    range of the data the extractor was made for (`value_range`); they are mapped to the
    range the network was trained on, values outside it clipped (as when saving a picture).

    Attributes:
        model: the Keras classifier (images in `input_range` -> class scores).
        accuracy: its accuracy on the data's test split.
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
    ):
        self.model = model
        self.accuracy = float(accuracy)
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
        """Predicted class of each image in `x` (in `value_range`): (N,) int64."""
        return np.argmax(self._forward(x, batch_size)[1], axis=1)

    def describe(self) -> str:
        """One line naming the network, its data and its test accuracy, for reports."""
        tested = self.meta.get("test_examples")
        on = f" on {tested:,} test images" if tested else ""
        return f"{self.name} - test accuracy {self.accuracy:.4f}{on}"

    @property
    def classifier(self) -> keras.Model:
        """The classifier as a Keras model that takes images in `value_range` (class scores out).

        For code written against a plain Keras classifier (`classifier.predict(x)` and
        an argmax), such as `genkit.evaluate.classifier.class_accuracy`. Unlike `predict`,
        it does not clip values outside the range.
        """
        scale, offset = self._affine()
        if (scale, offset) == (1.0, 0.0):
            return self.model
        return keras.Sequential(
            [keras.Input(self.model.input_shape[1:]), keras.layers.Rescaling(scale, offset), self.model],
            name=f"{self.model.name}_in_range",
        )

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

        _check_data(data, "Extractor.from_keras")
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


def get_extractor(data, *, seed: int = 0, cache_dir=None, epochs: int | None = None) -> Extractor:
    """genkit's CNN for `data`: loaded from the cache, or trained on its real images and cached.

    Args:
        data: a labelled image `Dataset` (`load_data(..., need_labels=True)`). The network
            trains on train + validation and is scored on the test split.
        seed: seeds Keras (weights, shuffling, augmentation); part of the cache key. Keep
            the default so that every run on the same data is scored in the same space.
        cache_dir: folder of cached extractors; default `$GENKIT_CACHE/extractors`, else
            `$XDG_CACHE_HOME/genkit/extractors` or `~/.cache/genkit/extractors`.
        epochs: override the recipe's epoch count (part of the cache key).

    Entries are folders `<source>-<hash>/` holding `extractor.weights.h5` and `meta.json`,
    written atomically; an entry that cannot be read is trained again and replaced.
    Training calls `keras.utils.set_random_seed(seed)`.
    """
    _check_data(data, "get_extractor")
    recipe = dict(RECIPE)
    if epochs is not None:
        recipe["epochs"] = int(epochs)
    grid, labels = _training_set(data)
    key = _digest(grid, labels, recipe, seed, data.num_classes)
    entry = _cache_root(cache_dir) / f"{data.source}-{key[:12]}"
    extractor = _load_entry(entry, key, data)
    if extractor is None:
        extractor = _train_entry(entry, key, grid, labels, recipe, seed, data)
    return extractor


# --------------------------------------------------------------------------- data and key
def _check_data(data, who: str) -> None:
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


def _unit_grid(x: np.ndarray, value_range) -> np.ndarray:
    """Images in `value_range` as uint16 levels of [0, 1]: round((x - low) / (high - low) * 65535).

    8-bit data in either range lands on the same integers (k * 257): float32 round-off of
    the [-1, 1] mapping moves a level by < 0.02, far from the 0.5 that would change it. So
    both ranges give one key and one training set.
    """
    low, high = value_range
    out = np.empty(x.shape, np.uint16)
    for start in range(0, len(x), 10_000):  # chunks: one small float32 buffer at a time
        unit = x[start : start + 10_000] - np.float32(low)
        unit *= np.float32(_LEVELS / (high - low))
        np.clip(unit, 0, _LEVELS, out=unit)
        out[start : start + 10_000] = np.rint(unit, out=unit)
    return out


def _training_set(data) -> tuple[np.ndarray, np.ndarray]:
    """Train + validation on the uint16 grid, in an order that depends on the images only.

    The validation split is drawn with the spec seed, so runs with different seeds hold the
    same images in different orders; sorting by a fingerprint of each image gives them one
    cache entry.
    """
    grid = np.concatenate([_unit_grid(data.x_train, data.range), _unit_grid(data.x_val, data.range)])
    labels = np.concatenate([data.y_train, data.y_val]).astype(np.int32)
    weights = np.random.default_rng(0).integers(1, 2**20, size=int(np.prod(grid.shape[1:])), dtype=np.int64)
    flat = grid.reshape(len(grid), -1)
    # Exact integer fingerprints (< 2^16 * 2^20 * D, far below 2^63): no round-off to vary.
    fingerprint = np.concatenate([flat[i : i + 10_000].astype(np.int64) @ weights for i in range(0, len(flat), 10_000)])
    order = np.lexsort((labels, fingerprint))
    return np.ascontiguousarray(grid[order]), labels[order]


def _digest(grid, labels, recipe, seed, num_classes) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {"recipe": recipe, "seed": seed, "num_classes": num_classes, "shape": grid.shape}, sort_keys=True
        ).encode()
    )
    h.update(grid.tobytes())
    h.update(labels.tobytes())
    return h.hexdigest()


def _test_digest(data) -> str:
    h = hashlib.sha256(_unit_grid(data.x_test, data.range).tobytes())
    h.update(data.y_test.astype(np.int32).tobytes())
    return h.hexdigest()


def _cache_root(cache_dir) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("GENKIT_CACHE"):
        return Path(os.environ["GENKIT_CACHE"]).expanduser() / "extractors"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "genkit" / "extractors"


# --------------------------------------------------------------------------- the network
def _network(shape, num_classes: int, recipe: dict) -> keras.Sequential:
    layers = [keras.Input(tuple(shape))]
    for filters in recipe["filters"]:
        layers += [keras.layers.Conv2D(filters, 3, activation="relu"), keras.layers.MaxPooling2D()]
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dropout(recipe["dropout"]),
        # The features are this layer's output before its ReLU. After the ReLU, images far
        # from the domain (uniform noise, blank pages) all land near 0, among the real
        # digits of lowest activation: improved precision of noise came out 1.0 there, 0.0
        # here, and FID separated real from blurred digits 16x there, 33x here.
        keras.layers.Dense(recipe["feature_units"], name="features"),
        keras.layers.ReLU(),
        keras.layers.Dropout(recipe["dropout"]),
        keras.layers.Dense(num_classes, name="logits"),
    ]
    return keras.Sequential(layers, name="domain_cnn")


class _RandomAffine(keras.layers.Layer):
    """Training-only jitter: one random rotation, zoom and shift per image, in one resampling.

    Three Keras layers (RandomRotation, RandomZoom, RandomTranslation) resample three
    times; composing the transform first made training ~1.5x faster on 2 CPU cores.
    """

    def __init__(self, rotation, zoom, shift, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rotation, self.zoom, self.shift = rotation, zoom, shift
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training:
            return images
        ops = keras.ops
        batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]

        def uniform(limit):
            return keras.random.uniform((batch,), -limit, limit, seed=self.generator)

        angle = uniform(self.rotation * 2 * math.pi)
        scale = 1.0 + uniform(self.zoom)
        dx, dy = uniform(self.shift) * width, uniform(self.shift) * height
        # The output pixel (x, y) reads the input at A (x, y) + b: a rotation by `angle` and a
        # zoom by `scale` about the image centre, then a shift by (dx, dy).
        cos, sin = ops.cos(angle) / scale, ops.sin(angle) / scale
        cx, cy = (width - 1) / 2, (height - 1) / 2
        zero = ops.zeros_like(cos)
        transform = ops.stack(
            [cos, -sin, cx - cos * cx + sin * cy - dx, sin, cos, cy - sin * cx - cos * cy - dy, zero, zero], axis=1
        )  # (B, 8), the projective form affine_transform takes
        return ops.image.affine_transform(images, transform, interpolation="bilinear", fill_mode="constant")


def _epochs(n: int, recipe: dict) -> int:
    if "epochs" in recipe:
        return recipe["epochs"]
    return int(np.clip(math.ceil(recipe["images_seen"] / n), recipe["min_epochs"], recipe["max_epochs"]))


def _train(grid, labels, shape, num_classes, recipe, seed):
    keras.utils.set_random_seed(seed)
    x = grid.astype(np.float32) / _LEVELS  # (N, H, W, C) in [0, 1]
    model = _network(shape, num_classes, recipe)
    trainer = model
    if len(x) < recipe["augment_below"]:
        jitter = _RandomAffine(recipe["rotation"], recipe["zoom"], recipe["shift"], seed=seed)
        trainer = keras.Sequential([keras.Input(tuple(shape)), jitter, model])
    epochs = _epochs(len(x), recipe)
    steps = epochs * math.ceil(len(x) / recipe["batch_size"])
    trainer.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(recipe["learning_rate"], steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    trainer.fit(x, labels, batch_size=recipe["batch_size"], epochs=epochs, shuffle=True, verbose=0)
    return model, epochs


# --------------------------------------------------------------------------- the cache
_WEIGHTS, _META = "extractor.weights.h5", "meta.json"


def _name(data, key) -> str:
    return f"CNN trained on {data.source} ({data.origin}, hash {key[:12]})"


def _train_entry(entry: Path, key, grid, labels, recipe, seed, data) -> Extractor:
    start = time.perf_counter()
    model, epochs = _train(grid, labels, data.shape, data.num_classes, recipe, seed)
    seconds = time.perf_counter() - start
    meta = {
        "key": key,
        "recipe": recipe,
        "seed": seed,
        "epochs": epochs,
        "source": data.source,
        "origin": data.origin,
        "shape": list(data.shape),
        "num_classes": data.num_classes,
        "train_examples": len(grid),
        "training_seconds": round(seconds, 1),
        "test_examples": len(data.x_test),
        "test_key": _test_digest(data),
        "keras": keras.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    extractor = Extractor(
        model, accuracy=float("nan"), feature_layer="features", value_range=data.range, name=_name(data, key), meta=meta
    )
    extractor.accuracy = meta["accuracy"] = float(np.mean(extractor.predict(data.x_test) == data.y_test))
    with atomic_directory(entry) as tmp:
        model.save_weights(tmp / _WEIGHTS)
        (tmp / _META).write_text(json.dumps(meta, indent=2))
    return extractor


def _load_entry(entry: Path, key, data) -> Extractor | None:
    """The cached extractor, or None when there is none or it cannot be read (then it is retrained)."""
    try:
        meta = json.loads((entry / _META).read_text())
        if meta.get("key") != key:
            return None
        model = _network(meta["shape"], meta["num_classes"], meta["recipe"])
        model.load_weights(entry / _WEIGHTS)
        accuracy = float(meta["accuracy"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    extractor = Extractor(
        model, accuracy=accuracy, feature_layer="features", value_range=data.range, name=_name(data, key), meta=meta
    )
    test_key = _test_digest(data)
    if meta.get("test_key") != test_key:
        # Same training images, other test split (e.g. a different data.limit): score on this one.
        extractor.accuracy = float(np.mean(extractor.predict(data.x_test) == data.y_test))
        extractor.meta.update(test_key=test_key, test_examples=len(data.x_test), accuracy=extractor.accuracy)
    return extractor


def _penultimate_layer(model, path) -> str:
    """Name of the layer whose output feeds the last layer with weights (the final Dense, past any Softmax)."""
    for layer in reversed(model.layers):
        if layer.weights:
            source = layer.input._keras_history.operation  # the layer that produced its input
            if isinstance(source, keras.layers.InputLayer):
                break  # a one-layer classifier: its "features" would be the pixels
            return source.name
    raise GenkitError(f"feature extractor: cannot tell the feature layer of {path}; pass layer= to name it.")
