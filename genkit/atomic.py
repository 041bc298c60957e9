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
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_directory", "atomic_write_bytes", "atomic_write_text"]


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
def atomic_directory(final: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty sibling folder `.<name>.tmp-XXXX`; on success it replaces `final`.

    The swap renames the old folder to `.<name>.old-XXXX`, renames the new one into place,
    then deletes the old one; if the second rename fails the old folder is put back. On any
    exception inside the block the temporary folder is removed and `final` is untouched.
    """
    final = Path(final)
    if final.exists() and not final.is_dir():
        raise NotADirectoryError(f"{final} exists and is not a folder")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _make_fresh_dir(final.parent, f".{final.name}.tmp-")
    try:
        yield tmp
        for file in tmp.rglob("*"):
            if file.is_file():
                _fsync_file(file)
        _fsync_dir(tmp)
        _swap_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_into_place(new: Path, final: Path) -> None:
    if not final.exists():
        os.rename(new, final)
        _fsync_dir(final.parent)
        return
    backup = _fresh_name(final.parent, f".{final.name}.old-")
    os.rename(final, backup)
    try:
        os.rename(new, final)
    except BaseException:
        os.rename(backup, final)
        raise
    _fsync_dir(final.parent)
    shutil.rmtree(backup, ignore_errors=True)


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
