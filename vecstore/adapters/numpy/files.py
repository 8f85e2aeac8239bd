"""File I/O both of the NumPy store's formats use: no link followed, every write durable.

Nothing is written through a link: a new file is created exclusively, without following links
(whatever was planted at its name is removed first), written, fsynced, and renamed into place
(:func:`write_file`; :func:`create` and :func:`durable` for writers that stream). Files are read
without following links (:func:`open_plain`). The collection directory itself may be a link (a
store moved to another disk, say); the files inside it may not. OS errors become vecstore
errors in one place (:func:`disk_error`).
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import BinaryIO

from vecstore.errors import InvalidName, StoreCorrupted, StoreError, StoreUnwritable

MANIFEST = "manifest.json"
LOCK = ".lock"
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
REFUSED = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_name(name: str) -> str:
    """Return ``name`` if it is a safe directory name for a collection, else raise InvalidName."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise InvalidName(
            f"collection name {name!r}: use 1-128 characters of letters, digits, '.', '_', '-', "
            "starting with a letter or digit, without '..'"
        )
    return name


def open_plain(path: Path) -> BinaryIO:
    """``path`` opened for reading, refusing a link (a planted one would lead outside)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreCorrupted(f"{path} is a link: vecstore never reads through one") from exc
        raise
    return os.fdopen(fd, "rb")


def create(path: Path) -> BinaryIO:
    """A new file at ``path`` for writing, never through a link.

    Whatever was there (a planted link) is removed first; then the file is created exclusively,
    without following links.
    """
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    return os.fdopen(os.open(path, flags, 0o644), "wb")


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable(fh: BinaryIO, tmp: Path, path: Path) -> int:
    """Flush, fsync and close ``fh`` (written at ``tmp``), then rename it to ``path``; its size."""
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()
    os.replace(tmp, path)  # replaces a link at ``path`` itself, never what it points to
    return path.stat().st_size


def write_file(path: Path, data: bytes) -> int:
    """Write ``path`` via a temporary name, fsynced; return its size in bytes."""
    tmp = path.with_name(path.name + ".tmp")
    with create(tmp) as fh:
        fh.write(data)
        return durable(fh, tmp, path)


def disk_error(exc: OSError, directory: Path, action: str) -> StoreError:
    """A vecstore error for an OS error met while ``action`` (say, "writing") a collection."""
    where = exc.filename or directory
    cause = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno == errno.ELOOP:
        return StoreCorrupted(f"{where} is a link: vecstore never writes through one ({cause})")
    if exc.errno in NO_SPACE or exc.errno in REFUSED:
        return StoreUnwritable(
            f"cannot write the collection at {directory}: {cause} ({where}); what was stored "
            "before is intact, and the next write will succeed once that is fixed"
        )
    return StoreError(f"{action} the collection at {directory} failed: {cause} ({where})")
