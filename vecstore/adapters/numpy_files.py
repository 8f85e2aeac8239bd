"""On-disk format of the NumPy store: immutable segments committed by one manifest.

A collection is a directory::

    manifest.json         the commit point: collection info, the segments, their dead rows
    seg-00000001.npy      float32 (rows, dimension) unit vectors, memory-mapped on open
    seg-00000001.json     {"ids": [...], "texts": [...], "metadata": [...]} (no pickle)
    .lock                 held by the writer while it writes (flock: freed if it dies)

Segment files are written under fresh names and fsynced before the manifest that names them
replaces the old one with ``os.replace``: a crash at any point leaves the previous manifest and
every file it names intact. Files no manifest names are debris of such a crash (or of a write a
full disk stopped), removed by the next writer.

Files are typed at the edge: a manifest read from disk becomes a frozen :class:`Manifest`
whose every field was checked (types, ranges, segment names that are plain file names inside
the collection), and a segment's records are checked before use; anything else is
``StoreCorrupted`` naming the file. Nothing is written through a link: temporary files are
created exclusively, without following links (whatever was planted at their name is removed
first), and files are read without following links. The collection directory itself may be a
link (a store moved to another disk, say); the files inside it may not.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeGuard

import numpy as np
import orjson

from vecstore.errors import StoreCorrupted, StoreError, StoreUnwritable
from vecstore.records import CollectionInfo, Metadata, Vectors

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LOCK = ".lock"
SEGMENT_NAME = re.compile(r"seg-(\d{8})")
SCALARS = (str, int, float, bool)
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
REFUSED = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


@dataclass(frozen=True, slots=True)
class SegmentData:
    """The contents of one segment's files."""

    vectors: Vectors
    ids: list[str]
    texts: list[str | None]
    metadata: list[Metadata]


@dataclass(frozen=True, slots=True)
class SegmentEntry:
    """A segment as the manifest lists it."""

    name: str
    rows: int
    dead: tuple[int, ...]
    npy_bytes: int
    json_bytes: int

    def as_json(self) -> dict[str, Any]:
        """The entry as the manifest file holds it."""
        return {
            "name": self.name,
            "rows": self.rows,
            "dead": list(self.dead),
            "npy_bytes": self.npy_bytes,
            "json_bytes": self.json_bytes,
        }


def info_json(info: CollectionInfo) -> dict[str, Any]:
    """A collection's info as manifests of every format hold it."""
    return {
        "name": info.name,
        "model": info.model,
        "dimension": info.dimension,
        "metric": info.metric,
    }


@dataclass(frozen=True, slots=True)
class Manifest:
    """One commit of a collection: what it is, and its segments with their dead rows."""

    info: CollectionInfo
    generation: int
    segments: tuple[SegmentEntry, ...]

    def as_json(self) -> dict[str, Any]:
        """The manifest as the file holds it."""
        return {
            "format": FORMAT_VERSION,
            "info": info_json(self.info),
            "generation": self.generation,
            "segments": [s.as_json() for s in self.segments],
        }


# -- reading ---------------------------------------------------------------------------------


def _count(value: Any) -> TypeGuard[int]:
    return type(value) is int and value >= 0


def _entry(raw: Any, where: str) -> SegmentEntry:
    if not isinstance(raw, dict):
        raise ValueError(f"{where} is not an object")
    name, rows, dead = raw.get("name"), raw.get("rows"), raw.get("dead")
    if not isinstance(name, str) or not SEGMENT_NAME.fullmatch(name):
        raise ValueError(f"{where} names {name!r}: not a segment file name of this collection")
    if not _count(rows):
        raise ValueError(f"{where} has {rows!r} rows")
    if not isinstance(dead, list) or not all(_count(d) and d < rows for d in dead):
        raise ValueError(f"{where} lists dead rows that are not rows of it")
    npy_bytes, json_bytes = raw.get("npy_bytes"), raw.get("json_bytes")
    if not (_count(npy_bytes) and _count(json_bytes)):
        raise ValueError(f"{where} has sizes {npy_bytes!r} and {json_bytes!r}")
    return SegmentEntry(name, rows, tuple(sorted(set(dead))), npy_bytes, json_bytes)


def manifest_head(raw: Any, version: int) -> tuple[CollectionInfo, int, list[Any]]:
    """What manifests of every format hold, checked: (info, generation, the segment list).

    ValueError says what is wrong.
    """
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    if type(raw.get("format")) is not int or raw["format"] != version:
        raise ValueError(f"unknown format {raw.get('format')!r}")
    info = raw.get("info")
    if not isinstance(info, dict):
        raise ValueError("no info object")
    name, model, dimension = info.get("name"), info.get("model"), info.get("dimension")
    if not isinstance(name, str) or not isinstance(model, str) or not model:
        raise ValueError("info has no name or model")
    if not _count(dimension) or dimension == 0:
        raise ValueError(f"info has dimension {dimension!r}")
    if info.get("metric", "cosine") != "cosine":
        raise ValueError(f"info has metric {info.get('metric')!r}")
    generation = raw.get("generation")
    if not _count(generation):
        raise ValueError(f"generation {generation!r} is not a count")
    listed = raw.get("segments")
    if not isinstance(listed, list):
        raise ValueError("segments is not a list")
    return CollectionInfo(name, model, dimension), generation, listed


def parse_manifest(raw: Any) -> Manifest:
    """A manifest from its JSON, every field checked; ValueError says what is wrong."""
    info, generation, listed = manifest_head(raw, FORMAT_VERSION)
    entries = tuple(_entry(e, f"segment {i}") for i, e in enumerate(listed))
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError("a segment is listed twice")
    if any(int(n[len("seg-") :]) > generation for n in names):
        raise ValueError(f"a segment is newer than generation {generation}")
    return Manifest(info, generation, entries)


def _open_plain(path: Path) -> BinaryIO:
    """``path`` opened for reading, refusing a link (a planted one would lead outside)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreCorrupted(f"{path} is a link: vecstore never reads through one") from exc
        raise
    return os.fdopen(fd, "rb")


def read_manifest(directory: Path) -> tuple[Manifest, tuple[int, int, int]]:
    """Read and check a manifest; return it with the (inode, mtime, size) it was read at.

    Both come from one open file, so the signature is that of the content returned even when a
    writer replaces the manifest meanwhile.
    """
    path = directory / MANIFEST
    with _open_plain(path) as fh:
        st = os.fstat(fh.fileno())
        raw = fh.read()
    try:
        manifest = parse_manifest(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise StoreCorrupted(f"{path} is damaged: {exc}") from exc
    return manifest, (st.st_ino, st.st_mtime_ns, st.st_size)


def _value_ok(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(type(v) in SCALARS for v in value)
    return type(value) in SCALARS


def check_records(body: Any, rows: int) -> SegmentData | str:
    """The records of a segment's JSON, checked; else why they are not what vecstore wrote."""
    if not isinstance(body, dict):
        return "not an object"
    ids, texts, metadata = body.get("ids"), body.get("texts"), body.get("metadata")
    if not (isinstance(ids, list) and isinstance(texts, list) and isinstance(metadata, list)):
        return "ids, texts and metadata are not all lists"
    if not len(ids) == len(texts) == len(metadata) == rows:
        return f"does not hold {rows} records"
    if not all(type(i) is str and i for i in ids) or len(set(ids)) != rows:
        return "its ids are not distinct non-empty strings"
    if not all(t is None or type(t) is str for t in texts):
        return "a text is neither a string nor null"
    for meta in metadata:
        if type(meta) is not dict or not all(
            type(k) is str and k and _value_ok(v) for k, v in meta.items()
        ):
            return "a record's metadata is not an object of portable values"
    return SegmentData(np.empty((0, 0), np.float32), ids, texts, metadata)


def _load_vectors(path: Path, rows: int, dimension: int) -> Vectors:
    with _open_plain(path) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            reader = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = reader(fh)
        except ValueError as exc:
            raise StoreCorrupted(f"{path} is not a readable .npy file: {exc}") from exc
        if dtype != np.float32 or shape != (rows, dimension) or fortran:
            raise StoreCorrupted(
                f"{path} holds {dtype} {shape}, expected float32 ({rows}, {dimension})"
            )
        if rows == 0:
            return np.empty((0, dimension), np.float32)
        return np.memmap(fh, np.float32, "r", offset=fh.tell(), shape=(rows, dimension))


def read_segment(directory: Path, entry: SegmentEntry, dimension: int) -> SegmentData:
    """Open a segment: vectors memory-mapped, records parsed; every mismatch is StoreCorrupted."""
    npy, js = directory / f"{entry.name}.npy", directory / f"{entry.name}.json"
    for path, expected in ((npy, entry.npy_bytes), (js, entry.json_bytes)):
        try:
            st = path.lstat()
        except FileNotFoundError as exc:
            raise StoreCorrupted(f"{path} is missing") from exc
        if stat.S_ISLNK(st.st_mode):
            raise StoreCorrupted(f"{path} is a link: vecstore never reads through one")
        if st.st_size != expected:
            raise StoreCorrupted(f"{path} is {st.st_size} bytes, the manifest says {expected}")
    vectors = _load_vectors(npy, entry.rows, dimension)
    with _open_plain(js) as fh:
        raw = fh.read()
    try:
        checked = check_records(orjson.loads(raw), entry.rows)
    except orjson.JSONDecodeError as exc:
        raise StoreCorrupted(f"{js} is damaged ({exc})") from exc
    if isinstance(checked, str):
        raise StoreCorrupted(f"{js} is damaged: {checked}")
    return SegmentData(vectors, checked.ids, checked.texts, checked.metadata)


# -- writing ---------------------------------------------------------------------------------


def _create(path: Path) -> BinaryIO:
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


def _durable(fh: BinaryIO, tmp: Path, path: Path) -> int:
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()
    os.replace(tmp, path)  # replaces a link at ``path`` itself, never what it points to
    return path.stat().st_size


def write_file(path: Path, data: bytes) -> int:
    """Write ``path`` via a temporary name, fsynced; return its size in bytes."""
    tmp = path.with_name(path.name + ".tmp")
    with _create(tmp) as fh:
        fh.write(data)
        return _durable(fh, tmp, path)


def write_vectors(path: Path, shape: tuple[int, int], parts: Iterable[Vectors]) -> int:
    """Write row blocks, one at a time, into one .npy (never one joined copy); fsynced."""
    tmp = path.with_name(path.name + ".tmp")
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
        "fortran_order": False,
        "shape": shape,
    }
    with _create(tmp) as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        written = 0
        for part in parts:
            block = np.ascontiguousarray(part, dtype=np.float32)
            fh.write(block.data)
            written += len(block)
        if written != shape[0]:
            raise ValueError(f"wrote {written} rows for a segment of {shape[0]}")
        return _durable(fh, tmp, path)


def write_segment(
    directory: Path, name: str, data: SegmentData, parts: Iterable[Vectors] | None = None
) -> SegmentEntry:
    """Write a segment's two files; return its manifest entry.

    With ``parts``, the vectors are those row blocks, written in turn (``data.vectors`` unused).
    """
    shape = (len(data.ids), int(data.vectors.shape[1]))
    npy_bytes = write_vectors(directory / f"{name}.npy", shape, parts or [data.vectors])
    body = {"ids": data.ids, "texts": data.texts, "metadata": data.metadata}
    json_bytes = write_file(directory / f"{name}.json", orjson.dumps(body))
    return SegmentEntry(name, len(data.ids), (), npy_bytes, json_bytes)


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Commit: atomically replace the manifest, then make the rename durable."""
    raw = orjson.dumps(manifest.as_json(), option=orjson.OPT_INDENT_2)
    write_file(directory / MANIFEST, raw)
    fsync_dir(directory)


def remove_unlisted(directory: Path, manifest: Manifest | None) -> None:
    """Delete what a crashed or stopped writer left: unlisted segment files, temporary files."""
    listed = {seg.name for seg in manifest.segments} if manifest is not None else set()
    for path in directory.iterdir():
        name = path.name
        debris = name.endswith(".tmp") or (
            name.startswith("seg-") and name.split(".")[0] not in listed
        )
        if debris and not path.is_dir():
            path.unlink(missing_ok=True)


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
