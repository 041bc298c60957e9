"""docs/blocks.md and the graph guide of docs/spec.md: generated from the blocks, current, and
every YAML example in them builds to the output shape it states."""

import re
from pathlib import Path

import pytest
import yaml

from genkit.cli import main
from genkit.nets import build_network, get_layer_class, list_blocks
from genkit.nets.block_docs import COMMAND, REQUIRED, block_doc, blocks_reference, inputs_form
from genkit.nets.catalog import TRAITS
from genkit.spec.card import family_names
from genkit.spec.schema import NetworkSpec

ROOT = Path(__file__).resolve().parents[1]
BLOCKS_MD = ROOT / "docs" / "blocks.md"
SPEC_MD = ROOT / "docs" / "spec.md"
BLOCKS = list_blocks()
OUTPUT_SHAPE = re.compile(r"#.*\((B(?:, \d+)*)\)\s*$")  # the example's last line: `# (B, 8, 8, 32)`


def build_example(name, text):
    """The functional model of a YAML network example, and the output shape its last line states."""
    stated = OUTPUT_SHAPE.search(text.rstrip().splitlines()[-1])
    assert stated, f"{name}: the example's last line must end with its output shape, e.g. `# (B, 8, 8, 32)`"
    model = build_network(name, NetworkSpec(**yaml.safe_load(text)))
    return model, tuple(None if d == "B" else int(d) for d in stated.group(1).split(", "))


def test_docs_blocks_md_is_current():
    assert BLOCKS_MD.exists(), f"docs/blocks.md is missing; generate it with: {COMMAND}"
    assert BLOCKS_MD.read_text(encoding="utf-8") == blocks_reference(), (
        f"docs/blocks.md is stale; regenerate it with: {COMMAND}"
    )


@pytest.mark.parametrize("name", BLOCKS)
def test_block_documents_its_inputs_parameters_and_fit(name):
    doc = block_doc(name)  # raises when Args disagree with the constructor or a section is missing
    assert doc.summary and doc.inputs and doc.returns
    assert all(p.text for p in doc.params) and all(i.text for i in doc.inputs)
    # Only trailing inputs may be optional: `from` lists them in order.
    optional = [i.optional for i in doc.inputs]
    assert optional == sorted(optional), f"{name}: an optional input comes before a required one"
    cls = get_layer_class(name)
    assert "FITS" in vars(cls), f"{name} must say which families it fits (FITS, see genkit.nets.catalog)"
    assert set(cls.FITS) <= set(TRAITS) | set(family_names()), cls.FITS
    assert f"## {name}\n" in BLOCKS_MD.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", BLOCKS)
def test_block_example_builds_to_the_shape_it_states(name):
    doc = block_doc(name)
    model, stated = build_example(name, doc.example)
    assert tuple(model.output.shape) == stated
    assert any(type(layer) is get_layer_class(name) for layer in model.layers), f"{name}'s example does not use {name}"


def test_multi_input_blocks_say_their_from_order():
    forms = {name: inputs_form(block_doc(name)) for name in BLOCKS}
    assert forms["ResBlock"] == "x or [x, emb]"
    assert forms["ModulatedConv2D"] == "[x, w]"
    assert forms["Sampling"] == "[mean, log_var] or [mean, log_var, eps]"
    assert forms["SinusoidalEmbedding"] == "t"
    params = {p.name: p.default for p in block_doc("ResBlock").params}
    assert params == {"filters": REQUIRED, "groups": "8", "dropout": "0.0", "epsilon": "1e-05"}


def test_spec_md_explains_graph_inputs_and_y_and_its_example_builds():
    text = SPEC_MD.read_text(encoding="utf-8")
    guide = text.split("## Graphs: several inputs and the label `y`\n", 1)[1].split("\n## ", 1)[0]
    for words in (
        "`from: [a, b]`",
        "`y: [num_classes]`",
        "label_dropout",
        "[docs/blocks.md](blocks.md)",
        "SinusoidalEmbedding",
    ):
        assert words in guide, words
    example = re.search(r"```yaml\n(.*?)```", guide, re.DOTALL).group(1)
    model = build_network("denoiser", NetworkSpec(**yaml.safe_load(example)))
    assert [tuple(i.shape) for i in model.inputs] == [(None, 28, 28, 1), (None,), (None, 128)]
    assert tuple(model.output.shape) == (None, 28, 28, 1)
    # docs/blocks.md links to that heading by its GitHub anchor.
    assert "(spec.md#graphs-several-inputs-and-the-label-y)" in BLOCKS_MD.read_text(encoding="utf-8")


def test_layers_name_prints_one_blocks_whole_doc(capsys):
    assert main(["layers", "ResBlock"]) == 0
    out = capsys.readouterr().out
    assert "from: x or [x, emb]" in out and "a ResBlock takes no third input" in " ".join(out.split())
    assert re.search(r"filters\s+required", out) and re.search(r"groups\s+8", out)
    assert "{id: h, layer: ResBlock, filters: 32, from: [x, temb]}" in out


def test_layers_name_of_a_keras_layer_and_of_a_typo(capsys):
    assert main(["layers", "Concatenate"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Concatenate (keras.layers.Concatenate)") and "from: [a, b, ...]" in out and "axis" in out
    assert main(["layers", "resblock"]) == 2
    assert "Did you mean 'ResBlock'" in capsys.readouterr().err
