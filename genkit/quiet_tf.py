"""Import TensorFlow without its start-up chatter on stderr.

TensorFlow 2.21 writes INFO lines (oneDNN, missing CUDA drivers, cuInit) from C++ before
absl logging is initialised, so TF_CPP_MIN_LOG_LEVEL does not hide them. The CLI imports
TensorFlow inside `quiet_tensorflow_import()`, which routes file descriptor 2 to a
temporary file for the import and the device probe, then replays every line that is not
one of those known start-up messages. Anything unexpected still reaches the user.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

__all__ = ["quiet_tensorflow_import"]

_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations are on|"
    r"Could not find cuda drivers|failed call to cuInit|cpu_feature_guard|"
    r"TensorFlow binary is optimized to use available CPU instructions|"
    r"To enable the following instructions|rebuild TensorFlow with the appropriate compiler flags"
)


def quiet_tensorflow_import() -> None:
    """Import TensorFlow (and probe devices) with its known start-up lines filtered out."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # triggers the CUDA probe while stderr is captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                if not _NOISE.search(line):
                    print(line, file=sys.stderr)
