"""One JSON Schema (draft 2020-12) for every genkit spec file, generated from the schema classes.

Editors (VS Code's YAML extension, PyCharm) use it to complete keys, show docs and flag
mistakes while a spec is typed; `genkit schema` prints it. Every property, title,
description, default, bound and option list comes from `genkit.spec.schema` through
pydantic's `model_json_schema()`; this module only assembles the pieces pydantic cannot
express in one class:

* the `loss` section depends on `model.family`: the root declares `loss` as a mapping and
  adds, for each family F, `if model.family == F then loss is <F's loss schema>`;
* a file may start with `extends: <file>` (the loader merges and removes it before
  validation); such a file only overrides its parent, so it may leave out keys that a
  complete spec requires. The sections therefore carry no `required` lists of their own:
  they are gathered into one "complete spec" schema that applies when `extends` is absent;
* `name` is not required in a file: the loader uses the file's name when it is missing.

The JSON Schema checks each value on its own; cross-field rules (`genkit.spec.rules`) and
custom validators (e.g. `data.range` is [0, 1] or [-1, 1]) are only checked by
`genkit validate`.
"""

from __future__ import annotations

import copy

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from genkit.spec.card import cards, family_names
from genkit.spec.schema import SpecBase, spec_class

__all__ = ["DRAFT", "FILLED_BY_LOADER", "json_schema"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"

# Required fields of the root class that the loader fills when a file leaves them out
# (`loader.validate_dict`), with what it fills in.
FILLED_BY_LOADER = {"name": "the spec file's name without .yaml"}

# `extends` is a key of the file format, handled by the loader (`_load_with_extends`), not a
# field of any section class.
EXTENDS = {
    "type": "string",
    "title": "Extends",
    "description": "Spec file this one builds on, relative to this file: mappings merge key by key "
    "(this file wins), lists and values are replaced.",
}


class _FactoryDefaults(GenerateJsonSchema):
    """pydantic's generator, plus the defaults of `default_factory` fields.

    pydantic leaves those out; a section's default is written as the keys that differ from
    the section's own field defaults, i.e. `{}`.
    """

    def get_default_value(self, schema):
        factory = schema.get("default_factory")
        if factory is None or schema.get("default_factory_takes_data"):
            return super().get_default_value(schema)
        value = factory()
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json", exclude_defaults=True)
        return value


def json_schema() -> dict:
    """The JSON Schema of a genkit spec file, as a dict with a stable key order."""
    generate = dict(schema_generator=_FactoryDefaults, ref_template="#/$defs/{model}")
    base = SpecBase.model_json_schema(**generate)
    defs = base.pop("$defs")
    loss_by_family, sections_by_family, evaluate_by_family = {}, {}, {}
    for family in family_names():
        with_loss = spec_class(family).model_json_schema(**generate)
        for name, definition in with_loss.pop("$defs").items():
            if defs.setdefault(name, definition) != definition:
                raise RuntimeError(f"two schema classes share the name {name!r}; rename one")
        loss_by_family[family] = with_loss["properties"]["loss"]
        # The family's default evaluate.metrics (schema.family_metrics), where it is not the base's.
        if with_loss["properties"]["evaluate"] != base["properties"]["evaluate"]:
            evaluate_by_family[family] = with_loss["properties"]["evaluate"]
        for key in cards()[family].sections:
            sections_by_family.setdefault(family, {})[key] = with_loss["properties"][key]
    # model.family is a plain string in the schema classes (cards are found at run time): list them here.
    defs["ModelSpec"]["properties"]["family"]["enum"] = list(family_names())

    # The requirements move out of the sections into one schema checked only without `extends`.
    root = {"type": "object", "properties": base["properties"], "required": base["required"]}
    complete = _take_required(root, defs) or {}
    complete["required"] = [key for key in complete.get("required", []) if key not in FILLED_BY_LOADER]

    properties = {"extends": EXTENDS}
    for key, node in base["properties"].items():
        properties[key] = node
        if key == "model":  # `loss` follows `model` as in the shipped specs: its keys depend on the family
            properties["loss"] = _any_loss(loss_by_family)
            # A family's own sections (progan's `growth`) follow; each is allowed for its family only.
            for family, sections in sections_by_family.items():
                for name, node in sections.items():
                    properties[name] = {"type": "object", "description": node.get("description", "")}
    section_keys = {name for sections in sections_by_family.values() for name in sections}

    branches = [{"if": {"required": ["extends"]}, "else": complete}]
    for family in family_names():
        branches.append(
            {
                "if": {
                    "properties": {"model": {"properties": {"family": {"const": family}}, "required": ["family"]}},
                    "required": ["model"],
                },
                "then": {
                    "properties": {
                        "loss": loss_by_family[family],
                        **({"evaluate": evaluate_by_family[family]} if family in evaluate_by_family else {}),
                        **{name: False for name in sorted(section_keys - set(sections_by_family.get(family, {})))},
                        **sections_by_family.get(family, {}),
                    }
                },
            }
        )

    schema = {
        "$schema": DRAFT,
        "title": "genkit spec",
        "description": "A genkit spec file. The keys of `loss` depend on `model.family`.",
        "type": "object",
        "properties": properties,
        "additionalProperties": base["additionalProperties"],
        "allOf": branches,
        "$defs": dict(sorted(defs.items())),
    }
    return {key: _sorted(value) if key != "properties" else _sorted_properties(value) for key, value in schema.items()}


def _any_loss(loss_by_family: dict) -> dict:
    """The `loss` property before the family is known: a mapping, with its shared default."""
    defaults = [node.get("default") for node in loss_by_family.values()]
    node = {
        "type": "object",
        "title": "Loss",
        "description": "Objective of the model's family; which keys it takes depends on model.family.",
    }
    if defaults[0] is not None and all(default == defaults[0] for default in defaults):
        node["default"] = copy.deepcopy(defaults[0])
    return node


# --------------------------------------------------------------------------- requirements
def _take_required(node: dict, defs: dict, done: dict | None = None, seen: tuple = ()) -> dict | None:
    """Remove every `required` list under `node` (following $refs into `defs`) and return a
    schema that checks only those requirements, or None when there are none.

    `required` only constrains objects, so an `anyOf` branch keeps its other checks.
    `done` remembers each definition's requirements once they are taken out of it.
    """
    done = {} if done is None else done
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            raise RuntimeError(f"recursive schema class {name!r} is not supported")
        if name not in done:
            done[name] = _take_required(defs[name], defs, done, seen + (name,))
        return copy.deepcopy(done[name])
    out = {}
    if "required" in node:
        out["required"] = node.pop("required")
    for key, sub in node.get("properties", {}).items():
        needs = _take_required(sub, defs, done, seen)
        if needs is not None:
            out.setdefault("properties", {})[key] = needs
    for keyword in ("additionalProperties", "items"):
        if isinstance(node.get(keyword), dict):
            needs = _take_required(node[keyword], defs, done, seen)
            if needs is not None:
                if keyword == "additionalProperties" and "properties" in node:
                    raise RuntimeError("a mapping with both fixed and free keys is not supported")
                out[keyword] = needs
    # An anyOf branch without requirements keeps its own checks (`{}` would accept anything
    # there); a tuple item without requirements accepts anything.
    for keyword, keep in (("anyOf", True), ("prefixItems", False)):
        if keyword in node:
            needs = [_take_required(branch, defs, done, seen) for branch in node[keyword]]
            if any(n is not None for n in needs):
                out[keyword] = [
                    n if n is not None else (copy.deepcopy(b) if keep else {}) for n, b in zip(needs, node[keyword])
                ]
    return out or None


# --------------------------------------------------------------------------- stable order
def _sorted(value):
    """Sort the keywords of every schema node; property names keep their declaration order,
    the order of the fields in the classes and of the keys in the shipped specs."""
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        key: _sorted_properties(value[key]) if key in ("properties", "patternProperties") else _sorted(value[key])
        for key in sorted(value, key=_keyword_order)
    }


def _keyword_order(keyword: str) -> str:
    # Alphabetical, except that `if`, `then`, `else` read in that order.
    return {"then": "if 1", "else": "if 2"}.get(keyword, keyword)


def _sorted_properties(properties: dict) -> dict:
    return {name: _sorted(node) for name, node in properties.items()}
