"""Discovery commands: genkit new, validate --print, layers [--family]."""

import pytest
import yaml

from genkit.cli import main
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


def test_layers_lists_keras_layers_blocks_and_family_options(capsys):
    assert main(["layers", "--family", "sparse_ae"]) == 0
    out = capsys.readouterr().out
    assert "loss.sparsity_target" in out and "networks encoder, decoder" in out
    assert any(line.startswith("Conv2D ") and "filters" in line for line in out.splitlines())
    assert any(line.startswith("Sampling ") and "genkit" in line for line in out.splitlines())
