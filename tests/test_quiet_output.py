"""genkit's output says what genkit does: no third-party log lines, no offline download notices.

The runs go through `genkit.cli.main` in a fresh interpreter, because TensorFlow reads its
log level once, at import; the network is cut inside that interpreter (socket.getaddrinfo
fails) and Keras's cache is empty, so Keras really tries its download and fails, as on an
offline machine.
"""

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from genkit.data import load_data
from genkit.progress import phase
from genkit.spec import validate_dict
from genkit.spec.card import card, family_names
from genkit.spec.data_section import DataSpec
from genkit.train.gan_monitor import DISCRIMINATOR_REMEDIES, AdversarialMonitor, discriminator_remedies
from genkit.train.health import (
    D_FAKE_FLOOR,
    discriminator_wins,
    kl_collapse,
    read_history,
    record_warnings,
    training_warnings,
)
from tests.tiny import contract_spec, tiny_gan_spec, tiny_spec

REPO = Path(__file__).resolve().parents[1]
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
    env.update(KERAS_HOME=str(tmp_path / "keras-home"), PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_MAIN, *argv], cwd=tmp_path, env=env, check=False, capture_output=True, text=True, timeout=300
    )
    return done.returncode, done.stdout + done.stderr


def write_spec(tmp_path, spec: dict) -> str:
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path.name


TINY = ["--set", "train.steps_per_epoch=2", "--set", "data.limit=256"]


def test_a_gan_run_says_what_evaluation_and_export_are_doing(tmp_path):
    spec = tiny_gan_spec("gan", **{"evaluate.metrics": ["fid", "kid"], "evaluate.samples": 64})
    code, output = run_cli(tmp_path, "run", write_spec(tmp_path, spec), *TINY)
    assert code == 0, output[-3000:]
    for line in (
        r"evaluating: sampling 64 images for fid, kid … \d+\.\d s",  # 64: evaluate.samples
        r"evaluating: fid, kid on 64 samples vs 64 real test images … \d+\.\d s",
        r"exporting: generator, discriminator to ONNX, each checked against Keras through onnxruntime … \d+\.\d s",
    ):
        assert re.search(f"^{line}$", output, re.MULTILINE), (line, output)
    assert not NOISE.findall(output) and "Downloading data from" not in output


EVERY_RUN = OFFLINE_MAIN.replace(
    "sys.exit(main(sys.argv[1:]))\n",
    # One interpreter for all the runs (TensorFlow starts once); a marker line before each.
    "for path in sys.argv[1:]:\n    print(f'=== {path}', flush=True)\n    print(f'=== exit {main([\"run\", path])}', flush=True)\n",
)


@pytest.mark.slow  # ~3 min: every family trains, evaluates and exports
def test_every_familys_starter_runs_without_third_party_lines(tmp_path):
    """What `genkit new FAMILY` writes, shrunk to seconds, run as `genkit run`: only genkit's own lines."""
    paths = [write_spec(tmp_path, contract_spec(family)) for family in family_names()]
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "GENKIT_OFFLINE")}
    env.update(KERAS_HOME=str(tmp_path / "keras-home"), PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", EVERY_RUN, *paths], cwd=tmp_path, env=env, check=False, capture_output=True, text=True, timeout=900
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert output.count("=== exit 0") == len(paths), output[-3000:]
    assert not NOISE.findall(output), NOISE.findall(output)
    assert "Downloading data from" not in output
    assert output.count("offline fallback") >= len(paths)  # the data came from the packaged copy after the failed download
    assert len(re.findall(r"^evaluating: .* … \d+\.\d s$", output, re.MULTILINE)) >= len(paths), output[-3000:]
    for record in tmp_path.glob("runs/*/*/run.json"):
        assert isinstance(json.loads(record.read_text())["warnings"], list)  # the end-of-training checks ran
    assert len(list(tmp_path.glob("runs/*/*/run.json"))) == len(paths)


def test_debug_brings_tensorflow_log_lines_back(tmp_path):
    code, output = run_cli(tmp_path, "--debug", "train", write_spec(tmp_path, tiny_spec("vae")), *TINY)
    assert code == 0, output[-3000:]
    # oneDNN's start-up line (x86 builds), the CUDA probe's (CUDA builds without a GPU), or more.
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


# --------------------------------------------------------------------------- end-of-training warnings
def vae_history(final_kl: float) -> dict:
    return {"epoch": [0, 1, 2], "kl": [9.0, 4.0, 1.0], "neg_elbo": [200.0, 150.0, 140.0], "val_kl": [8.0, 3.0, final_kl]}


def test_a_collapsed_kl_is_warned_about_with_the_fields_to_change():
    spec = validate_dict(tiny_spec("vae", **{"loss.kl_weight": 4.0}))
    warning = kl_collapse(vae_history(0.41), spec)
    assert warning.startswith("warning: KL collapse: the validation KL ended at 0.41 nats")
    assert "decoder ignores z" in warning
    assert "loss.kl_weight (now 4;" in warning and "a longer KL warm-up, loss.kl_warmup_epochs (now 1;" in warning
    assert "model.latent_dim that suits the data (now 4)" in warning


def test_a_used_code_or_a_kl_capacity_run_gets_the_right_advice():
    assert kl_collapse(vae_history(6.5), validate_dict(tiny_spec("vae"))) is None
    capacity = tiny_spec("vae", **{"loss.kl_capacity": {"max_nats": 0.2, "epochs": 1}})
    del capacity["loss"]["kl_warmup_epochs"]
    warning = kl_collapse(vae_history(0.1), validate_dict(capacity))
    assert "loss.kl_capacity.max_nats (now 0.2)" in warning and "kl_weight" not in warning


def test_the_kl_of_a_family_without_an_elbo_is_not_judged():
    spec = validate_dict(tiny_spec("vae"))
    assert kl_collapse({"kl": [0.01], "loss": [3.0]}, spec) is None  # e.g. a sparsity penalty named kl


def gan_history(d_fake: list) -> dict:
    return {"epoch": list(range(len(d_fake))), "d_fake": d_fake, "g_loss": [5.0] * len(d_fake)}


def test_a_discriminator_winning_for_the_last_epochs_is_warned_about_with_the_cards_remedies():
    spec = validate_dict(tiny_gan_spec("gan"))
    warning = discriminator_wins(gan_history([0.4, 0.2, 0.03, 0.01, 0.004]), spec)
    assert warning.startswith(f"warning: the discriminator won: mean D(G(z)) stayed below {D_FAKE_FLOOR} for the last 3 epochs")
    assert "loss.label_smoothing: 0.1" in warning and "train.optimizers.discriminator" in warning
    assert card("gan").monitor.remedies in warning  # mode collapse often follows: the card's own advice


def test_a_discriminator_that_lost_grip_again_or_a_critic_gets_no_warning():
    spec = validate_dict(tiny_gan_spec("gan"))
    assert discriminator_wins(gan_history([0.01, 0.01, 0.01, 0.3]), spec) is None  # recovered at the end
    assert discriminator_wins(gan_history([0.3, 0.01]), spec) is None  # not all of the last epochs
    critic = validate_dict(tiny_gan_spec("wgan"))
    assert discriminator_wins(gan_history([0.0, 0.0, 0.0]), critic) is None  # a critic's score is no probability


def test_the_discriminator_advice_names_only_options_the_family_has():
    gan = validate_dict(tiny_gan_spec("gan"))
    fields = [field for field, _ in DISCRIMINATOR_REMEDIES if field]
    assert all(field in type(gan.loss).model_fields for field in fields)  # no typo: the gan family has them all
    advice = discriminator_remedies(SimpleNamespace(label_smoothing=0.0))  # a family with label smoothing only
    assert "loss.label_smoothing: 0.1" in advice and "train.optimizers.discriminator" in advice
    assert "loss.discriminator_steps" not in advice and "loss.generator_loss" not in advice


def test_the_monitor_during_training_gives_the_familys_own_advice():
    stream = io.StringIO()
    advice = discriminator_remedies(SimpleNamespace())  # a family with none of the loss options
    monitor = AdversarialMonitor(np.zeros((2, 4)), card("gan").monitor.remedies, patience=2, stream=stream, discriminator_remedies=advice)
    for step in range(3):
        monitor.on_train_batch_end(step, {"d_fake": 0.001})
    assert f"Try: {advice}." in stream.getvalue() and "loss." not in stream.getvalue()


def test_the_warnings_are_read_from_history_csv_and_kept_in_run_json(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,kl,neg_elbo,val_kl\n0,3.0,150.0,2.0\n1,0.5,140.0,0.3\n")
    (tmp_path / "run.json").write_text(json.dumps({"seed": 3}))
    warnings = training_warnings(read_history(tmp_path / "history.csv"), validate_dict(tiny_spec("vae")))
    assert len(warnings) == 1 and "0.3 nats" in warnings[0]
    record_warnings(tmp_path, warnings)
    assert json.loads((tmp_path / "run.json").read_text()) == {"seed": 3, "warnings": warnings}


# --------------------------------------------------------------------------- progress lines
def test_a_phase_says_what_it_does_then_its_time_on_the_same_line(capsys):
    with phase("evaluating: fid"):
        pass
    assert re.fullmatch(r"evaluating: fid … \d+\.\d s\n", capsys.readouterr().out)


def test_a_phase_inside_another_ends_the_outer_line_first(capsys):
    with phase("evaluating: fid"), phase("feature extractor: training a CNN"):
        pass
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "evaluating: fid … "
    assert re.fullmatch(r"feature extractor: training a CNN … \d+\.\d s", lines[1])
    assert re.fullmatch(r"evaluating: fid: done in \d+\.\d s", lines[2])


def test_a_failed_phase_ends_its_line_before_the_error(capsys):
    with pytest.raises(KeyboardInterrupt), phase("exporting: generator"):
        raise KeyboardInterrupt
    assert re.fullmatch(r"exporting: generator … stopped after \d+\.\d s\n", capsys.readouterr().out)
    with phase("evaluating: kid"):  # and the next phase starts on a line of its own
        pass
    assert capsys.readouterr().out.startswith("evaluating: kid … ")
