"""The NumPy store's format 1, read only: collections written before format 2.

A format-1 collection is a directory::

    manifest.json         the commit point: collection info, the segments, their dead rows
    seg-00000001.npy      float32 (rows, dimension) unit vectors, memory-mapped on open
    seg-00000001.json     {"ids": [...], "texts": [...], "metadata": [...]} (no pickle)
    .lock                 held by the writer while it writes (flock: freed if it dies)

vecstore no longer writes this format: such a collection opens and answers as it is, and the
first write (or ``vecstore upgrade``) converts it to format 2 (:mod:`.upgrade`). Files are
typed at the edge: a manifest becomes a frozen :class:`Manifest` whose every field was checked
(types, ranges, segment names that are plain file names inside the collection), and a
segment's records are checked before use; anything else is ``StoreCorrupted`` naming the file.
No file is read through a link.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from vecstore.adapters.numpy.files import open_plain
from vecstore.adapters.numpy.manifest import head, is_count
from vecstore.errors import StoreCorrupted
from vecstore.records import CollectionInfo, Metadata, Vectors

FORMAT = 1
SEGMENT_NAME = re.compile(r"seg-(\d{8})")
SCALARS = (str, int, float, bool)


@dataclass(frozen=True, slots=True)
class SegmentData:
    """The contents of one format-1 segment's files."""

    vectors: Vectors
    ids: list[str]
    texts: list[str | None]
    metadata: list[Metadata]


@dataclass(frozen=True, slots=True)
class OldSegment:
    """A format-1 segment as its manifest lists it: two files, its dead rows inline."""

    name: str
    rows: int
    dead: tuple[int, ...]
    npy_bytes: int
    json_bytes: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """One commit of a format-1 collection: what it is, and its segments with their dead rows."""

    info: CollectionInfo
    generation: int
    segments: tuple[OldSegment, ...]


def _entry(raw: Any, where: str) -> OldSegment:
    if not isinstance(raw, dict):
        raise ValueError(f"{where} is not an object")
    name, rows, dead = raw.get("name"), raw.get("rows"), raw.get("dead")
    if not isinstance(name, str) or not SEGMENT_NAME.fullmatch(name):
        raise ValueError(f"{where} names {name!r}: not a segment file name of this collection")
    if not is_count(rows):
        raise ValueError(f"{where} has {rows!r} rows")
    if not isinstance(dead, list) or not all(is_count(d) and d < rows for d in dead):
        raise ValueError(f"{where} lists dead rows that are not rows of it")
    npy_bytes, json_bytes = raw.get("npy_bytes"), raw.get("json_bytes")
    if not (is_count(npy_bytes) and is_count(json_bytes)):
        raise ValueError(f"{where} has sizes {npy_bytes!r} and {json_bytes!r}")
    return OldSegment(name, rows, tuple(sorted(set(dead))), npy_bytes, json_bytes)


def parse(raw: Any) -> Manifest:
    """A format-1 manifest from its JSON, every field checked; ValueError says what is wrong."""
    info, generation, listed = head(raw, FORMAT)
    entries = tuple(_entry(e, f"segment {i}") for i, e in enumerate(listed))
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError("a segment is listed twice")
    if any(int(n[len("seg-") :]) > generation for n in names):
        raise ValueError(f"a segment is newer than generation {generation}")
    return Manifest(info, generation, entries)


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
    with open_plain(path) as fh:
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


def read_segment(directory: Path, entry: OldSegment, dimension: int) -> SegmentData:
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
    with open_plain(js) as fh:
        raw = fh.read()
    try:
        checked = check_records(orjson.loads(raw), entry.rows)
    except orjson.JSONDecodeError as exc:
        raise StoreCorrupted(f"{js} is damaged ({exc})") from exc
    if isinstance(checked, str):
        raise StoreCorrupted(f"{js} is damaged: {checked}")
    return SegmentData(vectors, checked.ids, checked.texts, checked.metadata)
