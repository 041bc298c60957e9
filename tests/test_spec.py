"""Spec loading: defaults, overrides, extends, and errors that name file, line and field."""

import textwrap

import pytest

from genkit.errors import SpecError
from genkit.spec import load_spec
from genkit.spec.card import cards
from genkit.spec.section import Section

MINIMAL = """\
name: tiny
model:
  family: vae
  latent_dim: 4
  networks:
    encoder:
      layers:
        - Flatten: {}
        - Dense: {units: 8, activation: relu}
    decoder:
      layers:
        - Dense: {units: 784, activation: sigmoid}
        - Reshape: {target_shape: [28, 28, 1]}
"""


def write(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path, overrides=()):
    with pytest.raises(SpecError) as info:
        load_spec(path, overrides)
    return info.value.problems


def test_minimal_spec_gets_every_default(tmp_path):
    spec = load_spec(write(tmp_path, MINIMAL)).spec
    assert spec.data.source == "mnist" and spec.data.batch_size == 128
    assert spec.loss.kl_weight == 1.0 and spec.loss.reconstruction == "bce"
    assert spec.train.optimizer.name == "adam"


def test_set_overrides_with_yaml_types_and_list_indices(tmp_path):
    path = write(tmp_path, MINIMAL)
    loaded = load_spec(
        path,
        ["train.epochs=3", "loss.kl_weight=4", "model.networks.encoder.layers.1.Dense.units=16", "data.range=[0, 1]"],
    )
    assert loaded.spec.train.epochs == 3
    assert loaded.spec.loss.kl_weight == 4.0
    assert loaded.spec.model.networks["encoder"].layers[1]["Dense"]["units"] == 16


def test_unknown_key_names_file_line_and_closest_key(tmp_path):
    path = write(tmp_path, MINIMAL.replace("latent_dim: 4", "lantent_dim: 4"))
    (problem,) = [p for p in problems_of(path) if p.path == ("model", "lantent_dim")]
    assert problem.where.endswith("spec.yaml:4")
    assert "latent_dim" in problem.suggestion


def test_all_problems_are_reported_at_once(tmp_path):
    text = MINIMAL + "loss: {kl_weight: -1, reconstruction: bcee}\ntrain: {epochs: zero}\n"
    paths = {p.path for p in problems_of(write(tmp_path, text))}
    assert {("loss", "kl_weight"), ("loss", "reconstruction"), ("train", "epochs")} <= paths


def test_option_of_another_family_is_an_error(tmp_path):
    text = MINIMAL.replace("family: vae", "family: autoencoder") + "loss: {kl_weight: 2}\n"
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.path == ("loss", "kl_weight") and "unknown key" in problem.message


def test_unknown_family_suggests_the_closest(tmp_path):
    problems = problems_of(write(tmp_path, MINIMAL.replace("family: vae", "family: cvea")))
    assert any(p.path == ("model", "family") and "cvae" in p.suggestion for p in problems)


def test_bad_yaml_reports_line_and_column(tmp_path):
    (problem,) = problems_of(write(tmp_path, "name: x\nmodel: {family: vae\n"))
    assert "not valid YAML" in problem.message and problem.where.count(":") == 2


def test_empty_and_non_mapping_files(tmp_path):
    assert "empty" in problems_of(write(tmp_path, "", "e.yaml"))[0].message
    assert "mapping" in problems_of(write(tmp_path, "- a\n- b\n", "l.yaml"))[0].message


def test_cross_field_rules(tmp_path):
    text = MINIMAL.replace("family: vae", "family: cvae") + "data: {range: [-1, 1]}\n"
    messages = " ".join(p.message for p in problems_of(write(tmp_path, text)))
    assert "needs the label" in messages and "labelled data" in messages and "bce needs targets in [0, 1]" in messages


def test_missing_network_role(tmp_path):
    text = MINIMAL.replace("    decoder:\n", "    decodr:\n")
    messages = [p.message for p in problems_of(write(tmp_path, text))]
    assert any("needs a network named 'decoder'" in m for m in messages)


def test_extends_merges_and_detects_cycles(tmp_path):
    write(tmp_path, "seed: 5\ndata: {batch_size: 32, labels: false}\n", "base.yaml")
    child = write(tmp_path, "extends: base.yaml\n" + MINIMAL + "data: {batch_size: 64}\n")
    spec = load_spec(child).spec
    assert spec.seed == 5 and spec.data.batch_size == 64
    write(tmp_path, "extends: b.yaml\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    assert "cycle" in problems_of(tmp_path / "a.yaml")[0].message


def test_every_family_card_declares_a_loss_section():
    assert cards(), "no family cards found"
    for name, declared in cards().items():
        assert issubclass(declared.loss, Section), name


def test_relative_data_path_is_relative_to_the_spec_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = write(tmp_path, MINIMAL + "data: {source: npz, path: digits.npz}\n", "sub/spec.yaml")
    assert load_spec(path).spec.data.path == str(tmp_path / "sub" / "digits.npz")


def test_option_of_another_data_source_is_an_error(tmp_path):
    (problem,) = problems_of(write(tmp_path, MINIMAL + "data: {source: mnist, x_key: images}\n"))
    assert problem.path == ("data", "x_key") and "npz" in problem.message


def test_metrics_must_apply_to_the_family(tmp_path):
    text = MINIMAL.replace("family: vae", "family: autoencoder").replace("  latent_dim: 4\n", "")
    text += "evaluate: {metrics: [reconstruction, elbo, class_accuracy]}\n"
    messages = " ".join(p.message for p in problems_of(write(tmp_path, text)))
    assert "'elbo' needs a VAE family" in messages and "no model.condition" in messages


def test_section_given_as_a_scalar_is_a_located_error(tmp_path):
    (problem,) = problems_of(write(tmp_path, "name: x\nmodel: vae\n"))
    assert problem.path == ("model",) and "expected a mapping" in problem.message and problem.where.endswith(":2")


def test_set_inside_a_value_is_an_error(tmp_path):
    path = write(tmp_path, MINIMAL)
    (problem,) = problems_of(path, ["name.x=1"])
    assert "is a value, not a section" in problem.message


def test_elbo_needs_the_bernoulli_decoder(tmp_path):
    text = MINIMAL + "loss: {reconstruction: mse}\nevaluate: {metrics: [elbo]}\ndata: {range: [0, 1]}\n"
    assert any("'elbo' is reported for the Bernoulli decoder" in p.message for p in problems_of(write(tmp_path, text)))


def test_decoder_output_activation_must_match_the_data_range(tmp_path):
    text = MINIMAL + "data: {range: [-1, 1]}\nloss: {reconstruction: mse}\n"
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.path == ("model", "networks", "decoder", "layers", 0, "Dense", "activation")
    assert "sigmoid output lies in [0.0, 1.0]" in problem.message and "tanh" in problem.suggestion
    assert problem.where.endswith("spec.yaml:12")


def test_spec_file_paths_must_stay_inside_the_project_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("GENKIT_ALLOW_OUTSIDE_PATHS", raising=False)
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    write(tmp_path, "seed: 1\n", "base.yaml")
    text = "extends: ../base.yaml\n" + MINIMAL + "runs_dir: /etc/runs\nexport: {dir: ../../elsewhere}\ndata: {source: npz, path: ../x.npz}\n"
    path = write(project, text)
    problems = problems_of(path)
    assert {p.path for p in problems} == {("extends",), ("runs_dir",), ("export", "dir"), ("data", "path")}
    assert all("outside the project folder" in p.message and "--allow-outside-paths" in p.suggestion for p in problems)
    # The person running genkit may allow it, on the command line or for one field with --set.
    assert load_spec(path, allow_outside_paths=True).spec.runs_dir == "/etc/runs"
    inside = write(project, MINIMAL + "runs_dir: runs\n", "inside.yaml")
    assert load_spec(inside, ["runs_dir=/tmp/r"]).spec.runs_dir == "/tmp/r"
