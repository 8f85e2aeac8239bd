"""One committed version of a NumPy collection, in memory, and the manifest edits writers make.

A :class:`State` is built from a manifest (:func:`build`) and never changed afterwards: readers
share it without a lock, writers build the next one. The manifest helpers return new manifests
(or name the next segment), never changing one a reader may hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vecstore.adapters import numpy_files as files
from vecstore.adapters.columns import ColumnIndex
from vecstore.filters import Filter
from vecstore.records import CollectionInfo

Manifest = dict[str, Any]
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
    dimension = int(manifest["info"]["dimension"])
    known = {seg.name: seg for seg in previous.segments}
    segments = []
    for entry in manifest["segments"]:
        alive = np.ones(int(entry["rows"]), dtype=bool)
        alive[np.asarray(entry["dead"], dtype=np.int64)] = False
        seg = known.get(entry["name"])
        if seg is None:
            data = files.read_segment(directory, entry, dimension)
            segments.append(Segment(entry["name"], data, alive, ColumnIndex(data.metadata)))
        else:
            segments.append(Segment(seg.name, seg.data, alive, seg.columns))
    index: dict[str, tuple[int, int]] = {}
    for s, seg in enumerate(segments):
        for r in np.flatnonzero(seg.alive).tolist():
            index[seg.data.ids[r]] = (s, r)
    return State(manifest, signature, tuple(segments), index)


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
    return {
        "format": files.FORMAT_VERSION,
        "info": {
            "name": info.name,
            "model": info.model,
            "dimension": info.dimension,
            "metric": info.metric,
        },
        "generation": 0,
        "segments": [],
    }


def next_name(manifest: Manifest) -> str:
    """Count the manifest's generation up; the name of the segment it brings."""
    manifest["generation"] = int(manifest["generation"]) + 1
    return f"seg-{manifest['generation']:08d}"


def with_dead(manifest: Manifest, dead: dict[int, list[int]]) -> Manifest:
    """A new manifest with these rows marked dead."""
    new = dict(manifest)
    new["segments"] = [
        {**e, "dead": sorted(set(e["dead"]) | set(dead.get(i, [])))}
        for i, e in enumerate(manifest["segments"])
    ]
    return new
