"""genkit: declarative deep generative models from YAML specs.

The Python API (see `genkit.api`); importing it does not import TensorFlow:

    import genkit

    spec = genkit.load_spec("specs/vae_mnist.yaml", ["train.epochs=2"])
    run = genkit.train(spec)                      # train, evaluate, export: `genkit run`
    run.history[-1], run.metrics                  # per-epoch logs, held-out metrics
    sampler = genkit.load_export(run.export_dir)  # onnxruntime only
    x, y = sampler.sample(16, seed=0)
"""

import sys
import types

from genkit.api import Run, load_export, load_spec, open_run, train
from genkit.errors import GenkitError, SpecError
from genkit.version import __version__

__all__ = ["GenkitError", "Run", "SpecError", "__version__", "load_export", "load_spec", "open_run", "train"]


class _Package(types.ModuleType):
    """`genkit.train` is the API function, and `genkit.train` is also the train stage's package.

    Importing that package (which `train` itself does) sets the attribute of the same name on
    `genkit`; this keeps the function there. The package is imported by its full name, as
    genkit's own modules do: `from genkit.train import prepare`, `importlib.import_module("genkit.train")`.
    """

    def __setattr__(self, name, value):
        if name == "train" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
