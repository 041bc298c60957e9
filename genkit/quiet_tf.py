"""Import TensorFlow without its log chatter on stderr; `--debug` keeps it.

Two kinds of lines come from TensorFlow's C++ side, not from Python logging:

1. Start-up lines (oneDNN, missing CUDA drivers, cuInit) written during the import, before
   absl logging is initialised, so TF_CPP_MIN_LOG_LEVEL does not hide them.
   `quiet_tensorflow_import()` routes file descriptor 2 to a temporary file for the import
   and the device probe, then replays every line that is not one of those known messages.
2. Lines logged while graphs run (`E0000 … remapper failed`, `oneDNN supports DT_HALF only
   …`, `NodeDef mentions attribute use_unbounded_threadpool`). TensorFlow 2.21 logs them
   at ERROR level although training goes on unharmed; TF_CPP_MIN_LOG_LEVEL=3 hides them,
   read once when TensorFlow is imported. A real failure still reaches the user: it is
   raised as a Python exception with its message.

A value the user set in the environment is always kept.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

__all__ = ["QUIET_ENVIRONMENT", "quiet_tensorflow_import", "tensorflow_logs"]

# Read by TensorFlow's C++ logging when it is imported. 3: hide INFO, WARNING and ERROR lines.
QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3"}

_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations are on|"
    r"Could not find cuda drivers|failed call to cuInit|cpu_feature_guard|"
    r"TensorFlow binary is optimized to use available CPU instructions|"
    r"To enable the following instructions|rebuild TensorFlow with the appropriate compiler flags"
)

_QUIET = {"on": True}  # False after tensorflow_logs(show=True): `--debug`


def tensorflow_logs(show: bool) -> None:
    """Before TensorFlow is imported: hide its C++ log lines (show=False), or keep them all (`--debug`).

    Hiding sets QUIET_ENVIRONMENT's variables where the user has not set them; showing
    leaves the environment as it is and makes `quiet_tensorflow_import` a plain import.
    """
    _QUIET["on"] = not show
    if not show:
        for name, value in QUIET_ENVIRONMENT.items():
            os.environ.setdefault(name, value)


def quiet_tensorflow_import() -> None:
    """Import TensorFlow (and probe devices) with its known start-up lines filtered out."""
    if "tensorflow" in sys.modules:
        return
    if not _QUIET["on"]:
        import tensorflow  # noqa: F401 - --debug: every line as TensorFlow writes it

        return
    tensorflow_logs(show=False)
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
