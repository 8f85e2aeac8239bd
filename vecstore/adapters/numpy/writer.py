"""What a NumPy-store writer writes: new rows, dead rows, merges and compactions.

Each function writes the files a change needs (under names no manifest uses yet) and returns
the :class:`~vecstore.adapters.numpy.format2.Layout` to commit; the caller commits it under the
collection's lock (:mod:`vecstore.adapters.numpy`). Costs, for a batch of n records into a
collection of N:

* an upsert appends n vectors, writes one table of n records, and rewrites the dead-row lists
  of the segments whose records it replaced: O(n) plus those lists;
* segments merge by tiers of :data:`TIER`: when the newest TIER segments are of one tier (rows
  within one power of TIER), they become one segment of the next. A record's *records* are so
  rewritten O(log N / log TIER) times; its vector never is;
* when dead rows pass :data:`MAX_DEAD_FRACTION` of all rows, everything is rewritten without
  them (the only rewrite of vectors): O(N) once per O(N) deletions.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vecstore.adapters.numpy import postings, records
from vecstore.adapters.numpy.files import write_file
from vecstore.adapters.numpy.format2 import DeadEntry, Layout, SegmentEntry, VectorsEntry
from vecstore.adapters.numpy.state import Segment, State
from vecstore.adapters.numpy.table import write_table
from vecstore.adapters.numpy.vectors import append
from vecstore.records import CollectionInfo, Metadata, Vectors

Ints = npt.NDArray[np.int64]
TIER = 8
MAX_DEAD_FRACTION = 0.3
COPY_ROWS = 65_536


class Namer:
    """Hands out file names past a layout's generation: never a name in use."""

    def __init__(self, generation: int) -> None:
        self.generation = generation

    def next(self, kind: str) -> str:
        """A fresh name of ``kind`` ("vec", "rec" or "dead")."""
        self.generation += 1
        return f"{kind}-{self.generation:08d}"


def empty_layout(info: CollectionInfo, namer: Namer) -> Layout:
    """The layout of a collection with no rows yet."""
    return Layout(info, namer.generation, VectorsEntry(namer.next("vec"), 0), ())


def write_records(
    directory: Path,
    namer: Namer,
    ids: Sequence[str],
    texts: Sequence[str | None],
    metadata: Sequence[Metadata],
) -> SegmentEntry:
    """A new segment's table; its entry."""
    name = namer.next("rec")
    size = write_table(directory / f"{name}.tbl", records.build(ids, texts, metadata))
    return SegmentEntry(name, len(ids), size, None)


def _write_dead(directory: Path, namer: Namer, dead: Ints) -> DeadEntry:
    name = namer.next("dead")
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(dead, dtype=np.int64), allow_pickle=False)
    size = write_file(directory / f"{name}.npy", buf.getvalue())
    return DeadEntry(name, len(dead), size)


def with_dead(directory: Path, state: State, layout: Layout, rows: Ints, namer: Namer) -> Layout:
    """``layout`` with the sorted global ``rows`` marked dead (new lists for the segments hit)."""
    if len(rows) == 0:
        return layout
    entries = list(layout.segments)
    bounds = np.searchsorted(rows, [seg.start for seg in state.segments] + [state.rows])
    for s, seg in enumerate(state.segments):
        lo, hi = int(bounds[s]), int(bounds[s + 1])
        if hi == lo:
            continue
        dead = np.union1d(seg.dead, rows[lo:hi] - seg.start)
        if len(dead) == len(seg.dead):
            continue
        entries[s] = replace(entries[s], dead=_write_dead(directory, namer, dead))
    return replace(layout, generation=namer.generation, segments=tuple(entries))


def add_rows(
    directory: Path,
    state: State,
    layout: Layout,
    namer: Namer,
    vectors: Vectors,
    ids: Sequence[str],
    texts: Sequence[str | None],
    metadata: Sequence[Metadata],
    dead: Ints,
) -> Layout:
    """Append these records (their vectors, one new segment) and mark ``dead`` rows dead."""
    layout = with_dead(directory, state, layout, dead, namer)
    entry = append(directory, layout.vectors, layout.info.dimension, [vectors])
    segment = write_records(directory, namer, ids, texts, metadata)
    return Layout(layout.info, namer.generation, entry, (*layout.segments, segment))


def tier(rows: int) -> int:
    """The tier of a segment of ``rows`` rows."""
    return int(math.log(max(rows, 1), TIER))


def merge_start(layout: Layout) -> int | None:
    """Where the tail run of segments to merge starts, or None when none is due."""
    entries = layout.segments
    if len(entries) < TIER:
        return None
    last = tier(entries[-1].rows)
    start = len(entries) - 1
    while start > 0 and tier(entries[start - 1].rows) == last:
        start -= 1
    return start if len(entries) - start >= TIER else None


def merge(directory: Path, state: State, layout: Layout, start: int, namer: Namer) -> Layout:
    """One segment for ``layout.segments[start:]``: records joined, rows and vectors kept."""
    run = state.segments[start:]
    arrays = records.concat([(seg.records, None) for seg in run])
    name = namer.next("rec")
    size = write_table(directory / f"{name}.tbl", arrays)
    first = run[0].start
    dead = np.concatenate([seg.dead + (seg.start - first) for seg in run])
    rows = sum(seg.records.rows for seg in run)
    entry = SegmentEntry(
        name, rows, size, _write_dead(directory, namer, dead) if len(dead) else None
    )
    return Layout(layout.info, namer.generation, layout.vectors, (*layout.segments[:start], entry))


def compaction_due(layout: Layout) -> bool:
    """Whether dead rows are past :data:`MAX_DEAD_FRACTION` of all rows."""
    return layout.rows - layout.live > MAX_DEAD_FRACTION * layout.rows


def _alive_rows(seg: Segment) -> Ints:
    if seg.alive is None:
        return np.arange(seg.records.rows, dtype=np.int64)
    return np.flatnonzero(seg.alive).astype(np.int64)


def _live_blocks(state: State) -> Iterator[Vectors]:
    from vecstore.adapters.numpy.state import vectors_of

    for seg in state.segments:
        rows = _alive_rows(seg) + seg.start
        for lo in range(0, len(rows), COPY_ROWS):
            yield vectors_of(state, rows[lo : lo + COPY_ROWS])


def compact(directory: Path, state: State, info: CollectionInfo, namer: Namer) -> Layout:
    """Everything rewritten without its dead rows: new vector files, one segment."""
    vectors = append(
        directory, VectorsEntry(namer.next("vec"), 0), info.dimension, _live_blocks(state)
    )
    segments: tuple[SegmentEntry, ...] = ()
    if vectors.rows:
        arrays = records.concat([(seg.records, _alive_rows(seg)) for seg in state.segments])
        name = namer.next("rec")
        size = write_table(directory / f"{name}.tbl", arrays)
        segments = (SegmentEntry(name, vectors.rows, size, None),)
    return Layout(info, namer.generation, vectors, segments)


def unindexed(state: State) -> int | None:
    """The first segment written before keyword search (no postings), or None."""
    for i, seg in enumerate(state.segments):
        if not postings.present(seg.records.arrays()):
            return i
    return None


def index_keywords(directory: Path, state: State, layout: Layout, at: int, namer: Namer) -> Layout:
    """Segment ``at``'s table again, with its keyword postings; rows, vectors and dead kept."""
    recs = state.segments[at].records
    texts = [text for _, text, _ in recs.read(np.arange(recs.rows, dtype=np.int64))]
    arrays = {**recs.arrays(), **postings.build(texts)}
    name = namer.next("rec")
    size = write_table(directory / f"{name}.tbl", arrays)
    entries = list(layout.segments)
    entries[at] = replace(entries[at], name=name, tbl_bytes=size)
    return Layout(layout.info, namer.generation, layout.vectors, tuple(entries))
