"""Errors a user can act on.

Every error a person can cause through a spec or the command line is a `GenkitError`.
The CLI prints its message as one paragraph per problem and exits with code 2; nothing
else in genkit catches exceptions to hide them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

__all__ = ["GenkitError", "Problem", "SpecError", "closest", "did_you_mean"]


class GenkitError(Exception):
    """A mistake in the user's input (spec, flags, files); reported without a traceback."""

    exit_code = 2  # what the CLI exits with; a failed pipeline run (not a user mistake) uses 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, located by its field path."""

    path: tuple = ()  # field path, e.g. ("model", "networks", "encoder", "layers", 3)
    message: str = ""  # what was received and what was expected
    suggestion: str = ""  # how to fix it (may be empty)
    where: str = ""  # "file.yaml:14" filled in from the spec's source map

    def dotted(self) -> str:
        return dotted_path(self.path)

    def format(self) -> str:
        head = f"{self.where} " if self.where else ""
        field_ = f"{self.dotted()}: " if self.path else ""
        tail = f" {self.suggestion}" if self.suggestion else ""
        return f"{head}{field_}{self.message}{tail}"


def dotted_path(path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass
class SpecError(GenkitError):
    """One or more problems in a spec, all reported at once."""

    problems: list = field(default_factory=list)

    def __post_init__(self):
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(p.format() for p in self.problems)

    def located(self, source_map) -> SpecError:
        """Return a copy whose problems carry 'file:line' from `source_map`."""
        return SpecError(
            [
                p if p.where else Problem(p.path, p.message, p.suggestion, source_map.where(p.path))
                for p in self.problems
            ]
        )


def closest(word: str, options, n: int = 3) -> list:
    return difflib.get_close_matches(str(word), [str(o) for o in options], n=n, cutoff=0.6)


def did_you_mean(word: str, options) -> str:
    """'Did you mean X?' for the nearest option, or the list of options when none is near."""
    near = closest(word, options)
    if near:
        return "Did you mean " + " or ".join(repr(x) for x in near) + "?"
    options = sorted(str(o) for o in options)
    if len(options) <= 12:
        return "Expected one of: " + ", ".join(options) + "."
    return ""
