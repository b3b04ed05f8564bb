"""Atomic file writes: every file symbnn writes appears whole or not at all.

`atomic_path(path)` yields a temporary path in the target's folder (same file system, so the
final `os.replace` is atomic); on success the file gets the permissions a plain `open` would
give it (mkstemp makes it private) and replaces `path`; on any error it is removed.
`atomic_folder(path)` does the same for a folder of outputs, and `check_writable` lets a command
fail before hours of work rather than after."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import SymbnnError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _missing_parents(path: Path) -> list[Path]:
    """The folders `path.parent.mkdir(parents=True)` would create, deepest first."""
    missing = []
    for folder in path.parents:
        if folder.exists():
            break
        missing.append(folder)
    return missing


def _make_parent(path: Path) -> list[Path]:
    missing = _missing_parents(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Undo `_make_parent` after a failure: a failed write leaves no empty folders behind."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _named(e: OSError, path: Path) -> OSError:
    """The error naming the target rather than the temporary file it happened on."""
    return OSError(e.errno, e.strerror or str(e), os.fspath(path))


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Write to the yielded temporary path; it becomes `path` when the block ends cleanly.
    Missing parent folders are created (and removed again if the write fails)."""
    path = Path(path)
    created = _make_parent(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        _remove_empty(created)
        raise _named(e, path) from e
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        _remove_empty(created)
        if isinstance(e, OSError):
            raise _named(e, path) from e
        raise


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Fill the yielded temporary folder (beside `path`); when the block ends cleanly it
    replaces `path`, so a folder of outputs appears whole, and an earlier one at `path` is
    never mixed with the new one. On any error the temporary folder is removed and `path` is
    left as it was."""
    path = Path(path)
    created = _make_parent(path)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as e:
        _remove_empty(created)
        raise _named(e, path) from e
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            # A folder cannot be renamed over a non-empty one: move the old one aside first,
            # onto an empty placeholder (which rename may replace), and back on failure.
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(created)
        if isinstance(e, OSError):
            raise _named(e, path) from e
        raise


def check_writable(path: str | os.PathLike) -> None:
    """A `SymbnnError` now if `path` could not be created later: the nearest existing folder
    above it must take a new file. Nothing is left behind."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        above = path.parent
    else:
        above = next((p for p in path.parents if p.exists()), Path("."))
    try:
        if not above.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), os.fspath(above))
        fd, probe = tempfile.mkstemp(prefix=".symbnn-probe.", dir=above)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise SymbnnError(f"cannot write {path}: {above}: {e.strerror or e}") from None


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode())
