"""Discovery commands: genkit new, validate --print, layers [--family]."""

import os
import re
import subprocess
import sys

import pytest
import yaml

from genkit.cli import PIPE_CLOSED, main
from genkit.spec import validate_dict
from genkit.spec.card import family_names

FAMILIES = family_names()

OFFLINE_DATASETS = ("mnist", "fashion_mnist")  # cifar10 has no packaged offline copy


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("dataset", OFFLINE_DATASETS)
def test_new_writes_a_spec_that_validates(family, dataset, tmp_path, capsys):
    out = tmp_path / "starter.yaml"
    assert main(["new", family, "--dataset", dataset, "--out", str(out)]) == 0
    assert main(["validate", str(out)]) == 0
    assert f"valid {family} spec" in capsys.readouterr().out


def test_new_help_lists_every_family(capsys):
    with pytest.raises(SystemExit):
        main(["new", "--help"])
    listed = " ".join(capsys.readouterr().out.split())  # argparse wraps the list over lines
    assert [f for f in FAMILIES if not re.search(rf"\b{f}\b", listed)] == []
    assert len(FAMILIES) >= 16  # ProGAN, StyleGAN, InfoGAN and latent diffusion included


def test_new_cifar10_starter_matches_the_schema_and_its_colour_images():
    from genkit.spec.starter import starter_spec

    spec = validate_dict(yaml.safe_load(starter_spec("vae", "cifar10")))
    assert spec.model.networks["encoder"].input == [32, 32, 3]
    assert spec.model.networks["decoder"].layers[-1]["Conv2D"]["filters"] == 3


def test_new_starter_runs_as_written(tmp_path):
    out = tmp_path / "vae.yaml"
    assert main(["new", "vae", "--out", str(out)]) == 0
    overrides = ["train.epochs=1", "train.steps_per_epoch=2", "data.limit=256", "train.tensorboard=false",
                 f"runs_dir={tmp_path / 'runs'}", f"export.dir={tmp_path / 'export'}"]
    assert main(["run", str(out), *sum((["--set", o] for o in overrides), [])]) == 0
    assert (tmp_path / "export" / "decoder.onnx").is_file()


def test_new_refuses_to_overwrite_and_suggests_family_names(tmp_path, capsys):
    out = tmp_path / "x.yaml"
    out.write_text("keep me")
    assert main(["new", "vae", "--out", str(out)]) == 2
    assert out.read_text() == "keep me"
    assert main(["new", "vea"]) == 2
    assert "Did you mean 'vae'" in capsys.readouterr().err


def test_validate_print_shows_the_resolved_spec_which_validates_again(capsys):
    assert main(["validate", "specs/vae_mnist.yaml", "--print", "--set", "train.epochs=3"]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["train"]["epochs"] == 3 and resolved["data"]["shuffle"] is True
    assert validate_dict(resolved).model.latent_dim == 2


def test_layers_family_shows_its_options_and_only_the_layers_that_fit(capsys):
    assert main(["layers", "--family", "sparse_ae"]) == 0
    out = capsys.readouterr().out
    assert "loss.sparsity_target" in out and "networks encoder, decoder" in out
    assert any(line.startswith("Conv2D ") and "filters" in line for line in out.splitlines())
    # Sampling is added by the VAE families themselves; LSTM fits no image network.
    names = {line.split()[0] for line in out.splitlines() if line and not line.startswith((" ", "left out"))}
    assert "Sampling" not in names and "LSTM" not in names


def layer_lines(out):
    """{name: line} of the layer table lines in `genkit layers` output."""
    return {line.split()[0]: line for line in out.splitlines() if re.match(r"^\w+ +(genkit|keras|plugin) ", line)}


def test_layers_family_cvae_is_short_and_relevant(capsys):
    assert main(["layers"]) == 0
    every = layer_lines(capsys.readouterr().out)
    assert main(["layers", "--family", "cvae"]) == 0
    out = capsys.readouterr().out
    listed = layer_lines(out)
    assert len(listed) <= 40 < len(every)
    assert {"Conv2D", "Conv2DTranspose", "Dense", "Flatten", "Reshape", "MaxPooling2D", "ConcatCondition"} <= set(listed)
    assert not {"LSTM", "TextVectorization", "Conv1D", "RandomFlip", "ResBlock", "ModulatedConv2D", "Sampling"} & set(listed)
    keras_left = [n for n, line in every.items() if n not in listed and line.split()[1] == "keras"]
    left = out.strip().splitlines()[-1]
    assert left.startswith(f"left out: {len(keras_left)} Keras layers") and "`genkit layers`" in left
    assert "ResBlock" in left and "Sampling" in left


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        ("ddpm", {"ResBlock", "SinusoidalEmbedding", "SelfAttention2D", "ConcatCondition"}),
        ("progan", {"EqualizedConv2D", "EqualizedDense", "PixelNormalization", "MinibatchStdDev"}),
        ("stylegan", {"ModulatedConv2D", "NoiseInjection", "LearnedConstant", "EqualizedDense"}),
        ("gan", {"MinibatchDiscrimination", "VirtualBatchNormalization"}),
    ],
)
def test_layers_family_lists_the_blocks_of_its_kind(family, expected, capsys):
    assert main(["layers", "--family", family, "--blocks"]) == 0
    listed = layer_lines(capsys.readouterr().out)
    assert expected <= set(listed)
    assert all(listed[name].split()[1] == "genkit" for name in listed)


def test_layers_table_shows_what_from_gives_each_layer(capsys):
    assert main(["layers"]) == 0
    lines = layer_lines(capsys.readouterr().out)
    assert "x or [x, emb]" in lines["ResBlock"] and "filters" in lines["ResBlock"]
    assert "[x, w]" in lines["ModulatedConv2D"]
    assert "[a, b, ...]" in lines["Concatenate"] and " x " in lines["Conv2D"]


@pytest.mark.parametrize("argv", [["schema"], ["layers", "--blocks"]])
def test_output_into_a_closed_pipe_ends_quietly(argv):
    # `genkit layers | head`: the reader is gone before the command writes. Closing the read
    # end first makes every write fail, whatever the timing.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "genkit.cli", *argv], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120, check=False
        )
    finally:
        os.close(write_end)
    assert done.returncode == PIPE_CLOSED, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr and "Exception ignored" not in done.stderr
