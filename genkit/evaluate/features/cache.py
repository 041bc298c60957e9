"""`get_extractor`: genkit's CNN for a data set, trained once and cached under `$GENKIT_CACHE/extractors`.

The cache key is a sha256 of the training images (on a uint16 grid of [0, 1], in an order
that depends on the images only), the classes, the recipe and the seed, so one entry serves
both value ranges and every validation split of the same images.

The CNN learns the data's labels, except on data with ground-truth factors (`shapes`). There
the labels are the shapes alone, and a CNN trained on them learns features that ignore colour:
FID could not see a generator that gets the colours wrong. So it learns every categorical
factor, with one softmax head each (shape: 4, colour: 6) on the shared feature layer, trained
on the sum of their cross-entropies; the shape head still answers the labels for class
accuracy, and the heads together tell the 24 shape x colour combinations apart (mode
coverage). One softmax over the 24 combinations was tried first: in the same training it
reached only 0.93 shape accuracy at 32x32 (hearts and ellipses confused; 0.94 on its own
training images), since each shape had to be learnt once per colour; the heads reach 0.995
with every colour right. `benchmarks/shapes_feature_space.py` measures what each space sees.
The ordered factors (scale, rotation, position) get no head: they are what a generator varies
within a class, as handwriting varies within a digit.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import keras
import numpy as np

from genkit.atomic import atomic_directory
from genkit.cache import cache_dir as default_cache_dir
from genkit.evaluate.features.cnn import LEVELS, RECIPE, domain_cnn, train_domain_cnn
from genkit.evaluate.features.extractor import Extractor, check_data
from genkit.progress import phase

__all__ = ["get_extractor"]


def get_extractor(data, *, seed: int = 0, cache_dir=None, epochs: int | None = None) -> Extractor:
    """genkit's CNN for `data`: loaded from the cache, or trained on its real images and cached.

    Args:
        data: a labelled image `Dataset` (`load_data(..., need_labels=True)`). The network
            trains on train + validation and is scored on the test split; on data with
            ground-truth factors it learns shape x colour classes (see the module docstring).
        seed: seeds Keras (weights, shuffling, augmentation); part of the cache key. Keep
            the default so that every run on the same data is scored in the same space.
        cache_dir: folder of cached extractors; default `$GENKIT_CACHE/extractors`, else
            `$XDG_CACHE_HOME/genkit/extractors` or `~/.cache/genkit/extractors`.
        epochs: override the recipe's epoch count (part of the cache key).

    Entries are folders `<source>-<hash>/` holding `extractor.weights.h5` and `meta.json`,
    written atomically; an entry that cannot be read is trained again and replaced.
    Training calls `keras.utils.set_random_seed(seed)`.
    """
    check_data(data, "get_extractor")
    recipe = dict(RECIPE)
    if epochs is not None:
        recipe["epochs"] = int(epochs)
    heads = _heads(data)
    grid, labels = _training_set(data, heads)
    num_classes = data.num_classes if heads is None else sum(heads["sizes"])
    key = _digest(grid, labels, recipe, seed, num_classes)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir("extractors")
    entry = root / f"{data.source}-{key[:12]}"
    extractor = _load_entry(entry, key, data)
    if extractor is None:
        extractor = _train_entry(entry, key, grid, labels, recipe, seed, data, num_classes, heads)
    return extractor


def _heads(data) -> dict | None:
    """The softmax heads of data with two or more categorical factors (shapes: shape, colour); else None."""
    space = data.factor_space
    if space is None or len(space.categorical_columns) < 2:
        return None
    columns = space.categorical_columns
    return {
        "columns": list(columns),
        "sizes": [space.sizes[f] for f in columns],
        "label_head": columns.index(space.index(space.label)),
        "classes": space.describe_joint(),
    }


# --------------------------------------------------------------------------- data and key
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
        unit *= np.float32(LEVELS / (high - low))
        np.clip(unit, 0, LEVELS, out=unit)
        out[start : start + 10_000] = np.rint(unit, out=unit)
    return out


def _training_set(data, heads=None) -> tuple[np.ndarray, np.ndarray]:
    """Train + validation on the uint16 grid with their labels, (N,), or with the heads'
    classes, (N, heads), in an order that depends on the images only.

    The validation split is drawn with the spec seed, so runs with different seeds hold the
    same images in different orders; sorting by a fingerprint of each image gives them one
    cache entry.
    """
    grid = np.concatenate([_unit_grid(data.x_train, data.range), _unit_grid(data.x_val, data.range)])
    if heads is None:
        labels = np.concatenate([data.y_train, data.y_val]).astype(np.int32)
    else:
        labels = np.concatenate([data.factors_train, data.factors_val])[:, heads["columns"]].astype(np.int32)
    weights = np.random.default_rng(0).integers(1, 2**20, size=int(np.prod(grid.shape[1:])), dtype=np.int64)
    flat = grid.reshape(len(grid), -1)
    # Exact integer fingerprints (< 2^16 * 2^20 * D, far below 2^63): no round-off to vary.
    fingerprint = np.concatenate([flat[i : i + 10_000].astype(np.int64) @ weights for i in range(0, len(flat), 10_000)])
    order = np.lexsort((*labels.reshape(len(labels), -1).T[::-1], fingerprint))
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


# --------------------------------------------------------------------------- the cache
_WEIGHTS, _META = "extractor.weights.h5", "meta.json"


def _name(data, key) -> str:
    return f"CNN trained on {data.source} ({data.origin}, hash {key[:12]})"


def _train_entry(entry: Path, key, grid, labels, recipe, seed, data, num_classes, heads) -> Extractor:
    start = time.perf_counter()
    what = f"feature extractor: training a CNN on {len(grid):,} {data.source} images (once: it is cached for later runs)"
    with phase(what):
        model, epochs = train_domain_cnn(grid, labels, data.shape, num_classes, recipe, seed, heads=heads and heads["sizes"])
    seconds = time.perf_counter() - start
    meta = {
        "key": key,
        "recipe": recipe,
        "seed": seed,
        "epochs": epochs,
        "source": data.source,
        "origin": data.origin,
        "shape": list(data.shape),
        "num_classes": num_classes,
        "heads": heads,  # None: one softmax over the labels
        "train_examples": len(grid),
        "training_seconds": round(seconds, 1),
        "test_examples": len(data.x_test),
        "test_key": _test_digest(data),
        "keras": keras.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    extractor = Extractor(
        model,
        accuracy=float("nan"),
        feature_layer="features",
        value_range=data.range,
        name=_name(data, key),
        meta=meta,
        **_head_arguments(heads),
    )
    _score(extractor, data)
    with atomic_directory(entry) as tmp:
        model.save_weights(tmp / _WEIGHTS)
        (tmp / _META).write_text(json.dumps(extractor.meta, indent=2))  # with the accuracies _score added
    return extractor


def _load_entry(entry: Path, key, data) -> Extractor | None:
    """The cached extractor, or None when there is none or it cannot be read (then it is retrained)."""
    try:
        meta = json.loads((entry / _META).read_text())
        if meta.get("key") != key:
            return None
        model = domain_cnn(meta["shape"], meta["num_classes"], meta["recipe"])
        model.load_weights(entry / _WEIGHTS)
        accuracy = float(meta["accuracy"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    extractor = Extractor(
        model,
        accuracy=accuracy,
        feature_layer="features",
        value_range=data.range,
        name=_name(data, key),
        meta=meta,
        **_head_arguments(meta.get("heads")),
    )
    test_key = _test_digest(data)
    if meta.get("test_key") != test_key:
        # Same training images, other test split (e.g. a different data.limit): score on this one.
        _score(extractor, data)
        extractor.meta.update(test_key=test_key, test_examples=len(data.x_test))
    return extractor


def _score(extractor: Extractor, data) -> None:
    """Test accuracy in labels (`accuracy`) and, for joint classes, in the network's own (`mode_accuracy`)."""
    extractor.accuracy = extractor.meta["accuracy"] = float(np.mean(extractor.predict(data.x_test) == data.y_test))
    if extractor.heads is not None:
        classes = data.factor_space.joint_classes(data.factors_test)
        extractor.meta["mode_accuracy"] = float(np.mean(extractor.predict_modes(data.x_test) == classes))


def _head_arguments(heads) -> dict:
    if heads is None:
        return {}
    return {"heads": heads["sizes"], "label_head": heads["label_head"]}
