"""The domain feature extractor: a compact CNN trained on a data set's own real images.

FID, KID and precision/recall (`genkit.evaluate.distribution`) compare sets of images in a
feature space. FID (Heusel et al. 2017) uses Inception-v3 trained on ImageNet, which has
never seen a 28x28 grayscale digit; for MNIST-scale data the usual substitute, used here,
is the penultimate layer of a classifier trained on the domain itself (here its Dense
output before the ReLU; see `cnn.domain_cnn`). The classifier's
test accuracy goes with every number computed from it (`Extractor.describe()`), so a weak
feature space is visible next to the score it produced.

- `get_extractor(data)` trains that classifier on the real training split (train +
  validation) — on `shapes`, on shape x colour classes rather than the shape labels, so
  that the features see colour (`cache` explains why) — and caches it under `$GENKIT_CACHE/extractors` (default
  `~/.cache/genkit/extractors`), keyed by a sha256 of the training images, the labels,
  the recipe and the seed; a later call with the same data loads it in about a second.
- `Extractor.from_keras(path, data)` uses a classifier of your own instead.

The network always sees images in [0, 1]: data in [-1, 1] is mapped back first, and the
cache key is computed from those [0, 1] images, so one cached extractor serves both ranges.

Modules: `extractor` (`Extractor`), `cnn` (the network, its recipe and training), `cache`
(`get_extractor`: the cache key and entries).

Example:

    extractor = get_extractor(data)
    print(extractor.describe())  # CNN trained on mnist (..., hash 3f9c0a1b2d4e) - test accuracy 0.9850 ...
    fid = frechet_distance(extractor.features(data.x_test), extractor.features(samples))
"""

from genkit.evaluate.features.cache import get_extractor
from genkit.evaluate.features.cnn import RECIPE
from genkit.evaluate.features.extractor import Extractor

__all__ = ["RECIPE", "Extractor", "get_extractor"]
