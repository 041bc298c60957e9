"""Atomic writes (standard library only): a file or a folder appears whole or not at all.

Readers (the runtime, a resumed training run, a web server) must never see half an export or
half a checkpoint, and a failed write must leave the previous version exactly as it was.
Both helpers write next to the target (same filesystem, so `os.rename`/`os.replace` are
atomic), fsync the data, then swap it into place.

This module imports only the standard library, so `genkit.runtime` can use it without
pulling in TensorFlow.

Example:
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics))
    with atomic_directory(Path("exports/cvae_mnist")) as tmp:
        (tmp / "manifest.json").write_text("{}")   # swapped in when the block succeeds
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["PREVIOUS", "atomic_directory", "atomic_write_bytes", "atomic_write_text", "leftovers", "recover_interrupted"]

# Where `atomic_directory(..., previous="keep")` keeps the folder it replaced, inside the new one.
PREVIOUS = ".previous"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and `os.replace`.

    The parent folder is created if needed. The file gets the permissions a plain `open()`
    would give it (the process umask), not the 0600 of a temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _fresh_name(path.parent, f".{path.name}.tmp-")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """`atomic_write_bytes` for text."""
    return atomic_write_bytes(path, text.encode(encoding))


@contextlib.contextmanager
def atomic_directory(
    final: str | os.PathLike,
    *,
    check: Callable[[Path], None] | None = None,
    previous: str = "drop",
) -> Iterator[Path]:
    """Yield an empty sibling folder `.<name>.tmp-<pid>-XXXX`; on success it replaces `final`.

    The swap renames the old folder to `.<name>.old-<pid>-XXXX`, renames the new one into
    place, then deletes the old one; if the second rename fails the old folder is put back. On
    any exception inside the block the temporary folder is removed and `final` is untouched.

    Args:
        check: called with `final` when it exists, before the block and again just before the
            swap; it raises to refuse replacing that folder (nothing is written then).
        previous: what becomes of the replaced folder. "drop": deleted. "keep": kept inside the
            new folder as `PREVIOUS` (".previous"; one level: the replaced folder's own
            `.previous` is deleted). "carry": deleted, but its `.previous` moves into the new one.

    Leftovers of a write killed before it finished (a process that no longer runs) are
    cleared first: a replaced folder that never got its successor is put back, then the
    temporaries `.<name>.tmp-*` / `.<name>.old-*` are deleted; each is reported on stderr.
    Nothing else next to `final` is touched.
    """
    if previous not in ("drop", "keep", "carry"):
        raise ValueError(f"previous must be 'drop', 'keep' or 'carry', not {previous!r}")
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted(final)
    _check_target(final, check)
    tmp = _make_fresh_dir(final.parent, f".{final.name}.tmp-{os.getpid()}-")
    try:
        yield tmp
        for file in tmp.rglob("*"):
            if file.is_file():
                _fsync_file(file)
        _fsync_dir(tmp)
        _check_target(final, check)  # it may have appeared or changed while the block ran
        _swap_into_place(tmp, final, previous)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_target(final: Path, check) -> None:
    present = final.exists() or final.is_symlink()
    if check is not None and present:
        check(final)
    if final.is_symlink():
        # Replacing a link would leave the folder it points to behind, under a temporary name.
        raise NotADirectoryError(f"{final} is a symbolic link; point the write at a real folder instead")
    if present and not final.is_dir():
        raise NotADirectoryError(f"{final} exists and is not a folder")


def _swap_into_place(new: Path, final: Path, previous: str) -> None:
    if not final.exists():
        os.rename(new, final)
        _fsync_dir(final.parent)
        return
    if previous == "carry" and (final / PREVIOUS).is_dir():
        os.rename(final / PREVIOUS, new / PREVIOUS)  # a kill now: recover_interrupted moves it back
    if previous == "keep":
        # The whole old folder moves into the new one; a kill between these two renames leaves
        # it under `.<name>.tmp-*/.previous`, where recover_interrupted finds it.
        os.rename(final, new / PREVIOUS)
        try:
            os.rename(new, final)
        except BaseException:
            os.rename(new / PREVIOUS, final)
            raise
        _fsync_dir(final.parent)
        shutil.rmtree(final / PREVIOUS / PREVIOUS, ignore_errors=True)  # one level
        return
    backup = _fresh_name(final.parent, f".{final.name}.old-{os.getpid()}-")
    os.rename(final, backup)
    try:
        os.rename(new, final)
    except BaseException:
        os.rename(backup, final)
        if (new / PREVIOUS).is_dir() and not (final / PREVIOUS).exists():
            os.rename(new / PREVIOUS, final / PREVIOUS)
        raise
    _fsync_dir(final.parent)
    # Renamed before the (slow, interruptible) delete, so a half-deleted folder is never mistaken
    # for a whole one to put back.
    doomed = _fresh_name(final.parent, f".{final.name}.del-{os.getpid()}-")
    try:
        os.rename(backup, doomed)
    except OSError:
        doomed = backup
    shutil.rmtree(doomed, ignore_errors=True)


_LEFTOVER = re.compile(r"\.(tmp|old|del)-(?:(\d+)-)?[0-9a-f]{8}")


def leftovers(final: str | os.PathLike) -> list[Path]:
    """The temporary folders next to `final` that interrupted writes of it left behind
    (`.<name>.tmp-*`, `.<name>.old-*`, `.<name>.del-*`) whose process no longer runs."""
    final = Path(final)
    prefix = f".{final.name}."
    found = []
    try:
        entries = list(os.scandir(final.parent))
    except OSError:
        return []
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        match = _LEFTOVER.fullmatch(entry.name[len(prefix) - 1 :])
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        if match.group(2) is not None and _running(int(match.group(2))):
            continue  # another process is writing it now
        found.append(final.parent / entry.name)
    return sorted(found, key=lambda p: p.stat().st_mtime)


def recover_interrupted(final: str | os.PathLike) -> list[str]:
    """Clear what a write of `final` killed midway left: put the replaced folder back when the
    kill came between the renames, then delete the temporaries. Returns (and prints to stderr)
    one line per action; touches nothing but `final` and its own leftovers."""
    final = Path(final)
    stale = leftovers(final)
    if not stale:
        return []
    done = []
    kind = {p: _LEFTOVER.fullmatch(p.name[len(final.name) + 1 :]).group(1) for p in stale}
    if not final.exists() and not final.is_symlink():
        # Killed between "old folder out" and "new folder in": the old one is whole; put it back.
        olds = [p for p in stale if kind[p] == "old"]
        kept = [p / PREVIOUS for p in stale if kind[p] == "tmp" and (p / PREVIOUS).is_dir()]
        source = olds[-1] if olds else (kept[-1] if kept else None)
        if source is not None:
            os.rename(source, final)
            done.append(f"restored {final} from {source} (a write of it was interrupted)")
    if final.is_dir() and not final.is_symlink() and not (final / PREVIOUS).exists():
        carried = [p / PREVIOUS for p in stale if kind[p] == "tmp" and p.exists() and (p / PREVIOUS).is_dir()]
        if carried:
            os.rename(carried[-1], final / PREVIOUS)
            done.append(f"moved {carried[-1]} back to {final / PREVIOUS} (a write of it was interrupted)")
    for path in stale:
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
            done.append(f"removed {path}, left by an interrupted write of {final.name}")
    _fsync_dir(final.parent)
    for line in done:
        print(f"genkit: {line}", file=sys.stderr)
    return done


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or cannot tell: leave it alone
    return True


def _fresh_name(folder: Path, prefix: str) -> Path:
    while True:
        candidate = folder / f"{prefix}{secrets.token_hex(4)}"
        if not candidate.exists():
            return candidate


def _make_fresh_dir(folder: Path, prefix: str) -> Path:
    while True:
        candidate = _fresh_name(folder, prefix)
        try:
            candidate.mkdir()  # umask applies, unlike tempfile.mkdtemp's 0700
            return candidate
        except FileExistsError:
            continue


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; folders cannot be opened this way on Windows.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
