"""Training data: find the images a spec names, split them, and feed them to Keras.

`load_data(spec.data, spec.seed)` returns a `Dataset` of NumPy arrays (train,
validation, test) in the spec's value range; `Dataset.train_dataset(...)` and
`Dataset.eval_dataset(...)` wrap them in tf.data pipelines. Sources are registered by
name (`register_source`) and match the options of `DataSpec.source`:

- `mnist`, `fashion_mnist`, `cifar10`: keras.datasets, found offline first (builtin.py);
- `shapes`: coloured sprites genkit draws, with ground-truth factors (shapes.py, factors.py);
- `npz`: arrays in a NumPy file (npz.py);
- `folder`: PNG/JPEG images in one sub-folder per class (folder.py);
- `npz_shards`, `tfrecord`: data larger than memory, streamed from shards (shards.py).

Nothing here imports TensorFlow at module load. The denoising corruptions live in
`genkit.data.corruption`, which imports Keras and is imported by the families that use it.
"""

from genkit.data import builtin, folder, npz, shapes  # noqa: F401  (importing them registers the sources)
from genkit.data.arrays import limited_test_size
from genkit.data.builtin import BUILTIN_CLASSES, BUILTIN_SHAPES
from genkit.data.dataset import Dataset
from genkit.data.factors import FactorSpace
from genkit.data.load import known_shape, load_data
from genkit.data.source import SOURCES, RawData, register_source

__all__ = [
    "BUILTIN_CLASSES",
    "BUILTIN_SHAPES",
    "SOURCES",
    "Dataset",
    "FactorSpace",
    "RawData",
    "known_shape",
    "limited_test_size",
    "load_data",
    "register_source",
]
