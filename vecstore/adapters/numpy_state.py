"""One committed version of a NumPy collection, in memory, and the manifest edits writers make.

A :class:`State` is built from a manifest (:func:`build`) and never changed afterwards: readers
share it without a lock, writers build the next one. The manifest helpers return new manifests
(or name the next segment), never changing one a reader may hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vecstore.adapters import numpy_files as files
from vecstore.adapters.columns import ColumnIndex
from vecstore.adapters.numpy_files import Manifest, SegmentEntry
from vecstore.errors import StoreCorrupted
from vecstore.filters import Filter
from vecstore.records import CollectionInfo

Signature = tuple[int, int, int]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment's records, which of its rows are alive, and its metadata columns."""

    name: str
    data: files.SegmentData
    alive: Mask
    columns: ColumnIndex


@dataclass(frozen=True, slots=True)
class State:
    """One committed version of the collection. Never changed once built: readers share it."""

    manifest: Manifest | None
    signature: Signature | None
    segments: tuple[Segment, ...]
    index: dict[str, tuple[int, int]]


EMPTY = State(None, None, (), {})


def build(
    directory: Path, manifest: Manifest, signature: Signature | None, previous: State
) -> State:
    """The state a manifest describes, reusing the segments ``previous`` already holds."""
    dimension = manifest.info.dimension
    known = {seg.name: seg for seg in previous.segments}
    segments = []
    for entry in manifest.segments:
        alive = np.ones(entry.rows, dtype=bool)
        alive[np.asarray(entry.dead, dtype=np.int64)] = False
        seg = known.get(entry.name)
        if seg is None:
            data = files.read_segment(directory, entry, dimension)
            segments.append(Segment(entry.name, data, alive, _columns(directory, entry, data)))
        else:
            segments.append(Segment(seg.name, seg.data, alive, seg.columns))
    index: dict[str, tuple[int, int]] = {}
    for s, seg in enumerate(segments):
        for r in np.flatnonzero(seg.alive).tolist():
            index[seg.data.ids[r]] = (s, r)
    return State(manifest, signature, tuple(segments), index)


def _columns(directory: Path, entry: SegmentEntry, data: files.SegmentData) -> ColumnIndex:
    try:
        return ColumnIndex(data.metadata)
    except (TypeError, ValueError, OverflowError) as exc:  # values vecstore never writes
        raise StoreCorrupted(
            f"{directory / entry.name}.json holds unusable metadata ({exc})"
        ) from exc


def masks(state: State, where: Filter | None) -> list[Mask | None]:
    """Per segment, the rows ``where`` selects among the live ones (None: all rows, none dead)."""
    out: list[Mask | None] = []
    for seg in state.segments:
        if where is None:
            out.append(None if seg.alive.all() else seg.alive)
        else:
            out.append(seg.alive & seg.columns.evaluate(where))
    return out


def dead_rows(
    state: State, ids: Sequence[str] | None, where: Filter | None
) -> dict[int, list[int]]:
    """The live rows, by segment, that ids or a filter select (neither: every live row)."""
    dead: dict[int, list[int]] = {}
    if ids is None and where is None:  # everything
        for s, seg in enumerate(state.segments):
            rows = np.flatnonzero(seg.alive).tolist()
            if rows:
                dead[s] = rows
        return dead
    for rid in ids or ():
        if rid in state.index:
            s, r = state.index[rid]
            dead.setdefault(s, []).append(r)
    if where is not None:
        for s, seg in enumerate(state.segments):
            rows = np.flatnonzero(seg.alive & seg.columns.evaluate(where)).tolist()
            if rows:
                dead.setdefault(s, []).extend(rows)
    return dead


def new_manifest(info: CollectionInfo) -> Manifest:
    """The manifest of an empty collection."""
    return Manifest(info, 0, ())


def next_name(manifest: Manifest) -> str:
    """The name of the next segment (one past the generation: never a name in use)."""
    return f"seg-{manifest.generation + 1:08d}"


def with_segment(manifest: Manifest, entry: SegmentEntry) -> Manifest:
    """A new manifest with ``entry`` added (the generation moves on to its name)."""
    return replace(
        manifest, generation=manifest.generation + 1, segments=(*manifest.segments, entry)
    )


def keep_first(manifest: Manifest, count: int) -> Manifest:
    """A new manifest with only its first ``count`` segments (the generation kept)."""
    return replace(manifest, segments=manifest.segments[:count])


def with_dead(manifest: Manifest, dead: dict[int, list[int]]) -> Manifest:
    """A new manifest with these rows marked dead."""
    segments = tuple(
        replace(e, dead=tuple(sorted(set(e.dead) | set(dead[i])))) if i in dead else e
        for i, e in enumerate(manifest.segments)
    )
    return replace(manifest, segments=segments)
