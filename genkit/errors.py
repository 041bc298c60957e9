"""Errors a user can act on.

Every error a person can cause through a spec or the command line is a `GenkitError`.
The CLI prints its message as one paragraph per problem and exits with code 2; nothing
else in genkit catches exceptions to hide them.
"""

from __future__ import annotations

import difflib
import errno
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GenkitError", "Problem", "SpecError", "closest", "did_you_mean", "write_failure"]


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


# Why a write fails that the user can fix: the folder, not genkit, is at fault.
_UNWRITABLE = {
    errno.EACCES: ("permission denied", "Make the folder writable (or point runs_dir / export.dir elsewhere)"),
    errno.EPERM: ("operation not permitted", "Make the folder writable (or point runs_dir / export.dir elsewhere)"),
    errno.EROFS: ("read-only file system", "Point runs_dir / export.dir at a writable disk"),
    errno.ENOSPC: ("no space left on the device", "Free some space (old runs under runs/, exports)"),
    errno.EDQUOT: ("disk quota exceeded", "Free some space (old runs under runs/, exports)"),
}


def write_failure(err: OSError, folder, what: str, then: str = "") -> GenkitError | None:
    """The GenkitError for a write into `folder` that failed on a read-only folder or a full
    disk, or None when `err` is some other failure (a bug to show with its traceback).

    `what` names what was being written ("checkpoint of epoch 3"); `then` is how to carry on
    once fixed (e.g. how to resume).
    """
    why = _UNWRITABLE.get(err.errno)
    if why is None:
        return None
    target = f" ({err.filename})" if err.filename else ""
    return GenkitError(
        f"could not write the {what} in {Path(folder)}: {why[0]}{target}. "
        f"{why[1]}, then {then or 'run the command again'}. "
        "Files written before this one are intact (genkit writes each file or folder whole or not at all)."
    )
