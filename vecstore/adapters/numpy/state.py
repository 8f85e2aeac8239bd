"""One committed version of a NumPy collection, opened, and the questions readers ask of it.

A :class:`State` is built from a manifest (:func:`build`) and never changed afterwards: readers
share it without a lock, writers build the next one. Building one opens files, it reads no
records: the vector files and each segment's table are memory-mapped, and only the dead-row
lists (small) are read. A state reuses whatever the previous state had open under the same
names, so a commit costs one new table, not a reopening of every file.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vecstore.adapters.numpy.files import open_plain
from vecstore.adapters.numpy.format2 import DeadEntry, Layout, SegmentEntry
from vecstore.adapters.numpy.manifest import Signature
from vecstore.adapters.numpy.records import Records, id_hashes
from vecstore.adapters.numpy.table import Table
from vecstore.adapters.numpy.vectors import VectorMaps, open_maps
from vecstore.errors import StoreCorrupted
from vecstore.filters import Filter
from vecstore.records import CollectionInfo, StoredRecord

Mask = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Segment:
    """The records of rows ``[start, start + records.rows)`` and which of them are dead."""

    name: str
    start: int
    records: Records
    dead_name: str | None
    dead: Ints  # local rows, sorted
    alive: Mask | None  # None: none dead

    @property
    def live(self) -> int:
        """Records alive in this segment."""
        return self.records.rows - len(self.dead)


@dataclass(frozen=True, slots=True)
class State:
    """One committed version of the collection. Never changed once built: readers share it.

    ``parts``: the vectors, as (first row, maps) in row order; one part for format 2, one per
    old segment for a collection still in format 1 (``layout`` None, ``info`` set).
    """

    layout: Layout | None
    info: CollectionInfo | None
    signature: Signature | None
    parts: tuple[tuple[int, VectorMaps], ...]
    segments: tuple[Segment, ...]
    starts: Ints

    @property
    def start_list(self) -> list[int]:
        """``starts`` as Python ints (for bisect)."""
        return [seg.start for seg in self.segments]

    @property
    def live(self) -> int:
        """Records in the collection."""
        return sum(seg.live for seg in self.segments)

    @property
    def rows(self) -> int:
        """Rows, dead ones included."""
        return sum(maps.rows for _, maps in self.parts)

    @property
    def legacy(self) -> bool:
        """Whether the collection is still in format 1 (it upgrades before a write)."""
        return self.layout is None and self.info is not None


EMPTY = State(None, None, None, (), (), np.empty(0, np.int64))


def read_dead(directory: Path, entry: DeadEntry, rows: int) -> Ints:
    """A segment's dead rows, checked: sorted, distinct, in range, as many as listed."""
    path = directory / f"{entry.name}.npy"
    try:
        with open_plain(path) as fh:
            dead = np.load(fh, allow_pickle=False)
    except FileNotFoundError as exc:
        raise StoreCorrupted(f"{path} is missing") from exc
    except (ValueError, EOFError, OSError) as exc:
        raise StoreCorrupted(f"{path} is not a readable .npy file: {exc}") from exc
    ok = dead.dtype == np.int64 and dead.ndim == 1 and len(dead) == entry.count
    if ok and len(dead):
        ok = bool(dead[0] >= 0 and dead[-1] < rows and np.all(np.diff(dead) > 0))
    if not ok:
        raise StoreCorrupted(f"{path} does not hold the {entry.count} dead rows listed")
    return np.asarray(dead, dtype=np.int64)


def alive_mask(rows: int, dead: Ints) -> Mask | None:
    """The alive rows of a segment (None when none is dead)."""
    if len(dead) == 0:
        return None
    alive = np.ones(rows, dtype=bool)
    alive[dead] = False
    return alive


def _segment(
    directory: Path, entry: SegmentEntry, start: int, known: dict[str, Segment]
) -> Segment:
    old = known.get(entry.name)
    if old is not None:
        records = old.records
    else:
        path = directory / f"{entry.name}.tbl"
        records = Records(Table(path, entry.tbl_bytes), str(path))
        if records.rows != entry.rows:
            raise StoreCorrupted(
                f"{path} holds {records.rows} rows, the manifest says {entry.rows}"
            )
    if entry.dead is None:
        return Segment(entry.name, start, records, None, np.empty(0, np.int64), None)
    if old is not None and old.dead_name == entry.dead.name:
        return Segment(entry.name, start, records, old.dead_name, old.dead, old.alive)
    dead = read_dead(directory, entry.dead, entry.rows)
    return Segment(entry.name, start, records, entry.dead.name, dead, alive_mask(entry.rows, dead))


def build(directory: Path, layout: Layout, signature: Signature | None, previous: State) -> State:
    """The state a format-2 manifest describes, reusing what ``previous`` has open."""
    vectors = layout.vectors
    parts = previous.parts
    if not (
        len(parts) == 1 and parts[0][1].name == vectors.name and parts[0][1].rows == vectors.rows
    ):
        parts = ((0, open_maps(directory, vectors, layout.info.dimension)),)
    known = {seg.name: seg for seg in previous.segments}
    segments = []
    start = 0
    for entry in layout.segments:
        segments.append(_segment(directory, entry, start, known))
        start += entry.rows
    starts = np.array([s.start for s in segments], dtype=np.int64)
    return State(layout, layout.info, signature, parts, tuple(segments), starts)


# -- questions --------------------------------------------------------------------------------


def locate(state: State, row: int) -> tuple[Segment, int]:
    """The segment holding global ``row`` and the row's place in it."""
    seg = state.segments[bisect.bisect_right(state.start_list, row) - 1]
    return seg, row - seg.start


def vectors_of(state: State, rows: Ints) -> npt.NDArray[np.float32]:
    """The stored vectors of global ``rows`` (any order), gathered into one array."""
    dim = state.info.dimension if state.info else 0
    if len(state.parts) == 1:
        return np.asarray(state.parts[0][1].f32[rows], dtype=np.float32).reshape(-1, dim)
    out = np.empty((len(rows), dim), np.float32)
    for start, maps in state.parts:
        inside = np.flatnonzero((rows >= start) & (rows < start + maps.rows))
        if len(inside):
            out[inside] = maps.f32[rows[inside] - start]
    return out


def records(state: State, rows: Ints, with_vectors: bool) -> list[StoredRecord]:
    """The records at global ``rows`` (any order), read segment by segment."""
    rows = np.asarray(rows, dtype=np.int64)
    out: list[StoredRecord | None] = [None] * len(rows)
    which = np.searchsorted(state.starts, rows, "right") - 1
    vectors = vectors_of(state, rows) if with_vectors else None
    for s in np.unique(which).tolist():
        seg = state.segments[s]
        places = np.flatnonzero(which == s)
        read = seg.records.read(rows[places] - seg.start)
        for place, (rid, text, meta) in zip(places.tolist(), read, strict=True):
            vec = vectors[place].copy() if vectors is not None else None
            out[place] = StoredRecord(rid, text, meta, vec)
    return out  # type: ignore[return-value]


def lookup(state: State, ids: Sequence[str]) -> dict[str, int]:
    """The global row of each id that is alive (ids not found are left out)."""
    if not ids or not state.segments:
        return {}
    hashes = id_hashes(ids)
    found: dict[str, int] = {}
    for seg in state.segments:
        for q, r in seg.records.find(ids, hashes):
            if seg.alive is None or seg.alive[r]:
                found[ids[q]] = seg.start + r
    return found


def masks(state: State, where: Filter | None) -> list[Mask | None]:
    """Per segment, the live rows ``where`` selects (None: every row, none dead)."""
    out: list[Mask | None] = []
    for seg in state.segments:
        if where is None:
            out.append(seg.alive)
            continue
        mask = seg.records.columns.evaluate(where)
        if seg.alive is not None:
            mask &= seg.alive
        out.append(mask)
    return out


def global_mask(state: State, where: Filter | None) -> Mask | None:
    """The live rows ``where`` selects over the whole collection (None: every row)."""
    return joined(state, masks(state, where))


def joined(state: State, parts: Sequence[Mask | None]) -> Mask | None:
    """Per-segment masks (from :func:`masks`) as one over the collection (None: every row)."""
    if all(m is None for m in parts):
        return None
    return np.concatenate(
        [
            np.ones(seg.records.rows, bool) if m is None else m
            for seg, m in zip(state.segments, parts, strict=True)
        ]
    )


def selected_rows(state: State, parts: Sequence[Mask]) -> Ints:
    """The global rows per-segment masks (from :func:`masks`, a filter given) select, sorted."""
    rows = [np.flatnonzero(m) + seg.start for seg, m in zip(state.segments, parts, strict=True)]
    return np.concatenate(rows) if rows else np.empty(0, np.int64)


def count(state: State, where: Filter | None) -> int:
    """Live records ``where`` selects."""
    if where is None:
        return state.live
    return sum(int(np.count_nonzero(m)) for m in masks(state, where) if m is not None)


def dead_rows(state: State, ids: Sequence[str] | None, where: Filter | None) -> Ints:
    """The live global rows that ids or a filter select (neither: every live row), sorted."""
    picked: list[Any] = []
    if ids is None and where is None:
        where_mask = global_mask(state, None)
        return np.flatnonzero(where_mask) if where_mask is not None else np.arange(state.rows)
    if ids:
        picked.append(np.fromiter(lookup(state, ids).values(), np.int64))
    if where is not None:
        mask = global_mask(state, where)
        picked.append(np.arange(state.rows) if mask is None else np.flatnonzero(mask))
    return np.unique(np.concatenate(picked)) if picked else np.empty(0, np.int64)
