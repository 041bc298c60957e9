"""Hostile and careless specs: `genkit validate` answers each with exit code 2 and one clear
paragraph naming the file, line and field, never a traceback, never unbounded memory, and
never the contents of a file outside the project (issue 13, the spec side).

Each test is a case a tester found; it failed before the fix.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genkit.cli import main
from genkit.errors import SpecError
from genkit.spec import load_spec
from genkit.spec.budget_rules import check_layer_sizes, estimate_network
from genkit.spec.loader import validate_dict

# An autoencoder small enough to validate quickly; `{...}` marks are filled by each test.
BASE = """\
genkit_spec: 1
name: tiny
data: {source: mnist, range: [0, 1], batch_size: 32}
model:
  family: autoencoder
  networks:
    encoder:
      input: [28, 28, 1]
      layers:
        - Conv2D: {filters: 8, kernel_size: 3, activation: relu}
        - Flatten: {}
        - Dense: {units: 16}
    decoder:
      layers:
        - Dense: {units: 784, activation: sigmoid}
        - Reshape: {target_shape: [28, 28, 1]}
train:
  epochs: 1
  optimizer: {name: adam, learning_rate: 1.0e-3}
"""

VAE = """\
genkit_spec: 1
name: tinyvae
data: {source: mnist, range: [0, 1]}
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
loss:
  kl_weight: 1.0
"""


def sub(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"base changed: {old!r}"
    return text.replace(old, new)


def line_of(text: str, locator: str) -> int:
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if locator in line]
    assert len(hits) == 1, f"{locator!r} on lines {hits}"
    return hits[0]


def validate(tmp_path, monkeypatch, capsys, files: dict, name: str, *args, confined: bool = False):
    """`genkit validate name` in-process with cwd=tmp_path: (exit code, stderr)."""
    monkeypatch.chdir(tmp_path)
    if confined:
        monkeypatch.delenv("GENKIT_ALLOW_OUTSIDE_PATHS", raising=False)
    for rel, text in files.items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text, encoding="utf-8")
    rc = main(["validate", name, *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, err


def one_error(rc, err) -> str:
    assert rc == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# --------------------------------------------------------------------------- 1. resource exhaustion
BILLION_LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip([None, "a", "b", "c", "d", "e", "f", "g", "h"], "abcdefghi")
)

_AS_LIMIT = int(1.5 * 1024**3)


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (_AS_LIMIT, _AS_LIMIT))


def test_alias_bomb_is_refused_within_1_5_gb(tmp_path):
    """9^9 values through nested aliases: refused from the YAML graph, before anything expands."""
    (tmp_path / "bomb.yaml").write_text(BILLION_LAUGHS, encoding="utf-8")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    code = "import sys; from genkit.cli import main; sys.exit(main(['validate', 'bomb.yaml']))"
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=tmp_path, env=env, preexec_fn=_limit_memory,
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr
    assert f"bomb.yaml:{line_of(BILLION_LAUGHS, 'f: &f')}" in done.stderr
    assert "more than 100,000 values" in done.stderr


def test_recursive_alias_is_refused(tmp_path, monkeypatch, capsys):
    text = BASE + "extra: &loop [1, *loop]\n"
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml"))
    assert f"s.yaml:{line_of(text, 'extra:')}" in line and "inside its own anchor" in line


def test_merge_key_cycle_is_refused(tmp_path, monkeypatch, capsys):
    text = BASE + "extra: &m {<<: *m}\n"
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml"))
    assert "inside its own anchor" in line


def test_long_alias_chain_is_refused_not_a_recursion_error(tmp_path, monkeypatch, capsys):
    """Each anchor is shallow, but following the aliases nests 3000 levels."""
    text = "a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 3000))
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml"))
    assert "nested more than 64 levels" in line and "s.yaml:" in line


def test_deep_nesting_is_refused_while_composing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec("deep.yaml")
    (problem,) = caught.value.problems
    assert problem.where == "deep.yaml:1" and "nested more than 64 levels" in problem.message


def test_deep_block_nesting_is_refused(tmp_path, monkeypatch, capsys):
    text = "".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "v: 1\n"
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml"))
    assert "nested more than 64 levels" in line
    assert 60 <= int(line.split("s.yaml:")[1].split()[0]) <= 66  # the 64th level down, not line 1


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path, monkeypatch, capsys):
    text = BASE + "# " + "x" * (5 * 1024 * 1024) + "\n"
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml"))
    assert "larger than 4 MiB" in line


# --------------------------------------------------------------------------- 2. values that mean nothing
@pytest.mark.parametrize(
    "base, old, new, field",
    [
        (BASE, "learning_rate: 1.0e-3", "learning_rate: .inf", "train.optimizer.learning_rate"),
        (VAE, "kl_weight: 1.0", "kl_weight: .inf", "loss.kl_weight"),
        (VAE, "kl_weight: 1.0", "kl_weight: -.inf", "loss.kl_weight"),
    ],
    ids=["learning_rate", "kl_weight", "kl_weight_negative"],
)
def test_infinite_floats_are_refused(base, old, new, field, tmp_path, monkeypatch, capsys):
    text = sub(base, old, new)
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml"))
    assert f"s.yaml:{line_of(text, new)} {field}: got " in line and "finite number" in line


def test_set_with_an_empty_key_part_names_the_set(tmp_path, monkeypatch, capsys):
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": BASE}, "s.yaml", "--set", "train..epochs=3"))
    assert "--set 'train..epochs=3'" in line and "empty part" in line and "unknown key ''" not in line


@pytest.mark.parametrize("key", ["~", "null", "Null"])
def test_a_null_key_is_reported_at_its_line(key, tmp_path, monkeypatch, capsys):
    text = sub(BASE, "  epochs: 1\n", f"  epochs: 1\n  {key}: 3\n")
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml"))
    assert f"s.yaml:{line_of(text, f'  {key}: 3')} train: a key must be a name; got null" in line


def test_a_latin1_byte_has_a_line_number(tmp_path, monkeypatch, capsys):
    text = sub(BASE, "  epochs: 1\n", "  epochs: 1   # caf\xe9\n")
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text.encode("latin-1")}, "s.yaml"))
    assert f"s.yaml:{line_of(text, 'caf')} byte 0xe9" in line and "UTF-8" in line


def test_a_nul_character_has_a_line_number(tmp_path, monkeypatch, capsys):
    text = sub(BASE, "  epochs: 1\n", "  epochs: 1\x00\n")
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml"))
    assert f"s.yaml:{line_of(text, 'epochs')} holds the character NUL" in line


@pytest.mark.parametrize("value", ["abc", "5e7", "8.5", "true"])
def test_a_count_that_is_not_an_integer(value, tmp_path, monkeypatch, capsys):
    text = sub(BASE, "filters: 8,", f"filters: {value},")
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml"))
    assert f"s.yaml:{line_of(text, 'Conv2D')} model.networks.encoder.layers[0].Conv2D.filters: got " in line
    assert "expected an integer" in line and "not supported between" not in line


BLOCK = """\
blocks:
  conv:
    params: {f: 8}
    layers:
      - Conv2D: {filters: $f, kernel_size: 3, padding: same}
"""


def test_a_block_parameter_count_that_is_not_an_integer(tmp_path, monkeypatch, capsys):
    text = sub(BASE, "- Conv2D: {filters: 8, kernel_size: 3, activation: relu}", "- conv: {f: abc}") + BLOCK
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml"))
    assert f"s.yaml:{line_of(text, 'conv: {f: abc}')} model.networks.encoder.layers[0].conv.f: got 'abc'" in line
    assert "expected an integer" in line


@pytest.mark.parametrize(
    "head", ["!!python/object:os.system\n", "--- !!python/object/apply:collections.OrderedDict\n"]
)
def test_a_top_level_tag_is_refused_as_a_tag(head, tmp_path, monkeypatch, capsys):
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": head + BASE}, "s.yaml"))
    assert "s.yaml:1 " in line and "tag" in line and "refused" in line and "mapping" not in line


def test_a_tag_on_a_section_is_refused(tmp_path, monkeypatch, capsys):
    text = sub(BASE, "train:\n", "train: !!python/object:argparse.Namespace\n")
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml"))
    assert f"s.yaml:{line_of(text, 'train:')} train: the YAML tag '!!python/object:argparse.Namespace' is refused" in line


# --------------------------------------------------------------------------- 3. paths and leaks
def test_extends_outside_is_refused_without_reading_it(tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "outside.yaml").write_text("secret_api_key: sk-live-1234\nname: 3\n", encoding="utf-8")
    text = "extends: ../outside.yaml\n" + BASE
    rc, err = validate(project, monkeypatch, capsys, {"s.yaml": text}, "s.yaml", confined=True)
    line = one_error(rc, err)
    assert "s.yaml:1 extends: '../outside.yaml'" in line and "outside the project folder" in line
    assert "secret" not in err and "sk-live" not in err


def test_extends_etc_passwd_is_outside_the_project(tmp_path, monkeypatch, capsys):
    rc, err = validate(tmp_path, monkeypatch, capsys, {"s.yaml": "extends: /etc/passwd\n" + BASE}, "s.yaml", confined=True)
    line = one_error(rc, err)
    assert "extends: '/etc/passwd'" in line and "outside the project folder" in line and "root:" not in err


@pytest.mark.parametrize("field", ["val_path", "test_path"])
def test_shard_paths_outside_are_refused_like_data_path(field, tmp_path, monkeypatch, capsys):
    text = sub(BASE, "data: {source: mnist,", f"data: {{source: npz_shards, path: 'shards/train-*.npz', test_path: 'shards/t-*.npz', {field}: '../elsewhere/*.npz',")
    text = text.replace(", test_path: 'shards/t-*.npz', test_path:", ", test_path:")
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml", confined=True))
    assert f"data.{field}: '../elsewhere/*.npz'" in line and "outside the project folder" in line


def test_a_vocabulary_file_outside_is_refused(tmp_path, monkeypatch, capsys):
    text = sub(BASE, "        - Flatten: {}\n", "        - StringLookup: {vocabulary: /etc/passwd}\n        - Flatten: {}\n")
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml", confined=True))
    assert f"s.yaml:{line_of(text, 'StringLookup')} model.networks.encoder.layers[1].StringLookup.vocabulary: '/etc/passwd'" in line
    assert "outside the project folder" in line


def test_a_vocabulary_file_through_a_block_parameter_is_refused(tmp_path, monkeypatch, capsys):
    block = "blocks:\n  vocab:\n    params: {file: words.txt}\n    layers:\n      - TextVectorization: {vocabulary: $file}\n"
    text = sub(BASE, "        - Flatten: {}\n", "        - vocab: {file: ../../secrets.txt}\n        - Flatten: {}\n") + block
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml", confined=True))
    assert "model.networks.encoder.layers[1].vocab.file: '../../secrets.txt'" in line and "outside the project" in line


def test_paths_inside_and_set_on_the_command_line_are_accepted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GENKIT_ALLOW_OUTSIDE_PATHS", raising=False)
    text = sub(BASE, "        - Flatten: {}\n", "        - StringLookup: {vocabulary: vocab/words.txt}\n        - Flatten: {}\n")
    (tmp_path / "s.yaml").write_text(text, encoding="utf-8")
    load_spec("s.yaml")  # inside: no problem (the layer itself is checked when built)
    # The person running genkit may name an outside path on the command line.
    loaded = load_spec("s.yaml", ["model.networks.encoder.layers.1.StringLookup.vocabulary=/tmp/words.txt"])
    assert loaded.spec.model.networks["encoder"].layers[1]["StringLookup"]["vocabulary"] == "/tmp/words.txt"


@pytest.mark.parametrize("name, phrase", [(".", "cannot start with a dot"), ("..", "cannot start with a dot"),
                                          (".hidden", "cannot start with a dot"), ("a" * 300, "at most 100 characters")])
def test_names_that_are_not_folder_names_are_refused(name, phrase, tmp_path, monkeypatch, capsys):
    text = sub(BASE, "name: tiny", f"name: '{name}'")
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml"))
    assert "s.yaml:2 name: got " in line and phrase in line and len(line) < 600


def test_a_name_of_100_characters_is_accepted():

    data = yaml.safe_load(sub(BASE, "name: tiny", "name: " + "a" * 99 + "."))
    assert validate_dict(data).name == "a" * 99 + "."


# --------------------------------------------------------------------------- 4. budgets before allocation
@pytest.mark.parametrize(
    "old, new, field",
    [
        ("filters: 8,", "filters: 1000000000,", "model.networks.encoder.layers[0].Conv2D.filters"),
        ("Dense: {units: 16}", "Dense: {units: 50000000}", "model.networks.encoder.layers[2].Dense.units"),
    ],
)
def test_layer_sizes_over_the_cap_are_refused(old, new, field, tmp_path, monkeypatch, capsys):
    text = sub(BASE, old, new)
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml"))
    assert f"s.yaml:{line_of(text, new)} {field}: is " in line and "largest layer size 65,536" in line
    assert "GENKIT_MAX_LAYER_SIZE" in line


def test_latent_dim_over_the_cap_is_refused(tmp_path, monkeypatch, capsys):
    text = sub(VAE, "latent_dim: 4", "latent_dim: 100000000")
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml"))
    assert f"s.yaml:{line_of(text, 'latent_dim')} model.latent_dim: is 100,000,000" in line


def test_the_layer_size_cap_is_configurable(monkeypatch):

    data = yaml.safe_load(sub(BASE, "Dense: {units: 16}", "Dense: {units: 70000}"))
    monkeypatch.setenv("GENKIT_MAX_PARAMETERS", "1000000000")  # this test is about the size cap alone
    monkeypatch.setenv("GENKIT_MAX_LAYER_SIZE", "100000")
    spec = validate_dict(data)
    assert check_layer_sizes(spec) == []
    monkeypatch.setenv("GENKIT_MAX_LAYER_SIZE", "1000")
    assert [p.path[-1] for p in check_layer_sizes(spec)] == ["units"]


def test_parameters_estimated_from_shapes_are_refused_before_building(tmp_path, monkeypatch, capsys):
    """60,000 units under the size cap, but after a 26x26x8 Flatten: 324 million weights x 2."""
    text = sub(BASE, "Dense: {units: 16}", "Dense: {units: 60000}")
    monkeypatch.setenv("GENKIT_MAX_PARAMETERS", "100000000")
    line = one_error(*validate(tmp_path, monkeypatch, capsys, {"s.yaml": text}, "s.yaml"))
    assert "model.networks.encoder: has at least 324," in line and "layers[2] Dense" in line
    assert "GENKIT_MAX_PARAMETERS" in line


def test_estimate_follows_the_shapes_of_a_shipped_spec():

    spec = load_spec(Path(__file__).resolve().parents[1] / "specs" / "autoencoder_mnist.yaml").spec
    # The spec's comment: `genkit inspect` reports 140,850 parameters.
    total = sum(p for net in spec.model.networks.values() for _, _, p, _ in estimate_network(net))
    assert total == 140_850
