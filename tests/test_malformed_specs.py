"""Malformed specs: one mistake a person makes, and the error `genkit validate` must print.

Every case starts from the text of a shipped spec (or a tiny literal spec), applies one
edit, writes the result under tmp_path and runs `genkit validate` in-process. It then
checks what a person needs to fix the mistake:

- exit code 2 and no traceback;
- a problem line `<file>:<line> <dotted.field.path>: <message> <suggestion>`, where the
  line number is computed from the edited text (never hard-coded), the field path is the
  one of the mistake, and the message holds the key phrase (and the did-you-mean);
- one problem for one mistake (no cascade of follow-up errors), unless said otherwise;
- nothing written: the test runs with cwd=tmp_path, so a default `runs/` or `exports/`
  would appear there, and only the spec files the test wrote may exist afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest

from genkit.cli import main

SPECS = Path(__file__).resolve().parents[1] / "specs"


def shipped(name: str) -> str:
    return (SPECS / f"{name}.yaml").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- edits
def sub(old: str, new: str, nth: int = 1) -> Callable[[str], str]:
    """Replace the `nth` occurrence of `old`; fail loudly when the base spec changed."""

    def edit(text: str) -> str:
        count = text.count(old)
        assert count >= nth, f"base spec changed: {old!r} occurs {count} time(s), need occurrence {nth}"
        start = -1
        for _ in range(nth):
            start = text.index(old, start + 1)
        return text[:start] + new + text[start + len(old) :]

    return edit


def cut(start: str, end: str) -> Callable[[str], str]:
    """Remove the text from `start` (included) up to `end` (kept)."""

    def edit(text: str) -> str:
        assert text.count(start) == 1 and end in text, f"base spec changed around {start!r}"
        i = text.index(start)
        j = text.index(end, i)
        return text[:i] + text[j:]

    return edit


def chain(*edits) -> Callable[[str], str]:
    def edit(text: str) -> str:
        for e in edits:
            text = e(text)
        return text

    return edit


def line_of(text: str, locator: str) -> int:
    """1-based number of the one line holding `locator` (or, among several, starting with it)."""
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if locator in line]
    if len(hits) > 1:
        hits = [i for i in hits if lines[i].strip().startswith(locator)]
    assert len(hits) == 1, f"locator {locator!r} matches lines {[h + 1 for h in hits]}, need exactly one"
    return hits[0] + 1


# A graph encoder for the autoencoder spec: a strided trunk with a 1x1 skip, concatenated.
GRAPH_ENCODER = """\
    encoder:
      input: [28, 28, 1]
      graph:
        - {id: conv1, layer: Conv2D, from: x, filters: 8, kernel_size: 3, strides: 2, padding: same, activation: relu}
        - {id: conv2, layer: Conv2D, from: conv1, filters: 8, kernel_size: 3, strides: 2, padding: same, activation: relu}
        - {id: skip, layer: Conv2D, from: conv1, filters: 8, kernel_size: 1, strides: 2, padding: same}
        - {id: flat, layer: Flatten, from: {concat: [conv2, skip]}}
        - {id: code, layer: Dense, from: flat, units: 49, activation: relu}
"""


def graph_spec() -> str:
    text = shipped("autoencoder_mnist")
    i, j = text.index("    encoder:\n"), text.index("    decoder:\n")
    return text[:i] + GRAPH_ENCODER + text[j:]


BASES = {
    "cvae": lambda: shipped("cvae_mnist"),
    "vae": lambda: shipped("vae_mnist"),
    "ae": lambda: shipped("autoencoder_mnist"),
    "dae": lambda: shipped("denoising_ae_mnist"),
    "sae": lambda: shipped("sparse_ae_mnist"),
    "graph": graph_spec,
}

ENC = "model.networks.encoder"
DEC = "model.networks.decoder"
GRAPH = "model.networks.encoder.graph"


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Case:
    id: str
    base: str  # key of BASES
    edit: Callable[[str], str]
    path: str  # dotted field path of the problem ("" for none)
    at: str  # locator of the problem's line in the edited text
    phrases: tuple  # key phrases of the message and suggestion
    count: Optional[int] = 1  # problems expected (None: not checked)
    deeper_ok: bool = False  # a problem at a field below `path` is as good


CASES = [
    # ---- unknown keys at every level, with did-you-mean
    Case("top_unknown_key", "cvae", sub("seed: 1337", "sede: 1337"), "sede", "sede:",
         ("unknown key 'sede'", "Did you mean 'seed'?")),
    Case("data_unknown_key", "cvae", sub("  batch_size: 64", "  batchsize: 64"), "data.batchsize", "batchsize:",
         ("unknown key 'batchsize'", "Did you mean 'batch_size'?")),
    Case("model_unknown_key", "cvae", sub("latent_dim: 16", "lantent_dim: 16"), "model.lantent_dim", "lantent_dim:",
         ("unknown key 'lantent_dim'", "Did you mean 'latent_dim'?")),
    Case("loss_unknown_key", "cvae", sub("kl_weight: 1.0", "kl_wieght: 1.0"), "loss.kl_wieght", "kl_wieght:",
         ("unknown key 'kl_wieght'", "Did you mean 'kl_weight'?")),
    Case("train_unknown_key", "cvae", sub("  epochs: 30", "  epoch: 30"), "train.epoch", "epoch: 30",
         ("unknown key 'epoch'", "Did you mean 'epochs'?")),
    Case("optimizer_unknown_key", "cvae", sub("learning_rate: 1.0e-3}", "learningrate: 1.0e-3}"),
         "train.optimizer.learningrate", "learningrate:",
         ("unknown key 'learningrate'", "Did you mean 'learning_rate'?")),
    Case("evaluate_unknown_key", "cvae", sub("  samples: 2000", "  sample: 2000"), "evaluate.sample", "sample: 2000",
         ("unknown key 'sample'", "Did you mean 'samples'?")),
    Case("export_unknown_key", "cvae", sub("  onnx: {", "  onxx: {"), "export.onxx", "onxx:",
         ("unknown key 'onxx'", "Did you mean 'onnx'?")),
    Case("onnx_unknown_key", "cvae", sub("opset: 17", "opst: 17"), "export.onnx.opst", "opst:",
         ("unknown key 'opst'", "Did you mean 'opset'?")),
    Case("network_unknown_key", "cvae", sub("      input: [28, 28, 1]", "      imput: [28, 28, 1]"),
         f"{ENC}.imput", "imput:", ("unknown key 'imput'", "Did you mean 'input'")),
    Case("condition_unknown_key", "cvae", sub("{num_classes: 10,", "{num_class: 10,"), "model.condition.num_class",
         "num_class:", ("unknown key 'num_class'", "Did you mean 'num_classes'?"), count=None),
    # ---- layers: unknown names, keywords, values
    Case("layer_case_slip", "ae", sub("- Conv2D: {filters: 32", "- Conv2d: {filters: 32"),
         f"{ENC}.layers[0].Conv2d", "Conv2d:", ("unknown layer 'Conv2d'", "Did you mean 'Conv2D'?")),
    Case("layer_unknown_dense2", "ae", sub("- Dense: {units: 49", "- Dense2: {units: 49"),
         f"{ENC}.layers[6].Dense2", "Dense2:", ("unknown layer 'Dense2'", "Did you mean 'Dense'")),
    Case("layer_unknown_maxpooling", "ae", sub("MaxPooling2D", "Maxpooling2D", nth=2),
         f"{ENC}.layers[3].Maxpooling2D", "Maxpooling2D", ("unknown layer 'Maxpooling2D'", "Did you mean 'MaxPooling2D'?")),
    Case("layer_as_plain_string", "ae", sub("- Flatten: {}", "- Flatten"), f"{ENC}.layers[5]", "- Flatten",
         ("one-key mapping", "'Flatten'")),
    Case("layer_keywords_not_a_mapping", "ae", sub("- Flatten: {}", "- Flatten: [channels_last]"),
         f"{ENC}.layers[5].Flatten", "- Flatten", ("keyword arguments of Flatten must be a mapping",)),
    Case("keras_keyword_typo", "cvae", sub("Conv2DTranspose: {filters: 32", "Conv2DTranspose: {filter: 32"),
         f"{DEC}.layers[3].Conv2DTranspose.filter", "{filter: 32",
         ("has no keyword argument 'filter'", "Did you mean 'filters'?")),
    Case("keras_keyword_typo_block_style", "ae",
         sub("        - Conv2D: {filters: 32, kernel_size: 3, activation: relu}\n",
             "        - Conv2D:\n            filter: 32\n            kernel_size: 3\n            activation: relu\n"),
         f"{ENC}.layers[0].Conv2D.filter", "filter: 32",
         ("has no keyword argument 'filter'", "Did you mean 'filters'?")),
    Case("keras_bad_padding", "cvae", sub("padding: same, activation: sigmoid", "padding: sam, activation: sigmoid"),
         f"{DEC}.layers[4].Conv2D.padding", "padding: sam,", ("Received: sam", "'same'")),
    Case("keras_bad_activation", "cvae", sub("padding: same, activation: sigmoid", "padding: same, activation: relux"),
         f"{DEC}.layers[4].Conv2D.activation", "relux", ("relux", "Did you mean 'relu'")),
    Case("keras_activation_list", "cvae", sub("padding: same, activation: sigmoid", "padding: same, activation: [sigmoid]"),
         f"{DEC}.layers[4].Conv2D", "[sigmoid]", ("activation",), deeper_ok=True),
    Case("layer_shape_mismatch", "vae", sub("target_shape: [7, 7, 64]", "target_shape: [7, 7, 32]"),
         f"{DEC}.layers[1].Reshape", "[7, 7, 32]", ("cannot take its input of shape (None, 3136)",)),
    # ---- wrong types
    Case("batch_size_string", "cvae", sub("batch_size: 64", "batch_size: sixty-four"), "data.batch_size",
         "sixty-four", ("got 'sixty-four'", "valid integer")),
    Case("seed_list", "cvae", sub("seed: 1337", "seed: [1, 3, 3, 7]"), "seed", "seed:", ("valid integer",)),
    Case("name_mapping", "cvae", sub("name: cvae_mnist", "name: {first: cvae, second: mnist}"), "name", "name:",
         ("valid string",)),
    Case("labels_not_bool", "cvae", sub("labels: true", "labels: perhaps"), "data.labels", "labels:",
         ("got 'perhaps'", "valid boolean")),
    # ---- out-of-range values
    Case("negative_epochs", "cvae", sub("epochs: 30", "epochs: -5"), "train.epochs", "epochs:",
         ("got -5", "greater than or equal to 1")),
    Case("validation_split_too_big", "cvae", sub("validation_split: 0.1", "validation_split: 1.5"),
         "data.validation_split", "validation_split:", ("got 1.5", "less than 1")),
    Case("negative_kl_weight", "cvae", sub("kl_weight: 1.0", "kl_weight: -1"), "loss.kl_weight", "kl_weight:",
         ("got -1", "greater than or equal to 0")),
    Case("opset_too_new", "cvae", sub("opset: 17", "opset: 25"), "export.onnx.opset", "opset:",
         ("got 25", "less than or equal to 18")),
    Case("sparsity_target_zero", "sae", sub("sparsity_target: 0.05", "sparsity_target: 0"), "loss.sparsity_target",
         "sparsity_target:", ("got 0", "greater than 0")),
    Case("negative_seed", "cvae", sub("seed: 1337", "seed: -1"), "seed", "seed:", ("got -1",)),
    Case("range_not_allowed", "ae", sub("range: [0, 1]", "range: [0, 255]"), "data.range", "range:",
         ("expected [0, 1] or [-1, 1]",)),
    # ---- bad choices
    Case("bad_reconstruction", "cvae", sub("reconstruction: bce", "reconstruction: bse"), "loss.reconstruction",
         "reconstruction:", ("got 'bse'", "Did you mean", "'bce'")),
    Case("bad_family", "vae", sub("family: vae", "family: vea"), "model.family", "family:",
         ("got 'vea'", "Did you mean 'vae'?")),
    Case("bad_optimizer", "cvae", sub("{name: adam,", "{name: adamm,"), "train.optimizer.name", "adamm",
         ("got 'adamm'", "Did you mean 'adam'")),
    Case("bad_schedule", "cvae", sub("learning_rate: 1.0e-3}", "learning_rate: 1.0e-3, schedule: cosin}"),
         "train.optimizer.schedule", "schedule: cosin", ("got 'cosin'", "Did you mean 'cosine'?")),
    Case("bad_source", "cvae", sub("source: mnist ", "source: mnsit "), "data.source", "source:",
         ("got 'mnsit'", "Did you mean 'mnist'")),
    Case("bad_corruption", "dae", sub("corruption: masking", "corruption: gausian"), "loss.corruption",
         "corruption:", ("got 'gausian'", "Did you mean 'gaussian'?")),
    Case("bad_metric", "cvae", sub("[reconstruction, elbo, log_likelihood", "[reconstruction, elbow, log_likelihood"),
         "evaluate.metrics[1]", "metrics:", ("got 'elbow'", "Did you mean 'elbo'?")),
    Case("loss_option_of_another_family", "vae", sub("  kl_warmup_epochs: 2\n", "  kl_warmup_epochs: 2\n  sparsity_target: 0.1\n"),
         "loss.sparsity_target", "sparsity_target:", ("unknown key 'sparsity_target'", "kl_weight")),
    Case("elbo_for_autoencoder", "ae", sub("metrics: [reconstruction, fid", "metrics: [reconstruction, elbo, fid"),
         "evaluate.metrics", "metrics:", ("'elbo' needs a VAE family",)),
    # ---- networks of the family
    Case("missing_decoder", "ae", cut("    decoder:\n", "\nloss:"), "model.networks", "networks:",
         ("needs a network named 'decoder'",)),
    Case("extra_network_role", "ae", sub("\nloss:", "    critic:\n      layers:\n        - Dense: {units: 1}\n\nloss:"),
         "model.networks.critic", "critic:", ("has no network role 'critic'",)),
    Case("decoder_output_shape", "ae", cut("        - Conv2D: {filters: 1,", "\nloss:"), DEC, "    decoder:",
         ("outputs shape [28, 28, 32]", "[28, 28, 1]")),
    Case("encoder_input_disagrees_with_data", "vae", sub("input: [28, 28, 1]", "input: [32, 32, 3]"),
         f"{ENC}.input", "input: [32, 32, 3]", ("declares input [32, 32, 3]", "[28, 28, 1]")),
    # ---- graph networks
    Case("graph_unknown_from", "graph", sub("from: conv1, filters: 8, kernel_size: 3", "from: cnv1, filters: 8, kernel_size: 3"),
         f"{GRAPH}[1].from", "from: cnv1", ("unknown id 'cnv1'", "Did you mean 'conv1'?")),
    Case("graph_used_before_defined", "graph", sub("from: conv1, filters: 8, kernel_size: 3", "from: skip, filters: 8, kernel_size: 3"),
         f"{GRAPH}[1].from", "id: conv2", ("'skip' is defined later", "Move node 'skip' above")),
    Case("graph_duplicate_id", "graph",
         sub("        - {id: skip,", "        - {id: conv2, layer: Dense, from: conv1, units: 4}\n        - {id: skip,"),
         f"{GRAPH}[2].id", "layer: Dense, from: conv1", ("the id 'conv2' is already used by node 1",)),
    Case("graph_unused_node", "graph",
         sub("        - {id: code,", "        - {id: extra, layer: Dense, from: flat, units: 3}\n        - {id: code,"),
         f"{GRAPH}[4]", "id: extra", ("the output of node 'extra' is never used",)),
    Case("graph_concat_shape_mismatch", "graph", sub("kernel_size: 1, strides: 2, padding: same}", "kernel_size: 1, padding: same}"),
         f"{GRAPH}[3].from.concat", "id: flat", ("cannot concat", "(None, 7, 7, 8)", "(None, 14, 14, 8)")),
    Case("graph_unknown_layer", "graph", sub("layer: Flatten", "layer: Flaten"), f"{GRAPH}[3].layer", "id: flat",
         ("unknown layer 'Flaten'", "Did you mean 'Flatten'?")),
    Case("graph_node_without_from", "graph", sub("from: flat, units: 49", "units: 49"), f"{GRAPH}[4]", "id: code",
         ("this node has no 'from'",)),
    # ---- conditional families and value ranges
    Case("cvae_without_labels", "cvae", sub("labels: true", "labels: false"), "data.labels", "labels: false",
         ("needs labelled data", "data.labels: true")),
    Case("cvae_without_condition", "cvae", sub("  condition: {num_classes: 10, encoding: onehot}\n", ""),
         "model.condition", "model:", ("needs the label it is conditioned on", "num_classes")),
    Case("condition_on_vae", "vae", sub("latent_dim: 2\n", "latent_dim: 2\n  condition: {num_classes: 10}\n"),
         "model.condition", "condition:", ("is not conditional", "cvae")),
    Case("vae_without_latent_dim", "vae", sub("  latent_dim: 2\n", ""), "model.latent_dim", "model:",
         ("needs a latent size",)),
    Case("bce_with_symmetric_range", "ae", sub("range: [0, 1]", "range: [-1, 1]"), "loss.reconstruction",
         "reconstruction:", ("bce needs targets in [0, 1]", "reconstruction: mse"), count=None),
    # ---- whole sections of the wrong kind
    Case("model_scalar", "vae", cut("model:\n", "\nloss:"), "model", "model:", ("expected a mapping of model options",)),
    Case("data_scalar", "vae", cut("data:\n", "\nmodel:"), "data", "data: mnist",
         ("expected a mapping of data options",)),
    # ---- data sources
    Case("npz_source_without_path", "ae", sub("source: mnist", "source: npz"), "data.path", "data:",
         ("source 'npz' needs a path",)),
    Case("npz_path_does_not_exist", "ae", sub("source: mnist", "source: npz\n  path: missing_digits.npz"),
         "data.path", "path: missing_digits.npz", ("missing_digits.npz", "does not exist")),
    Case("x_key_for_builtin_source", "ae", sub("source: mnist", "source: mnist\n  x_key: images"), "data.x_key",
         "x_key:", ("applies to source npz",)),
    Case("keras_padding_null", "vae", sub("{filters: 32, kernel_size: 3, strides: 2, padding: same",
                                           "{filters: 32, kernel_size: 3, strides: 2, padding: null", nth=2),
         f"{DEC}.layers[3].Conv2DTranspose", "padding: null", ("Conv2DTranspose",), deeper_ok=True),
    Case("keras_padding_number", "vae", sub("{filters: 32, kernel_size: 3, strides: 2, padding: same",
                                             "{filters: 32, kernel_size: 3, strides: 2, padding: 1", nth=1),
         f"{ENC}.layers[0].Conv2D", "padding: 1", ("Conv2D",), deeper_ok=True),
    # ---- YAML-level
    Case("duplicate_key", "cvae", sub("  epochs: 30\n", "  epochs: 30\n  epochs: 7\n"), "train.epochs", "epochs: 7",
         ("epochs",)),
    Case("yaml_unknown_tag", "vae", sub("seed: 0", "seed: !include seed.yaml"), "seed", "seed:", ("!include",)),
    Case("yaml_bad_int_tag", "vae", sub("seed: 0", 'seed: !!int "abc"'), "seed", "seed:", ("abc",)),
    Case("yaml_list_as_key", "vae", sub("seed: 0\n", "? [seed, name]\n: 0\n"), "", "? [seed, name]", ("key",)),
]

# The two `*_scalar` cases need their section written as a scalar after the cut.
_SCALAR_FIX = {"model_scalar": ("\nloss:", "model: vae\n\nloss:"), "data_scalar": ("\nmodel:", "data: mnist\n\nmodel:")}


def _apply(case: Case) -> str:
    text = case.edit(BASES[case.base]())
    if case.id in _SCALAR_FIX:
        old, new = _SCALAR_FIX[case.id]
        text = text.replace(old, new, 1)
    return text


# --------------------------------------------------------------------------- running
def _run(tmp_path, monkeypatch, capsys, files: dict, args):
    """Write `files` (relative name -> text) under tmp_path, run genkit there, return (rc, out, err)."""
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    before = {p.relative_to(tmp_path) for p in tmp_path.rglob("*")}
    rc = main(list(args))
    out, err = capsys.readouterr()
    after = {p.relative_to(tmp_path) for p in tmp_path.rglob("*")}
    assert after == before, f"validate wrote files: {sorted(map(str, after - before))}"
    assert not (tmp_path / "runs").exists() and not (tmp_path / "exports").exists()
    assert "Traceback" not in out + err
    return rc, out, err


def _problem_lines(err: str) -> list:
    return [line.removeprefix("error: ") for line in err.splitlines() if line.strip()]


def _assert_problem(err: str, where: str, path: str, phrases=(), deeper_ok=False):
    head = f"{where} {path}: " if path else f"{where} "
    lines = [line for line in _problem_lines(err) if line.startswith(head)]
    if deeper_ok and not lines:
        pattern = re.compile(re.escape(f"{where} {path}") + r"[.\[][^ ]*: ")
        lines = [line for line in _problem_lines(err) if pattern.match(line)]
    assert lines, f"no problem line starting {head!r} in:\n{err}"
    line = lines[0]
    for phrase in phrases:
        assert phrase in line, f"{phrase!r} missing from {line!r}"
    return line


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_spec_is_reported_at_its_line(case, tmp_path, monkeypatch, capsys):
    text = _apply(case)
    name = f"specs/{case.id}.yaml"
    rc, out, err = _run(tmp_path, monkeypatch, capsys, {name: text}, ["validate", name])
    assert rc == 2, f"exit code {rc}; stdout:\n{out}\nstderr:\n{err}"
    assert err.startswith("error: "), err
    _assert_problem(err, f"{name}:{line_of(text, case.at)}", case.path, case.phrases, case.deeper_ok)
    if case.count is not None:
        assert len(_problem_lines(err)) == case.count, f"expected {case.count} problem(s):\n{err}"


@pytest.mark.parametrize("base", sorted(BASES))
def test_bases_are_valid(base, tmp_path, monkeypatch, capsys):
    """The cases start from valid specs, so each reported problem is the edit's."""
    name = f"specs/{base}.yaml"
    rc, out, err = _run(tmp_path, monkeypatch, capsys, {name: BASES[base]()}, ["validate", name])
    assert rc == 0, err
    assert "valid" in out


# --------------------------------------------------------------------------- file-level mistakes
def test_bad_yaml_syntax_gives_line_and_column(tmp_path, monkeypatch, capsys):
    text = sub("  labels: true", "\tlabels: true")(shipped("cvae_mnist"))
    rc, _, err = _run(tmp_path, monkeypatch, capsys, {"bad.yaml": text}, ["validate", "bad.yaml"])
    assert rc == 2
    line = _assert_problem(err, f"bad.yaml:{line_of(text, chr(9) + 'labels')}:1", "", ("is not valid YAML",))
    assert "'\\t'" in line


def test_bad_yaml_unclosed_bracket(tmp_path, monkeypatch, capsys):
    text = sub("range: [0, 1]", "range: [0, 1")(shipped("autoencoder_mnist"))
    rc, _, err = _run(tmp_path, monkeypatch, capsys, {"bad.yaml": text}, ["validate", "bad.yaml"])
    assert rc == 2
    assert re.search(r"^error: bad\.yaml:\d+:\d+ is not valid YAML: ", err, re.M), err


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank_lines", "comment_only"])
def test_empty_file(text, tmp_path, monkeypatch, capsys):
    rc, _, err = _run(tmp_path, monkeypatch, capsys, {"empty.yaml": text}, ["validate", "empty.yaml"])
    assert rc == 2
    assert err.startswith("error: empty.yaml") and "the spec file is empty" in err


def test_yaml_anchors_and_merge_keys_are_read_like_yaml_safe_load(tmp_path, monkeypatch, capsys):
    """Not a mistake: `<<: *anchor` is YAML that yaml.safe_load reads, so a spec may use it."""
    text = chain(
        sub("        - Conv2D: {filters: 32, kernel_size: 3, strides: 2, padding: same, activation: relu}",
            "        - Conv2D: &conv {filters: 32, kernel_size: 3, strides: 2, padding: same, activation: relu}"),
        sub("        - Conv2D: {filters: 64, kernel_size: 3, strides: 2, padding: same, activation: relu}",
            "        - Conv2D: {<<: *conv, filters: 64}"),
    )(shipped("vae_mnist"))
    rc, out, err = _run(tmp_path, monkeypatch, capsys, {"merge.yaml": text}, ["validate", "merge.yaml"])
    assert rc == 0, err
    assert "valid vae spec" in out


def test_yaml_list_at_the_top(tmp_path, monkeypatch, capsys):
    text = "- name: vae_mnist\n- model: {family: vae}\n"
    rc, _, err = _run(tmp_path, monkeypatch, capsys, {"list.yaml": text}, ["validate", "list.yaml"])
    assert rc == 2
    _assert_problem(err, "list.yaml:1", "", ("must be a YAML mapping",))


def test_nonexistent_spec_path(tmp_path, monkeypatch, capsys):
    rc, _, err = _run(tmp_path, monkeypatch, capsys, {}, ["validate", "specs/nothere.yaml"])
    assert rc == 2
    assert err.startswith("error: ") and "nothere.yaml" in err and "does not exist" in err


def test_extends_a_missing_file(tmp_path, monkeypatch, capsys):
    text = "extends: base_that_is_not_there.yaml\nname: child\ntrain: {epochs: 2}\n"
    rc, _, err = _run(tmp_path, monkeypatch, capsys, {"specs/child.yaml": text}, ["validate", "specs/child.yaml"])
    assert rc == 2
    # The problem is the `extends:` line of the child: say where it is, and which file is missing.
    _assert_problem(err, "specs/child.yaml:1", "extends", ("base_that_is_not_there.yaml", "does not exist"))


def test_extends_cycle(tmp_path, monkeypatch, capsys):
    files = {
        "specs/a.yaml": "# a\nextends: b.yaml\nname: a\n",
        "specs/b.yaml": "extends: a.yaml\nname: b\n",
    }
    rc, _, err = _run(tmp_path, monkeypatch, capsys, files, ["validate", "specs/a.yaml"])
    assert rc == 2
    # Located at an `extends:` line of the cycle: b.yaml:1 closes it, a.yaml:2 opens it.
    heads = ("specs/b.yaml:1 extends: ", "specs/a.yaml:2 extends: ")
    lines = [line for line in _problem_lines(err) if line.startswith(heads)]
    assert lines, f"no problem line starting with one of {heads} in:\n{err}"
    assert "cycle" in lines[0] and "a.yaml -> b.yaml -> a.yaml" in lines[0]


def test_mistake_in_child_is_located_in_the_child(tmp_path, monkeypatch, capsys):
    files = {
        "specs/parent.yaml": shipped("vae_mnist"),
        "specs/child.yaml": "extends: parent.yaml\nname: child\ntrain:\n  epochs: 0\n",
    }
    rc, _, err = _run(tmp_path, monkeypatch, capsys, files, ["validate", "specs/child.yaml"])
    assert rc == 2
    _assert_problem(err, "specs/child.yaml:4", "train.epochs", ("got 0",))


def test_mistake_in_parent_is_located_in_the_parent(tmp_path, monkeypatch, capsys):
    parent = sub("family: vae", "family: vea")(shipped("vae_mnist"))
    files = {"specs/parent.yaml": parent, "specs/child.yaml": "extends: parent.yaml\nname: child\n"}
    rc, _, err = _run(tmp_path, monkeypatch, capsys, files, ["validate", "specs/child.yaml"])
    assert rc == 2
    _assert_problem(err, f"specs/parent.yaml:{line_of(parent, 'family: vea')}", "model.family", ("Did you mean 'vae'?",))


# --------------------------------------------------------------------------- --set
SET_CASES = [
    ("no_equals", "train.epochs", "--set", "", ("expected KEY.PATH=VALUE",)),
    ("inside_a_scalar", "name.first=x", "--set", "name", ("name is a value, not a section",)),
    ("list_index_out_of_range", "model.networks.encoder.layers.12.Dense.units=8", "--set",
     f"{ENC}.layers[12]", ("no list item 12",)),
    ("invalid_value", "train.epochs=0", "--set train.epochs=0", "train.epochs", ("got 0", "greater than or equal to 1")),
    ("unknown_key", "train.epoch=3", "--set train.epoch=3", "train.epoch", ("Did you mean 'epochs'?",)),
    ("extends_on_the_command_line", "extends=cvae_mnist.yaml", "--set extends=cvae_mnist.yaml", "extends", ("extends",)),
]


@pytest.mark.parametrize("override, where, path, phrases", [c[1:] for c in SET_CASES], ids=[c[0] for c in SET_CASES])
def test_set_errors(override, where, path, phrases, tmp_path, monkeypatch, capsys):
    files = {"specs/vae.yaml": shipped("vae_mnist")}
    rc, _, err = _run(tmp_path, monkeypatch, capsys, files, ["validate", "specs/vae.yaml", "--set", override])
    assert rc == 2
    line = _assert_problem(err, where, path, phrases)
    assert len(_problem_lines(err)) == 1, err
    # A rejected key is never offered as its own correction ("unknown key 'x'. Did you mean 'x'?").
    rejected = re.search(r"unknown key '([^']*)'", line)
    if rejected and "Did you mean" in line:
        assert f"'{rejected.group(1)}'" not in line.split("Did you mean", 1)[1], line


# --------------------------------------------------------------------------- several mistakes
def test_several_schema_mistakes_are_all_reported_in_one_run(tmp_path, monkeypatch, capsys):
    text = chain(
        sub("batch_size: 64", "batch_size: lots"),
        sub("latent_dim: 16", "lantent_dim: 16"),
        sub("epochs: 30", "epochs: -3"),
        sub("reconstruction: bce", "reconstruction: bse"),
        sub("opset: 17", "opset: 12"),
    )(shipped("cvae_mnist"))
    rc, _, err = _run(tmp_path, monkeypatch, capsys, {"many.yaml": text}, ["validate", "many.yaml"])
    assert rc == 2
    expected = [
        ("batch_size: lots", "data.batch_size", "got 'lots'"),
        ("lantent_dim", "model.lantent_dim", "Did you mean 'latent_dim'?"),
        ("epochs: -3", "train.epochs", "got -3"),
        ("reconstruction: bse", "loss.reconstruction", "'bce'"),
        ("opset: 12", "export.onnx.opset", "got 12"),
    ]
    for at, path, phrase in expected:
        _assert_problem(err, f"many.yaml:{line_of(text, at)}", path, (phrase,))
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == len(expected), err
    # One `error: ...` line per problem, so that each can be found by grep.
    assert all(line.startswith("error: many.yaml:") for line in lines), err


def test_mistakes_in_both_networks_are_all_reported_in_one_run(tmp_path, monkeypatch, capsys):
    text = chain(
        sub("- Flatten: {}", "- Flaten: {}"),
        sub("Conv2DTranspose: {filters: 32", "Conv2DTranspose: {filter: 32"),
    )(shipped("cvae_mnist"))
    rc, _, err = _run(tmp_path, monkeypatch, capsys, {"two.yaml": text}, ["validate", "two.yaml"])
    assert rc == 2
    _assert_problem(err, f"two.yaml:{line_of(text, 'Flaten')}", f"{ENC}.layers[5].Flaten", ("Did you mean 'Flatten'?",))
    _assert_problem(
        err, f"two.yaml:{line_of(text, '{filter: 32')}", f"{DEC}.layers[3].Conv2DTranspose",
        ("has no keyword argument 'filter'",), deeper_ok=True,
    )


def test_several_mistakes_in_one_network_are_all_reported(tmp_path, monkeypatch, capsys):
    text = chain(
        sub("- Conv2D: {filters: 32", "- Conv2d: {filters: 32"),
        sub("- Dense: {units: 49", "- Dense2: {units: 49"),
        sub("MaxPooling2D", "Maxpooling2D", nth=2),
    )(shipped("autoencoder_mnist"))
    rc, _, err = _run(tmp_path, monkeypatch, capsys, {"three.yaml": text}, ["validate", "three.yaml"])
    assert rc == 2
    for at, path in (("Conv2d", f"{ENC}.layers[0].Conv2d"), ("Maxpooling2D", f"{ENC}.layers[3].Maxpooling2D"),
                     ("Dense2", f"{ENC}.layers[6].Dense2")):
        _assert_problem(err, f"three.yaml:{line_of(text, at)}", path, ("unknown layer",))
    assert len(_problem_lines(err)) == 3, err
