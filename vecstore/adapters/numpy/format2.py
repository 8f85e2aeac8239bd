"""The NumPy store's format 2: append-only vector files and record segments, one manifest.

A collection is a directory::

    manifest.json       the commit point: info, the vectors' row count, segments, dead rows
    vec-00000001.f32    float32 (rows, dimension) unit vectors, no header, memory-mapped
    vec-00000001.q8     int8 (rows, dimension): their compact copy
    vec-00000001.qe     float32 (rows, 2): each row's scale and error bound
    rec-00000002.tbl    a segment's records: ids, texts, metadata, id index, filter columns
    dead-00000003.npy   int64, the dead rows of one segment (local row numbers, sorted)
    .lock               held by the writer while it writes (flock: freed if it dies)

The collection's rows are numbered in order of writing. The vector files are append-only: a
write appends its rows and fsyncs them before the manifest that counts them is committed, so
bytes past the committed count are debris of a stopped writer, cut off by the next one, and a
reader never maps past the count it read. Vectors are never rewritten when segments merge
(records are small; vectors are not): segments cover consecutive row ranges of the same
numbering, and only a compaction, when dead rows pile up, writes new vector files and renumbers.
Every other file is written under a fresh name and fsynced before the manifest naming it
replaces the old one with ``os.replace``; files no manifest names are debris, removed by the
next writer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from vecstore.adapters.numpy.files import MANIFEST, fsync_dir, write_file
from vecstore.adapters.numpy.manifest import head, info_json, is_count
from vecstore.records import CollectionInfo

FORMAT = 2
NAME = re.compile(r"(vec|rec|dead)-(\d{8})")
OLD_NAME = re.compile(r"seg-\d{8}")
VECTOR_FILES = ("f32", "q8", "qe")


@dataclass(frozen=True, slots=True)
class VectorsEntry:
    """The committed rows of the vector files ``<name>.f32``, ``<name>.q8``, ``<name>.qe``."""

    name: str
    rows: int


@dataclass(frozen=True, slots=True)
class DeadEntry:
    """The dead rows of one segment: ``<name>.npy``."""

    name: str
    count: int
    npy_bytes: int


@dataclass(frozen=True, slots=True)
class SegmentEntry:
    """Records of ``rows`` consecutive rows: ``<name>.tbl``; its dead rows, if any."""

    name: str
    rows: int
    tbl_bytes: int
    dead: DeadEntry | None


@dataclass(frozen=True, slots=True)
class Layout:
    """One commit of a format-2 collection."""

    info: CollectionInfo
    generation: int
    vectors: VectorsEntry
    segments: tuple[SegmentEntry, ...]

    @property
    def rows(self) -> int:
        """Rows written and not compacted away, dead ones included."""
        return self.vectors.rows

    @property
    def live(self) -> int:
        """Records in the collection."""
        return self.rows - sum(s.dead.count for s in self.segments if s.dead)

    def files(self) -> set[str]:
        """The file names this commit needs."""
        out = {f"{self.vectors.name}.{ext}" for ext in VECTOR_FILES}
        out |= {f"{s.name}.tbl" for s in self.segments}
        out |= {f"{s.dead.name}.npy" for s in self.segments if s.dead}
        return out

    def as_json(self) -> dict[str, Any]:
        """The manifest as the file holds it."""
        return {
            "format": FORMAT,
            "info": info_json(self.info),
            "generation": self.generation,
            "vectors": [self.vectors.name, self.vectors.rows],
            "segments": [
                [s.name, s.rows, s.tbl_bytes]
                + ([s.dead.name, s.dead.count, s.dead.npy_bytes] if s.dead else [])
                for s in self.segments
            ],
        }


def _name(value: Any, kind: str, generation: int, where: str) -> str:
    match = NAME.fullmatch(value) if isinstance(value, str) else None
    if match is None or match.group(1) != kind:
        raise ValueError(f"{where} names {value!r}: not a {kind} file name of this collection")
    if int(match.group(2)) > generation:
        raise ValueError(f"{where} names {value!r}, newer than generation {generation}")
    return str(value)


def _vectors(raw: Any, generation: int) -> VectorsEntry:
    if not (isinstance(raw, list) and len(raw) == 2 and is_count(raw[1])):
        raise ValueError("vectors is not [name, rows]")
    return VectorsEntry(_name(raw[0], "vec", generation, "vectors"), raw[1])


def _segment(raw: Any, generation: int, where: str) -> SegmentEntry:
    if not (isinstance(raw, list) and len(raw) in (3, 6)):
        raise ValueError(f"{where} is not [name, rows, bytes(, dead name, count, bytes)]")
    if not all(is_count(v) for v in raw[1:3] + raw[4:]):
        raise ValueError(f"{where} has counts that are not counts")
    dead = None
    if len(raw) == 6:
        if raw[4] > raw[1]:
            raise ValueError(f"{where} has more dead rows than rows")
        dead = DeadEntry(_name(raw[3], "dead", generation, where), raw[4], raw[5])
    return SegmentEntry(_name(raw[0], "rec", generation, where), raw[1], raw[2], dead)


def parse(raw: Any) -> Layout:
    """A format-2 manifest from its JSON, every field checked; ValueError says what is wrong."""
    info, generation, segments = head(raw, FORMAT)
    layout = Layout(
        info,
        generation,
        _vectors(raw.get("vectors"), generation),
        tuple(_segment(s, generation, f"segment {i}") for i, s in enumerate(segments)),
    )
    names = [layout.vectors.name] + [s.name for s in layout.segments]
    names += [s.dead.name for s in layout.segments if s.dead]
    if len(set(names)) != len(names):
        raise ValueError("a file is listed twice")
    if sum(s.rows for s in layout.segments) != layout.rows:
        raise ValueError("the segments do not hold the rows the vectors do")
    return layout


def write(directory: Path, layout: Layout) -> None:
    """Commit: atomically replace the manifest, then make the rename durable."""
    write_file(directory / MANIFEST, orjson.dumps(layout.as_json()))
    fsync_dir(directory)


def remove_unlisted(directory: Path, keep: set[str]) -> None:
    """Delete what a stopped writer left: format-2 files not in ``keep``, temporary files."""
    for path in directory.iterdir():
        name = path.name
        stem = name.split(".")[0]
        ours = NAME.fullmatch(stem) is not None or OLD_NAME.fullmatch(stem) is not None
        debris = name.endswith(".tmp") or (ours and name not in keep)
        if debris and not path.is_dir():
            path.unlink(missing_ok=True)
