"""Collections in the NumPy store's format 1: opened as they are, upgraded in place, resumably.

Format 1 (:mod:`vecstore.adapters.numpy.format1`) kept each segment's records as one JSON file,
parsed whole at open. Such a collection still opens and answers every read: each old segment
becomes a part of a :class:`~vecstore.adapters.numpy.state.State`, its vectors memory-mapped as
before and its records turned into in-memory tables (the old cost of opening). The first write
to it, or ``vecstore upgrade``, converts it to format 2 under the writer lock
(:func:`upgrade`): the vectors are copied into the append-only files, each old segment becomes
a table, and one manifest commit switches the collection over; the old files are removed only
after that.

The conversion is resumable. It records its progress in ``upgrade.json`` (the old commit it
converts, the rows of vectors appended and fsynced, the tables written): an interrupted upgrade
of the same old commit goes on from there; of a different one, it starts again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from vecstore.adapters.numpy import format1, records
from vecstore.adapters.numpy.files import write_file
from vecstore.adapters.numpy.format1 import Manifest
from vecstore.adapters.numpy.format2 import Layout, SegmentEntry, VectorsEntry
from vecstore.adapters.numpy.manifest import Signature
from vecstore.adapters.numpy.state import EMPTY, Segment, State, alive_mask
from vecstore.adapters.numpy.table import write_table
from vecstore.adapters.numpy.vectors import VectorMaps, append
from vecstore.adapters.numpy.writer import Namer, with_dead
from vecstore.records import CollectionInfo, Vectors

PROGRESS = "upgrade.json"
PROGRESS_ROWS = 262_144
"""Vectors appended between two progress records during an upgrade."""


def build(
    directory: Path, manifest: Manifest, signature: Signature | None, previous: State
) -> State:
    """The state a format-1 manifest describes, reusing what ``previous`` already parsed."""
    dimension = manifest.info.dimension
    known = {
        seg.name: (seg, part) for seg, part in zip(previous.segments, previous.parts, strict=False)
    }
    if not previous.legacy:
        known = {}
    segments, parts = [], []
    start = 0
    for entry in manifest.segments:
        dead = np.asarray(entry.dead, dtype=np.int64)
        if entry.name in known:
            seg, (_, maps) = known[entry.name]
            recs = seg.records
        else:
            data = format1.read_segment(directory, entry, dimension)
            arrays = records.build(data.ids, data.texts, data.metadata)
            recs = records.Records(arrays, str(directory / f"{entry.name}.json"))
            maps = VectorMaps(entry.name, entry.rows, data.vectors, None, None)
        segments.append(Segment(entry.name, start, recs, None, dead, alive_mask(entry.rows, dead)))
        parts.append((start, maps))
        start += entry.rows
    starts = np.array([s.start for s in segments], dtype=np.int64)
    return State(None, manifest.info, signature, tuple(parts), tuple(segments), starts)


def _key(manifest: Manifest) -> list[Any]:
    return [manifest.generation, [e.name for e in manifest.segments]]


def _progress(directory: Path, manifest: Manifest) -> dict[str, Any]:
    try:
        raw = orjson.loads((directory / PROGRESS).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        raw = None
    fresh = {"of": _key(manifest), "rows": 0, "tables": []}
    if not isinstance(raw, dict) or raw.get("of") != fresh["of"]:
        return fresh
    rows, tables = raw.get("rows"), raw.get("tables")
    if not (type(rows) is int and rows >= 0 and isinstance(tables, list)):
        return fresh
    return raw if all(isinstance(t, list) and len(t) == 3 for t in tables) else fresh


def _save(directory: Path, progress: dict[str, Any]) -> None:
    write_file(directory / PROGRESS, orjson.dumps(progress))


def _blocks(state: State, skip: int) -> Iterator[Vectors]:
    """The old vectors from row ``skip`` on, in blocks."""
    for start, maps in state.parts:
        for lo in range(max(skip - start, 0), maps.rows, PROGRESS_ROWS):
            yield maps.f32[lo : lo + PROGRESS_ROWS]


def upgrade(directory: Path, manifest: Manifest, state: State, info: CollectionInfo) -> Layout:
    """Write format-2 files for a format-1 collection; the layout to commit (not committed)."""
    progress = _progress(directory, manifest)
    namer = Namer(manifest.generation)
    vectors = VectorsEntry(namer.next("vec"), int(progress["rows"]))
    if vectors.rows > state.rows:
        progress, vectors = (
            {"of": _key(manifest), "rows": 0, "tables": []},
            VectorsEntry(vectors.name, 0),
        )
    for block in _blocks(state, vectors.rows):
        vectors = append(directory, vectors, info.dimension, [block])
        progress["rows"] = vectors.rows
        _save(directory, progress)
    entries = []
    for i, seg in enumerate(state.segments):
        name = namer.next("rec")
        tables = progress["tables"]
        if i < len(tables) and tables[i][0] == name and (directory / f"{name}.tbl").exists():
            entries.append(SegmentEntry(name, int(tables[i][1]), int(tables[i][2]), None))
            continue
        size = write_table(directory / f"{name}.tbl", seg.records.arrays())
        entries.append(SegmentEntry(name, seg.records.rows, size, None))
        progress["tables"] = [[e.name, e.rows, e.tbl_bytes] for e in entries]
        _save(directory, progress)
    layout = Layout(info, namer.generation, vectors, tuple(entries))
    dead = np.concatenate(
        [seg.dead + seg.start for seg in state.segments] or [np.empty(0, np.int64)]
    )
    plain = State(
        layout, info, None, state.parts, tuple(_undead(s) for s in state.segments), state.starts
    )
    return with_dead(directory, plain, layout, dead.astype(np.int64), namer)


def _undead(seg: Segment) -> Segment:
    return Segment(seg.name, seg.start, seg.records, None, np.empty(0, np.int64), None)


def finish(directory: Path) -> None:
    """After the commit: the progress record is no longer needed."""
    (directory / PROGRESS).unlink(missing_ok=True)


__all__ = ["EMPTY", "build", "finish", "upgrade"]
