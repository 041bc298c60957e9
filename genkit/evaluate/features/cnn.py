"""genkit's domain CNN: the network of the feature extractor, its recipe and its training.

A compact classifier (two 3x3 convolution + max-pool stages, a 256-unit Dense layer whose
output before its ReLU is the feature space, a Dense layer of logits), trained on images
in [0, 1] with Adam and a cosine-decayed learning rate; small training sets also get
random affine jitter (`RECIPE["augment_below"]`).

With `heads` the logits are several softmax groups, one per categorical factor (shape, colour),
trained with the sum of their cross-entropies (`heads_loss`): the features must then tell
every factor apart, and each head learns from every image (see `cache` for why).
"""

from __future__ import annotations

import math

import keras
import numpy as np

__all__ = ["LEVELS", "RECIPE", "RECIPE_VERSION", "domain_cnn", "heads_loss", "train_domain_cnn"]

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

LEVELS = 65535  # [0, 1] images are keyed and trained on this grid: x = round(u * 65535) / 65535


def domain_cnn(shape, num_classes: int, recipe: dict) -> keras.Sequential:
    """The classifier for images of `shape` (in [0, 1]); its "features" layer is the feature space."""
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


def heads_loss(heads):
    """Summed sparse cross-entropy of softmax groups: logits (B, sum(heads)), one group per head; y (B, len(heads))."""
    bounds = np.cumsum((0, *heads)).tolist()

    def loss(y_true, logits):
        y_true = keras.ops.cast(y_true, "int32")
        return sum(
            keras.losses.sparse_categorical_crossentropy(y_true[:, h], logits[:, bounds[h] : bounds[h + 1]], from_logits=True)
            for h in range(len(heads))
        )

    return loss


def train_domain_cnn(grid, labels, shape, num_classes, recipe, seed, heads=None):
    """Train the CNN on `grid` (uint16 levels of [0, 1]) and its labels; returns (model, epochs).

    With `heads` (sizes summing to `num_classes`), `labels` is (N, len(heads)): one class per head.
    """
    keras.utils.set_random_seed(seed)
    x = grid.astype(np.float32) / LEVELS  # (N, H, W, C) in [0, 1]
    model = domain_cnn(shape, num_classes, recipe)
    trainer = model
    if len(x) < recipe["augment_below"]:
        jitter = _RandomAffine(recipe["rotation"], recipe["zoom"], recipe["shift"], seed=seed)
        trainer = keras.Sequential([keras.Input(tuple(shape)), jitter, model])
    epochs = _epochs(len(x), recipe)
    steps = epochs * math.ceil(len(x) / recipe["batch_size"])
    trainer.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(recipe["learning_rate"], steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True) if heads is None else heads_loss(heads),
    )
    trainer.fit(x, labels, batch_size=recipe["batch_size"], epochs=epochs, shuffle=True, verbose=0)
    return model, epochs
