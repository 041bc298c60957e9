"""Read a YAML spec file keeping where each value was written (file:line), refusing tags.

`read_yaml(path, label)` returns (data, lines): the plain mapping and field path -> 'label:line'.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from genkit.errors import Problem, SpecError

__all__ = ["read_yaml", "source_label"]


def read_yaml(path: Path, label: str) -> tuple[dict, dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Problem((), f"spec file '{path}' does not exist.", "Check the path.")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError([Problem((), f"cannot read spec file '{path}': {err}.")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        problem = getattr(err, "problem", None) or str(err)
        raise SpecError(
            [Problem((), f"is not valid YAML: {problem}.", "Check indentation, colons and brackets there.", where)]
        ) from None
    if node is None:
        raise SpecError([Problem((), "the spec file is empty.", "Start from one of the files in specs/.", label)])
    lines: dict = {}
    problems: list = []
    try:
        data = _construct(node, (), label, lines, problems)
    except (yaml.YAMLError, ValueError, TypeError) as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        problem = getattr(err, "problem", None) or str(err)
        raise SpecError([Problem((), f"cannot be read: {problem}.", "genkit reads plain YAML (no Python or custom tags).", where)]) from None
    if problems:
        raise SpecError(problems)
    if not isinstance(data, dict):
        raise SpecError(
            [Problem((), "a spec must be a YAML mapping (key: value lines) at the top level.", "", f"{label}:1")]
        )
    return data, lines


def _construct(node, path, label, lines, problems):
    """Python values of a composed YAML node, recording the line of every field path."""
    lines[path] = f"{label}:{node.start_mark.line + 1}"
    if isinstance(node, yaml.MappingNode):
        first_line = {}
        for key_node, _ in node.value:  # keys written twice by hand (merged keys may repeat)
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(path, "a key must be a plain name, not a list or mapping.", "", f"{label}:{line}"))
            elif key_node.tag != "tag:yaml.org,2002:merge":
                key = _scalar(key_node, path, label, problems)
                if key in first_line:
                    problems.append(
                        Problem(
                            path + (key,),
                            f"is written twice (first on line {first_line[key]}); YAML would keep only the last.",
                            "Remove one of them.",
                            f"{label}:{line}",
                        )
                    )
                first_line.setdefault(key, line)
        loader = yaml.SafeLoader("")
        loader.flatten_mapping(node)  # YAML merge keys (<<: *anchor), as yaml.safe_load reads them
        loader.dispose()
        out = {}
        for key_node, value_node in node.value:  # merged keys first, so written ones win
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = _scalar(key_node, path, label, problems)
            out[key] = _construct(value_node, path + (key,), label, lines, problems)
            lines[path + (key,)] = f"{label}:{key_node.start_mark.line + 1}"
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, path + (i,), label, lines, problems) for i, item in enumerate(node.value)]
    return _scalar(node, path, label, problems)


def _scalar(node, path, label, problems):
    """The value of a scalar node; an unreadable one (unknown tag, bad !!int) is a problem."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError) as err:
        reason = getattr(err, "problem", None) or str(err)
        problems.append(
            Problem(path, f"cannot be read: {reason}.", "genkit reads plain YAML (no Python or custom tags).", f"{label}:{node.start_mark.line + 1}")
        )
        return None
    finally:
        loader.dispose()


# --------------------------------------------------------------------------- extends / overrides
def source_label(path: Path) -> str:
    """How a file is named in messages: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


