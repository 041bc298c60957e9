"""Load a spec: YAML with line numbers, `extends:`, `--set` overrides, validation.

`load_spec(path, overrides)` returns a validated, frozen `Spec` and its `SourceMap`
(field path -> "file:line"), or raises `SpecError` listing every problem found.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_origin

import yaml
from pydantic import BaseModel, ValidationError

from genkit.errors import Problem, SpecError, did_you_mean, dotted_path
from genkit.spec import rules
from genkit.spec.card import cards, family_names
from genkit.spec.path_rules import PATH_FIELDS, is_inside, layer_path_arguments
from genkit.spec.schema import SpecBase, spec_class
from genkit.spec.yaml_reader import read_yaml, source_label

__all__ = ["LoadedSpec", "SourceMap", "apply_override", "load_spec", "parse_override", "pydantic_problems", "validate_dict"]


@dataclass
class SourceMap:
    """Where each field of the merged spec was written: path tuple -> 'file:line'."""

    lines: dict = field(default_factory=dict)

    def where(self, path) -> str:
        """Where `path`, or the nearest section above it, was written; the file alone (no line) when
        nothing on the way up was: the value is a default, and no line the user wrote is to blame."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        root = self.lines.get((), "")
        return re.sub(r":\d+(:\d+)?$", "", root) if path else root


@dataclass(frozen=True)
class LoadedSpec:
    spec: SpecBase
    source: SourceMap
    path: Path


def _merge(base: dict, over: dict) -> dict:
    """Deep merge: mappings merge key by key, everything else (lists included) is replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _load_with_extends(path: Path, chain: tuple, extends_chain: list, refused: list | None = None) -> tuple[dict, dict]:
    """The spec at `path` merged over the files it extends.

    With a `refused` list (paths are confined), a file it extends outside the working folder
    is not opened, so its contents are never read or quoted: its Problem goes into `refused`
    and the spec is read without it, so the other problems are still all reported at once.
    """
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(p.name for p in chain + (path,))
        where = extends_chain[-1][1] if extends_chain else ""
        raise SpecError([Problem(("extends",), f"extends forms a cycle: {cycle}.", "Remove one of the links.", where)])
    label = source_label(path)
    data, lines = read_yaml(path, label)
    _resolve_relative_paths(data, path.parent)
    parent = data.pop("extends", None)
    if parent is None:
        return data, lines
    if not isinstance(parent, str):
        raise SpecError(
            [Problem(("extends",), f"got {parent!r}; expected a file name.", "", lines.get(("extends",), label))]
        )
    where = lines.get(("extends",), label)
    if refused is not None and not is_inside(path.parent / parent, Path.cwd().resolve()):
        refused.append(_outside_problem(("extends",), parent, path.parent / parent, where))
        return data, lines
    if not (path.parent / parent).is_file():
        raise SpecError(
            [Problem(("extends",), f"{parent!r} does not exist (looked for {path.parent / parent}).", "Paths in extends are relative to this file.", where)]
        )
    extends_chain.append((path.parent / parent, where))
    base, base_lines = _load_with_extends(path.parent / parent, chain + (path,), extends_chain, refused)
    merged_lines = dict(base_lines)
    merged_lines.update(lines)
    return _merge(base, data), merged_lines


# Files a spec reads: a relative path written in a spec file is relative to that file, and one
# given with --set relative to the spec named on the command line, so that `--set` means what
# the same line would mean in the file (one rule, whichever way the value arrives).
SPEC_RELATIVE_PATHS = (("data", "path"), ("evaluate", "feature_extractor"))


def _resolve_relative_paths(data: dict, folder: Path) -> None:
    for section_name, key in SPEC_RELATIVE_PATHS:
        section = data.get(section_name)
        if isinstance(section, dict) and key in section:
            section[key] = _relative_to(section[key], folder)


def _relative_to(value, folder: Path):
    """A relative path string joined to `folder`; anything else unchanged."""
    if not isinstance(value, str) or Path(value).expanduser().is_absolute():
        return value
    return str(folder / Path(value).expanduser())


def parse_override(text: str) -> tuple[tuple, object]:
    """'train.epochs=5' -> (('train', 'epochs'), 5); list indices as numbers: 'a.layers.0.Dense.units=8'."""
    if "=" not in text:
        raise SpecError(
            [Problem((), f"--set {text!r}: expected KEY.PATH=VALUE, e.g. --set train.epochs=5.", "", "--set")]
        )
    key, value = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(p.strip() for p in parts):
        raise SpecError(
            [
                Problem(
                    (),
                    f"{text!r}: the key {key.strip()!r} has an empty part (two dots, or a dot at an end).",
                    "Write KEY.PATH=VALUE with one dot between names, e.g. --set train.epochs=5.",
                    "--set",
                )
            ]
        )
    path = tuple(int(p) if p.isdigit() else p.strip() for p in parts)
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return path, parsed


def apply_override(data: dict, path: tuple, value, lines: dict, text: str) -> None:
    if path[0] == "extends":
        raise SpecError(
            [Problem(("extends",), "extends can only be written in a spec file, not set with --set.", "", f"--set {text}")]
        )
    node = data
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                raise SpecError([Problem(path[: i + 1], f"--set {text}: no list item {part}.", "", "--set")])
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise SpecError([Problem(path[:i], f"--set {text}: {dotted_path(path[:i])} is a value, not a section.", "", "--set")])
        if part not in node or node[part] is None:
            node[part] = [] if isinstance(nxt, int) else {}
        node = node[part]
    last = path[-1]
    if not isinstance(node, (dict, list)):
        raise SpecError([Problem(path[:-1], f"--set {text}: {dotted_path(path[:-1])} is a value, not a section.", "", "--set")])
    if isinstance(node, list):
        if not isinstance(last, int) or last >= len(node):
            raise SpecError([Problem(path, f"--set {text}: no list item {last}.", "", "--set")])
    node[last] = value
    lines[path] = f"--set {text}"


# --------------------------------------------------------------------------- validation
def pydantic_problems(err: ValidationError, root_cls) -> list:
    problems = []
    for item in err.errors():
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        kind = item["type"]
        got = item.get("input")
        if kind == "extra_forbidden":
            options = _allowed_keys(root_cls, loc[:-1])
            owners = [name for name, declared in cards().items() if len(loc) == 1 and loc[0] in declared.sections]
            if owners:  # another family's own section (vae's `prior`, progan's `growth`)
                problems.append(Problem(loc, f"is a section of the {', '.join(owners)} family only; this spec's family does not read it.",
                                        f"Remove {loc[0]}, or use model.family: {owners[0]}."))
                continue
            fix = _one_level_down(root_cls, loc, got) or (did_you_mean(loc[-1], options) if options else "")
            problems.append(Problem(loc, f"unknown key {loc[-1]!r}.", fix))
        elif kind == "missing":
            problems.append(Problem(loc, "is required but missing.", _field_doc(root_cls, loc)))
        elif kind == "literal_error":
            expected = item.get("ctx", {}).get("expected", "")
            options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()]
            problems.append(Problem(loc, f"got {got!r}; expected one of {', '.join(options)}.", did_you_mean(got, options)))
        else:
            msg = item["msg"]
            msg = msg.removeprefix("Value error, ")
            shown = "" if isinstance(got, dict) else f"got {_short_repr(got)}; "
            text = f"{shown}{msg[0].lower() + msg[1:]}"
            problems.append(Problem(loc, text if text.endswith(".") else text + ".", _field_doc(root_cls, loc)))
    return problems


def _short_repr(value, limit: int = 60) -> str:
    """repr(value), a long string cut in the middle: a message quotes a value, not a page."""
    text = repr(value)
    if isinstance(value, str) and len(text) > limit:
        return f"{text[: limit - 12]}...{text[-9:]} ({len(value)} characters)"
    return text


def _field_info(root_cls, loc):
    cls, info = root_cls, None
    for part in loc:
        cls = _unwrap_model(info.annotation) if info is not None else cls
        if cls is None or not isinstance(part, str) or part not in cls.model_fields:
            if info is not None and isinstance(part, (int, str)):
                continue  # list index or dict key: stay on the element type
            return None
        info = cls.model_fields[part]
    return info


def _unwrap_model(annotation):
    """The BaseModel class inside Optional[...], list[...], dict[str, ...], or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _unwrap_model(arg)
        if found is not None:
            return found
    return None


def _allowed_keys(root_cls, loc) -> list:
    if not loc:
        return list(root_cls.model_fields)
    info = _field_info(root_cls, loc)
    cls = _unwrap_model(info.annotation) if info is not None else None
    return list(cls.model_fields) if cls else []


def _one_level_down(root_cls, loc, value) -> str:
    """'Did you mean a.b.key?' when the unknown key is an option of a section inside this one
    (train.learning_rate for train.optimizer.learning_rate): the key is right, its place is not."""
    key = loc[-1]
    for name in _allowed_keys(root_cls, loc[:-1]):
        info = _field_info(root_cls, (*loc[:-1], name))
        if info is None or get_origin(info.annotation) in (dict, list):
            continue  # keys chosen by the user (train.optimizers.<role>): no one place to suggest
        if key in _allowed_keys(root_cls, (*loc[:-1], name)):
            inner = dotted_path((*loc[:-1], name, key))
            written = yaml.safe_dump({name: {key: value}}, default_flow_style=True, width=1000).strip()[1:-1]
            return f"Did you mean {inner!r}? It is an option of {dotted_path((*loc[:-1], name))}: write '{written}' there."
    return ""


def _field_doc(root_cls, loc) -> str:
    info = _field_info(root_cls, loc)
    return f"({info.description})" if info is not None and info.description else ""


def validate_dict(data: dict, source: SourceMap | None = None, default_name: str = "spec") -> SpecBase:
    """Validate a merged mapping into a frozen Spec; raise SpecError with every problem."""
    source = source or SourceMap()
    data = dict(data)
    data.setdefault("name", default_name)
    for key, section in data.items():
        if key in SpecBase.model_fields and isinstance(SpecBase.model_fields[key].annotation, type) and issubclass(
            SpecBase.model_fields[key].annotation, BaseModel
        ) and not isinstance(section, dict):
            raise SpecError(
                [Problem((key,), f"got {section!r}; expected a mapping of {key} options.", _field_doc(SpecBase, (key,)))]
            ).located(source)
    family = (data.get("model") or {}).get("family") if isinstance(data.get("model"), dict) else None
    families = family_names()
    if family not in families:
        # Validate against any family so the other sections' problems are reported too.
        problems = []
        if family is None:
            problems.append(Problem(("model", "family"), "is required but missing.", "Expected one of: " + ", ".join(families) + "."))
        else:
            problems.append(
                Problem(("model", "family"), f"got {family!r}; expected one of {', '.join(families)}.", did_you_mean(family, families))
            )
        # Without the family-specific sections (loss; vae's prior, progan's growth): they depend on the family.
        family_sections = {key for declared in cards().values() for key in declared.sections}
        probe = {k: v for k, v in data.items() if k not in family_sections}
        probe = dict(probe, model=dict(data.get("model") or {}, family="autoencoder"), loss={})
        try:
            spec_class("autoencoder").model_validate(probe)
        except ValidationError as err:
            problems += [p for p in pydantic_problems(err, spec_class("autoencoder")) if p.path[:2] != ("model", "family")]
        raise SpecError(problems).located(source)
    cls = spec_class(family)
    try:
        spec = cls.model_validate(data)
    except ValidationError as err:
        raise SpecError(pydantic_problems(err, cls)).located(source) from None
    problems = rules.check(spec)
    if problems:
        raise SpecError(problems).located(source)
    return spec


ALLOW_OUTSIDE_ENV = "GENKIT_ALLOW_OUTSIDE_PATHS"


def outside_paths_allowed(flag: bool = False) -> bool:
    return flag or os.environ.get(ALLOW_OUTSIDE_ENV) == "1"


def _check_confined(data: dict, source: SourceMap, extends_chain: list) -> list:
    """Paths a spec file (not the command line) names must resolve inside the working folder.

    A spec may come from someone else; it must not read or write elsewhere on the machine
    unless the person running genkit allows it.
    """
    root = Path.cwd().resolve()
    found = [(("extends",), target, where) for target, where in extends_chain]
    for key in PATH_FIELDS:
        value = data
        for part in key:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str):
            found.append((key, value, source.where(key)))
    # Layer arguments that Keras reads as files (a vocabulary file, a SavedModel).
    found += [(key, value, source.lines.get(key) or source.where(key)) for key, value in layer_path_arguments(data)]
    return [
        _outside_problem(key, target, target, where)
        for key, target, where in found
        if not where.startswith("--set") and not is_inside(target, root)
    ]


def _outside_problem(key, written, target, where) -> Problem:
    """The refusal of a path outside the working folder (the file itself is never opened)."""
    root = Path.cwd().resolve()
    resolved = (root / Path(target).expanduser()).resolve()
    return Problem(
        key,
        f"{str(written)!r} resolves to {resolved}, outside the project folder {root}.",
        f"Keep paths inside it, or allow this deliberately with --allow-outside-paths (or {ALLOW_OUTSIDE_ENV}=1).",
        where,
    )


def load_spec(path, overrides=(), *, allow_outside_paths: bool = False) -> LoadedSpec:
    """Read, merge, override and validate the spec at `path`."""
    path = Path(path)
    extends_chain: list = []
    confine = not outside_paths_allowed(allow_outside_paths)
    refused: list = []
    data, lines = _load_with_extends(path, (), extends_chain, refused if confine else None)
    for text in overrides:
        key, value = parse_override(text)
        if key in SPEC_RELATIVE_PATHS:
            value = _relative_to(value, path.resolve().parent)
        apply_override(data, key, value, lines, text)
    source = SourceMap(lines)
    if confine:
        problems = refused + _check_confined(data, source, extends_chain)
        if problems:
            raise SpecError(problems)
    spec = validate_dict(data, source, default_name=path.stem)
    return LoadedSpec(spec=spec, source=source, path=path)
