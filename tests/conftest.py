"""Test-wide settings: offline data, quiet TensorFlow, tiny specs."""

import os

# Tests never download: builtin datasets come from the Keras cache or packaged fallbacks.
os.environ.setdefault("GENKIT_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests write specs, runs and exports under pytest's tmp folders, outside the project
# folder; tests of the confinement itself remove this.
os.environ.setdefault("GENKIT_ALLOW_OUTSIDE_PATHS", "1")
# Feature extractors trained by tests are cached in a throwaway folder, not ~/.cache.
if "GENKIT_CACHE" not in os.environ:
    import tempfile

    os.environ["GENKIT_CACHE"] = tempfile.mkdtemp(prefix="genkit-test-cache-")
