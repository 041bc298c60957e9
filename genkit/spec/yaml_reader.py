"""Read a YAML spec file keeping where each value was written (file:line), refusing tags.

`read_yaml(path, label)` returns (data, lines): the plain mapping and field path -> 'label:line'.

A spec may come from someone else, so reading one is bounded before any Python value is
built: the file's size (`MAX_SPEC_BYTES`), how deep values nest (`MAX_DEPTH`, checked while
the YAML is composed, aliases followed) and how many values the aliases expand to
(`MAX_VALUES`: a "billion laughs" file of nested aliases is refused, not expanded), and an
alias inside its own anchor is refused instead of recursing forever.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from genkit.errors import Problem, SpecError

__all__ = ["MAX_DEPTH", "MAX_SPEC_BYTES", "MAX_VALUES", "read_yaml", "source_label"]

MAX_SPEC_BYTES = 4 * 1024 * 1024  # a spec is a page of text; 4 MiB is far beyond any real one
MAX_DEPTH = 64  # mappings and lists inside one another, aliases followed
MAX_VALUES = 100_000  # values (keys, scalars, mappings, lists) once every alias is expanded

_PLAIN_TAGS = {
    "tag:yaml.org,2002:" + name
    for name in ("null", "bool", "int", "float", "str", "timestamp", "map", "seq", "merge")
}
_TAG_FIX = "genkit reads plain YAML: remove the tag (tags such as !!python/object are refused)."


class _Limit(yaml.YAMLError):
    """A spec over one of the reading limits, raised while composing, before values are built."""

    def __init__(self, message, mark, suggestion):
        super().__init__(message)
        self.message, self.mark, self.suggestion = message, mark, suggestion


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses values nested deeper than MAX_DEPTH (PyYAML's composer
    recurses once per level, so a deep file would otherwise end in a RecursionError)."""

    _depth = 0

    def compose_node(self, parent, index):
        if self._depth >= MAX_DEPTH:
            raise _Limit(
                f"values are nested more than {MAX_DEPTH} levels deep.",
                self.peek_event().start_mark,
                "A spec nests a few levels; flatten this value.",
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _line_of_offset(text, offset) -> int:
    return text[:offset].count("\n" if isinstance(text, str) else b"\n") + 1


def read_yaml(path: Path, label: str) -> tuple[dict, dict]:
    try:
        with open(path, "rb") as stream:  # at most one byte past the limit, whatever the file is (/dev/zero)
            raw = stream.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise SpecError([Problem((), f"spec file '{path}' does not exist.", "Check the path.")]) from None
    except OSError as err:
        raise SpecError([Problem((), f"cannot read spec file '{path}': {err.strerror or err}.")]) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(
            [Problem((), f"the spec file is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB; a spec is a page of text.", "Check that this is the spec file.", label)]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        column = err.start - raw.rfind(b"\n", 0, err.start)
        raise SpecError(
            [
                Problem(
                    (),
                    f"byte 0x{raw[err.start]:02x} (column {column}) is not UTF-8 text.",
                    "Save the file as UTF-8 (a Latin-1 or Windows-1252 accent is the usual cause).",
                    f"{label}:{_line_of_offset(raw, err.start)}",
                )
            ]
        ) from None
    try:
        loader = _BoundedLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as err:
        line = _line_of_offset(text, err.position)
        column = err.position - text.rfind("\n", 0, err.position)
        raise SpecError(
            [
                Problem(
                    (),
                    f"holds the character {_char_name(err.character)} (column {column}), which YAML does not allow in a file.",
                    "Remove it (a file saved by a binary tool, or a stray control character).",
                    f"{label}:{line}",
                )
            ]
        ) from None
    except _Limit as err:
        raise SpecError([Problem((), err.message, err.suggestion, f"{label}:{err.mark.line + 1}")]) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        problem = getattr(err, "problem", None) or str(err)
        raise SpecError(
            [Problem((), f"is not valid YAML: {problem}.", "Check indentation, colons and brackets there.", where)]
        ) from None
    if node is None:
        raise SpecError([Problem((), "the spec file is empty.", "Start from one of the files in specs/.", label)])
    _check_expansion(node, label)
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
        raise SpecError(list(dict.fromkeys(problems)))  # an anchor used N times: its problem once
    if not isinstance(data, dict):
        raise SpecError(
            [Problem((), "a spec must be a YAML mapping (key: value lines) at the top level.", "", f"{label}:1")]
        )
    return data, lines


def _char_name(code) -> str:
    return "NUL (0x00)" if code == 0 else f"U+{code:04X}"


def _children(node):
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root, label) -> None:
    """Refuse a composed YAML graph that aliases make cyclic, too deep or too large, from the
    graph itself (each node visited once): nothing is expanded to find out."""
    sizes: dict = {}  # id(node) -> (values once expanded, levels below it)
    on_path: set = set()

    def refuse(node, message, fix):
        raise SpecError([Problem((), message, fix, f"{label}:{node.start_mark.line + 1}")])

    def walk(node, depth):
        if depth > MAX_DEPTH:
            refuse(node, f"values are nested more than {MAX_DEPTH} levels deep once YAML aliases (*name) are followed.", "A spec nests a few levels; flatten this value.")
        key = id(node)
        if key in on_path:
            refuse(node, "a YAML alias (*name) is used inside its own anchor (&name), so the value would contain itself forever.", "Use the alias outside the anchored value.")
        if key not in sizes:
            on_path.add(key)
            size, height = 1, 0
            for child in _children(node):
                child_size, child_height = walk(child, depth + 1)
                size, height = size + child_size, max(height, child_height + 1)
                if size > MAX_VALUES:
                    refuse(node, f"YAML aliases (*name) expand this value to more than {MAX_VALUES:,} values (nested aliases multiply).", "Write the values out, or repeat fewer of them.")
            on_path.discard(key)
            sizes[key] = (size, height)
        size, height = sizes[key]
        if depth + height > MAX_DEPTH:
            refuse(node, f"values are nested more than {MAX_DEPTH} levels deep once YAML aliases (*name) are followed.", "A spec nests a few levels; flatten this value.")
        return sizes[key]

    walk(root, 0)


def _construct(node, path, label, lines, problems):
    """Python values of a composed YAML node, recording the line of every field path."""
    lines[path] = f"{label}:{node.start_mark.line + 1}"
    if not _plain_tag(node, path, label, problems):
        return None
    if isinstance(node, yaml.MappingNode):
        first_line = {}
        written = {id(key_node) for key_node, _ in node.value}
        for key_node, _ in node.value:  # keys written twice by hand (merged keys may repeat)
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(path, "a key must be a plain name, not a list or mapping.", "", f"{label}:{line}"))
            elif key_node.tag != "tag:yaml.org,2002:merge":
                key = _key(key_node, path, label, problems)
                if key is None:
                    continue
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
            key = _key(key_node, path, label, [] if id(key_node) in written else problems)
            if key is None:
                continue
            out[key] = _construct(value_node, path + (key,), label, lines, problems)
            lines[path + (key,)] = f"{label}:{key_node.start_mark.line + 1}"
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, path + (i,), label, lines, problems) for i, item in enumerate(node.value)]
    return _scalar(node, path, label, problems)


def _plain_tag(node, path, label, problems) -> bool:
    """Whether `node` is plain YAML (its tag implicit or a standard one); a problem if not."""
    if node.tag in _PLAIN_TAGS:
        return True
    shown = node.tag.replace("tag:yaml.org,2002:", "!!", 1)
    problems.append(Problem(path, f"the YAML tag {shown!r} is refused: tags are not read.", _TAG_FIX, f"{label}:{node.start_mark.line + 1}"))
    return False


def _key(node, path, label, problems):
    """The name a key node holds, or None (with a problem) when it is not text."""
    key = _scalar(node, path, label, problems)
    if isinstance(key, str) or node.tag not in _PLAIN_TAGS:
        return key if isinstance(key, str) else None
    shown = "null (an empty key or ~)" if key is None else f"{key!r}, not text"
    problems.append(
        Problem(path, f"a key must be a name; got {shown}.", "Write the option's name, in quotes if it looks like a number or true/false.", f"{label}:{node.start_mark.line + 1}")
    )
    return None


def _scalar(node, path, label, problems):
    """The value of a scalar node; an unreadable one (a tag, bad !!int) is a problem."""
    if not _plain_tag(node, path, label, problems):
        return None
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


