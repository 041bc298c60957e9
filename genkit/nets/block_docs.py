"""The reference of every genkit block (docs/blocks.md and `genkit layers NAME`), generated.

A block's docstring is its documentation, written once, in sections this module reads:

    <summary line>
    <what it does, when to use it>
    Reference:  the paper(s)
    Args:       one `name: text` per constructor argument (defaults come from the signature)
    Inputs:     one `name: text` per input, in the order a graph node's `from: [a, b]` lists
                them; an input whose text starts with "optional" may be left off the end
    Returns:    the output
    Example:    a ```yaml fence holding a whole network (`input`/`inputs` plus `layers` or
                `graph`) whose last line ends with its output shape, `# (B, ...)`; a test
                builds every example and checks that shape

    python -m genkit.nets.block_docs > docs/blocks.md
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import textwrap
from dataclasses import dataclass

import keras

from genkit.nets.catalog import TRAITS, fits_of
from genkit.nets.registry import get_layer_class, list_blocks

__all__ = ["BlockDoc", "block_doc", "block_text", "blocks_reference", "inputs_form"]

COMMAND = "python -m genkit.nets.block_docs > docs/blocks.md"
SECTIONS = ("Reference", "Args", "Inputs", "Returns", "Example")
REQUIRED = "required"
_HEADING = re.compile(rf"^({'|'.join(SECTIONS)}):\s*$")
_ITEM = re.compile(r"^    (\w+): ?(.*)$")
_FENCE = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Item:
    name: str
    text: str
    default: str = REQUIRED  # parameters: the default as a spec writes it

    @property
    def optional(self) -> bool:  # inputs
        return self.text.lower().startswith("optional")


@dataclass(frozen=True)
class BlockDoc:
    name: str
    summary: str
    description: str
    reference: str
    params: tuple  # Items, in signature order
    inputs: tuple  # Items, in `from` order
    returns: str
    example: str  # YAML of a whole network
    fits: tuple


def block_doc(name: str) -> BlockDoc:
    """The documentation of the genkit block `name`, read from its docstring and signature.

    Raises:
        ValueError: the docstring lacks a section, or its Args disagree with the signature.
    """
    cls = get_layer_class(name)
    lines = inspect.cleandoc(cls.__doc__ or "").splitlines()
    head, sections, current = [], {}, None
    for line in lines:
        match = _HEADING.match(line)
        if match:
            current = sections.setdefault(match.group(1), [])
        elif current is None:
            head.append(line)
        else:
            current.append(line)
    missing = [s for s in ("Inputs", "Returns", "Example") if s not in sections]
    if missing or not head:
        raise ValueError(f"{name}: the docstring needs a summary line and the sections {', '.join(missing)}.")
    signature = _signature(cls)
    args = _items(sections.get("Args", []))
    if list(args) != list(signature):
        raise ValueError(f"{name}: Args documents {list(args)} but the constructor takes {list(signature)}.")
    examples = _FENCE.findall("\n".join(sections["Example"]))
    if len(examples) != 1:
        raise ValueError(f"{name}: the Example section needs exactly one ```yaml fence.")
    return BlockDoc(
        name=name,
        summary=head[0],
        description="\n".join(head[1:]).strip(),
        reference=_text(sections.get("Reference", [])),
        params=tuple(Item(key, text, signature[key]) for key, text in args.items()),
        inputs=tuple(Item(key, text) for key, text in _items(sections["Inputs"]).items()),
        returns=_text(sections["Returns"]),
        example=inspect.cleandoc(examples[0]),
        fits=fits_of(name),
    )


def _signature(cls) -> dict:
    """Own constructor arguments -> default as a spec writes it (REQUIRED when none)."""
    base = set(inspect.signature(keras.layers.Layer.__init__).parameters)  # name, dtype, trainable, ...
    found = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name in base or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        found[p.name] = REQUIRED if p.default is p.empty else _yaml(p.default)
    return found


def _items(lines) -> dict:
    """`name: text` entries of an Args/Inputs section; deeper-indented lines continue the text."""
    found, key = {}, None
    for line in lines:
        match = _ITEM.match(line)
        if match:
            key = match.group(1)
            found[key] = match.group(2).strip()
        elif line.strip() and key is not None:
            found[key] += " " + line.strip()
    return found


def _text(lines) -> str:
    return " ".join(line.strip() for line in lines if line.strip())


def _yaml(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def inputs_form(doc: BlockDoc) -> str:
    """What a graph node's `from` gives the block, e.g. `x or [x, emb]`."""
    needed = [i.name for i in doc.inputs if not i.optional]
    forms = [needed]
    for item in doc.inputs:
        if item.optional:
            forms.append(forms[-1] + [item.name])
    return " or ".join(names[0] if len(names) == 1 else f"[{', '.join(names)}]" for names in forms)


def fits_text(fits) -> str:
    if not fits:
        return "none: the families add it themselves"
    return "; ".join(f"{TRAITS[tag][0]}" if tag in TRAITS else f"family {tag}" for tag in fits)


# --------------------------------------------------------------------------- rendering
def block_text(name: str) -> str:
    """`genkit layers NAME`: the whole documentation of one block, as plain text."""
    doc = block_doc(name)
    width = max([len(i.name) for i in doc.params + doc.inputs] + [4])
    out = [f"{doc.name} (genkit block): {doc.summary}", ""]
    if doc.description:
        out += [doc.description, ""]
    out.append(f"Inputs, in the order a graph node's `from` lists them: from: {inputs_form(doc)}")
    out += [_wrapped(f"  {i.name:<{width}}  ", i.text) for i in doc.inputs]
    out.append("Parameters:" if doc.params else "Parameters: none (beyond name, dtype, ...)")
    out += [_wrapped(f"  {p.name:<{width}}  {p.default:<10} ", p.text) for p in doc.params]
    out += [f"Returns: {doc.returns}", f"Fits: {fits_text(doc.fits)}"]
    if doc.reference:
        out.append(f"Reference: {doc.reference}")
    out += ["Example (a whole network):", *("  " + line for line in doc.example.splitlines())]
    return "\n".join(out) + "\n"


def _wrapped(lead: str, text: str) -> str:
    return textwrap.fill(text, width=100, initial_indent=lead, subsequent_indent=" " * len(lead))


def blocks_reference() -> str:
    """docs/blocks.md: an index, then one section per block."""
    docs = [block_doc(name) for name in list_blocks()]
    out = [
        "# genkit blocks",
        "",
        (
            f"Generated by `{COMMAND}` from the blocks' docstrings in `genkit/nets/blocks/`; do not edit "
            "it by hand (a test fails when it is stale, and builds every example). `genkit layers NAME` "
            "prints one block's section; `genkit layers --family FAMILY` lists the blocks and Keras "
            "layers that fit a family."
        ),
        "",
        (
            "A block is named like a Keras layer: `- ResBlock: {filters: 64}` in a layer list, or "
            "`{id: r1, layer: ResBlock, filters: 64, from: [h, temb]}` in a graph. A block with several "
            "inputs is a graph node whose `from` lists them in the order given under *Inputs*; "
            "see [Graphs](spec.md#graphs-several-inputs-and-the-label-y) in docs/spec.md."
        ),
        "",
        "| block | from | summary |",
        "|---|---|---|",
        *(f"| [{d.name}](#{d.name.lower()}) | `{inputs_form(d)}` | {_cell(d.summary)} |" for d in docs),
    ]
    for d in docs:
        out += ["", f"## {d.name}", "", d.summary, ""]
        if d.description:
            out += [d.description, ""]
        out += [f"**Inputs** (`from: {inputs_form(d)}`, in this order):", ""]
        out += [f"- `{i.name}`: {i.text}" for i in d.inputs]
        out.append("")
        if d.params:
            out += ["| parameter | default | description |", "|---|---|---|"]
            out += [
                f"| `{p.name}` | {'*required*' if p.default == REQUIRED else f'`{p.default}`'} | {_cell(p.text)} |"
                for p in d.params
            ]
        else:
            out.append("**Parameters**: none beyond every layer's (`name`, `dtype`, ...).")
        out += ["", f"**Returns**: {d.returns}", "", f"**Fits**: {fits_text(d.fits)}."]
        if d.reference:
            out += ["", f"**Reference**: {d.reference}"]
        out += ["", "**Example** (a whole network):", "", "```yaml", d.example, "```"]
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


if __name__ == "__main__":
    sys.stdout.write(blocks_reference())
