"""The reference store: exact cosine search over memory-mapped float32 segments.

Persistence and crash safety are in :mod:`vecstore.adapters.numpy_files`. Every upsert writes
one new immutable segment (a replaced record's old row is marked dead in the manifest);
segments are merged when there are more than :data:`MAX_SEGMENTS` of them (the newest ones of
similar total size, so each record is rewritten O(log n) times) or when dead rows pass
:data:`MAX_DEAD_FRACTION`. One process writes at a time: the first write takes the
collection's lock and keeps it until :meth:`NumpyBackend.close`; a second writer gets
:class:`~vecstore.errors.StoreLocked`. Readers see other processes' commits at their next call.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from filelock import FileLock, Timeout

from vecstore.adapters import numpy_files as files
from vecstore.adapters.base import Capabilities
from vecstore.adapters.columns import ColumnIndex
from vecstore.errors import IncompatibleCollection, InvalidInput, InvalidName, StoreLocked
from vecstore.filters import Filter
from vecstore.records import CollectionInfo, Hit, Metadata, RecordBatch, StoredRecord, Vectors
from vecstore.search import topk

if TYPE_CHECKING:
    from vecstore.config import Settings

MAX_SEGMENTS = 8
MAX_DEAD_FRACTION = 0.3
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_name(name: str) -> str:
    """Return ``name`` if it is a safe directory name, else raise InvalidName."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise InvalidName(
            f"collection name {name!r}: use 1-128 characters of letters, digits, '.', '_', '-', "
            "starting with a letter or digit, without '..'"
        )
    return name


def _copy_meta(meta: Metadata) -> Metadata:
    return {k: list(v) if isinstance(v, list) else v for k, v in meta.items()}  # type: ignore[misc]


@dataclass(slots=True)
class _Segment:
    name: str
    data: files.SegmentData
    alive: npt.NDArray[np.bool_]
    columns: ColumnIndex


class NumpyBackend:
    """A collection in a directory ``<path>/<name>``, searched exactly."""

    capabilities = Capabilities()

    def __init__(
        self, collection: str, settings: Settings | None = None, *, path: str | Path | None = None
    ) -> None:
        check_name(collection)
        if path is None:
            path = settings.numpy.path if settings is not None else Path(".vecstore")
        self.directory = Path(path) / collection
        self._info: CollectionInfo | None = None
        self._lock: FileLock | None = None
        self._manifest: dict[str, Any] | None = None
        self._signature: tuple[int, int, int] | None = None
        self._segments: list[_Segment] = []
        self._index: dict[str, tuple[int, int]] = {}

    # -- reading state -------------------------------------------------------------------------

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = (self.directory / files.MANIFEST).stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self) -> None:
        """Reload if another process committed since we last looked."""
        signature = self._stat()
        if signature == self._signature:
            return
        if signature is None:
            self._manifest, self._segments, self._index = None, [], {}
        else:
            self._load(files.read_manifest(self.directory))
        self._signature = signature

    def _load(self, manifest: dict[str, Any]) -> None:
        dimension = int(manifest["info"]["dimension"])
        known = {seg.name: seg for seg in self._segments}
        segments = []
        for entry in manifest["segments"]:
            seg = known.get(entry["name"])
            if seg is None:
                data = files.read_segment(self.directory, entry, dimension)
                seg = _Segment(entry["name"], data, np.ones(0, bool), ColumnIndex(data.metadata))
            seg.alive = np.ones(int(entry["rows"]), dtype=bool)
            seg.alive[np.asarray(entry["dead"], dtype=np.int64)] = False
            segments.append(seg)
        self._manifest, self._segments = manifest, segments
        self._index = {}
        for s, seg in enumerate(segments):
            for r in np.flatnonzero(seg.alive).tolist():
                self._index[seg.data.ids[r]] = (s, r)
        self._check_info(manifest["info"])

    def _check_info(self, stored: dict[str, Any]) -> None:
        if self._info is None:
            return
        want = self._info
        if stored["model"] != want.model or int(stored["dimension"]) != want.dimension:
            raise IncompatibleCollection(
                f"collection {want.name!r} at {self.directory} was written with model "
                f"{stored['model']!r} (dimension {stored['dimension']}); it cannot be opened with "
                f"{want.model!r} (dimension {want.dimension})"
            )

    # -- writing -------------------------------------------------------------------------------

    def _begin_write(self) -> dict[str, Any]:
        """Take the writer lock (once), catch up with disk, and return the base manifest."""
        if self._lock is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock = FileLock(self.directory / ".lock", timeout=0)
            try:
                lock.acquire()
            except Timeout as exc:
                raise StoreLocked(
                    f"collection at {self.directory} is being written by another process "
                    "(or another open Collection); close it first"
                ) from exc
            self._lock = lock
            self._refresh()
            if self._manifest is not None:
                files.remove_unlisted(self.directory, self._manifest)
        self._refresh()
        if self._manifest is not None:
            return self._manifest
        assert self._info is not None, "open() must be called before writing"
        info = self._info
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

    def _commit(self, manifest: dict[str, Any]) -> None:
        files.write_manifest(self.directory, manifest)
        self._load(manifest)
        self._signature = self._stat()

    def _next_name(self, manifest: dict[str, Any]) -> str:
        manifest["generation"] = int(manifest["generation"]) + 1
        return f"seg-{manifest['generation']:08d}"

    @staticmethod
    def _with_dead(manifest: dict[str, Any], dead: dict[int, list[int]]) -> dict[str, Any]:
        new = dict(manifest)
        new["segments"] = [
            {**e, "dead": sorted(set(e["dead"]) | set(dead.get(i, [])))}
            for i, e in enumerate(manifest["segments"])
        ]
        return new

    def upsert(self, batch: RecordBatch) -> None:
        if len(batch) == 0:
            return
        base = self._begin_write()
        dimension = int(base["info"]["dimension"])
        if batch.vectors.shape[1] != dimension:
            raise InvalidInput(f"vectors have dimension {batch.vectors.shape[1]}, not {dimension}")
        dead: dict[int, list[int]] = {}
        for rid in batch.ids:
            if rid in self._index:
                s, r = self._index[rid]
                dead.setdefault(s, []).append(r)
        manifest = self._with_dead(base, dead)
        name = self._next_name(manifest)
        data = files.SegmentData(
            batch.vectors, list(batch.ids), list(batch.texts), list(batch.metadata)
        )
        manifest["segments"] = [
            *manifest["segments"],
            files.write_segment(self.directory, name, data),
        ]
        self._commit(manifest)
        self._maybe_compact()

    def _dead_rows(self, ids: Sequence[str] | None, where: Filter | None) -> dict[int, list[int]]:
        dead: dict[int, list[int]] = {}
        for rid in ids or ():
            if rid in self._index:
                s, r = self._index[rid]
                dead.setdefault(s, []).append(r)
        if where is not None:
            for s, seg in enumerate(self._segments):
                rows = np.flatnonzero(seg.alive & seg.columns.evaluate(where)).tolist()
                if rows:
                    dead.setdefault(s, []).extend(rows)
        return dead

    def delete(self, ids: Sequence[str] | None = None, where: Filter | None = None) -> None:
        self._refresh()
        if not self._dead_rows(ids, where):
            return  # nothing to delete: no lock taken, nothing written
        base = self._begin_write()
        dead = self._dead_rows(ids, where)  # again, against the state held under the lock
        if dead:
            self._commit(self._with_dead(base, dead))
            self._maybe_compact()

    def _maybe_compact(self) -> None:
        assert self._manifest is not None
        entries = self._manifest["segments"]
        rows = [int(e["rows"]) for e in entries]
        dead = sum(len(e["dead"]) for e in entries)
        if dead > MAX_DEAD_FRACTION * sum(rows):
            start = 0
        elif len(entries) > MAX_SEGMENTS:
            start, tail = len(rows) - 1, rows[-1]
            while start > 0 and rows[start - 1] <= 2 * tail:
                start -= 1
                tail += rows[start]
        else:
            return
        self._merge_from(start)

    def _merge_from(self, start: int) -> None:
        assert self._manifest is not None
        merged = self._segments[start:]
        keep = [np.flatnonzero(seg.alive) for seg in merged]
        manifest = dict(self._manifest)
        manifest["segments"] = list(manifest["segments"][:start])
        if sum(len(k) for k in keep):
            pairs = list(zip(merged, keep, strict=True))
            data = files.SegmentData(
                # The vectors go as parts, one at a time, never as one joined copy.
                np.empty((0, merged[0].data.vectors.shape[1]), np.float32),
                [seg.data.ids[i] for seg, k in pairs for i in k],
                [seg.data.texts[i] for seg, k in pairs for i in k],
                [seg.data.metadata[i] for seg, k in pairs for i in k],
            )
            parts = (
                seg.data.vectors if len(k) == len(seg.alive) else seg.data.vectors[k]
                for seg, k in pairs
            )
            name = self._next_name(manifest)
            manifest["segments"].append(files.write_segment(self.directory, name, data, parts))
        self._commit(manifest)
        files.remove_unlisted(self.directory, manifest)

    # -- the Backend protocol ------------------------------------------------------------------

    def open(self, info: CollectionInfo) -> CollectionInfo:
        self._info = info
        self._signature = None
        self._refresh()
        if self._manifest is None:
            return info
        stored = self._manifest["info"]
        return CollectionInfo(info.name, stored["model"], int(stored["dimension"]))

    def _masks(self, where: Filter | None) -> list[npt.NDArray[np.bool_] | None]:
        out: list[npt.NDArray[np.bool_] | None] = []
        for seg in self._segments:
            if where is None:
                out.append(None if seg.alive.all() else seg.alive)
            else:
                out.append(seg.alive & seg.columns.evaluate(where))
        return out

    def query(self, vectors: Vectors, top_k: int, where: Filter | None) -> list[list[Hit]]:
        self._refresh()
        found: list[list[tuple[float, int, int]]] = [[] for _ in range(len(vectors))]
        for s, (seg, mask) in enumerate(zip(self._segments, self._masks(where), strict=True)):
            idx, scores = topk(seg.data.vectors, vectors, top_k, mask)
            for q in range(len(vectors)):
                found[q].extend(
                    zip(scores[q].tolist(), [s] * idx.shape[1], idx[q].tolist(), strict=True)
                )
        out = []
        for hits in found:
            hits.sort(key=lambda h: (-h[0], h[1], h[2]))
            out.append([self._hit(s, r, score) for score, s, r in hits[:top_k]])
        return out

    def _hit(self, s: int, r: int, score: float) -> Hit:
        data = self._segments[s].data
        return Hit(
            data.ids[r], min(1.0, max(-1.0, score)), data.texts[r], _copy_meta(data.metadata[r])
        )

    def _record(self, s: int, r: int, with_vectors: bool) -> StoredRecord:
        data = self._segments[s].data
        vector = np.array(data.vectors[r], dtype=np.float32) if with_vectors else None
        return StoredRecord(data.ids[r], data.texts[r], _copy_meta(data.metadata[r]), vector)

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredRecord]:
        self._refresh()
        return [self._record(*self._index[i], with_vectors) for i in ids if i in self._index]

    def count(self, where: Filter | None = None) -> int:
        self._refresh()
        if where is None:
            return len(self._index)
        return sum(int(m.sum()) for m in self._masks(where) if m is not None)

    def scan(self, batch_size: int, with_vectors: bool = True) -> Iterator[list[StoredRecord]]:
        self._refresh()
        segments = list(enumerate(self._segments))
        for s, seg in segments:
            rows = np.flatnonzero(seg.alive).tolist()
            for start in range(0, len(rows), batch_size):
                yield [self._record(s, r, with_vectors) for r in rows[start : start + batch_size]]

    def matrix(self, where: Filter | None = None) -> tuple[list[str], Vectors]:
        """Ids and vectors of the live records ``where`` selects, in one array.

        With one segment and no filter this is the memory-mapped matrix itself, not a copy.
        """
        self._refresh()
        ids: list[str] = []
        parts = []
        for seg, mask in zip(self._segments, self._masks(where), strict=True):
            if mask is None:
                ids.extend(seg.data.ids)
                parts.append(seg.data.vectors)
                continue
            rows = np.flatnonzero(mask)
            ids.extend(seg.data.ids[r] for r in rows.tolist())
            parts.append(seg.data.vectors[rows])
        if not parts:
            dim = self._info.dimension if self._info else 0
            return ids, np.empty((0, dim), np.float32)
        return ids, parts[0] if len(parts) == 1 else np.concatenate(parts)

    def describe(self) -> dict[str, Any]:
        self._refresh()
        return {"path": str(self.directory), "segments": len(self._segments)}

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self._segments, self._index, self._manifest, self._signature = [], {}, None, None

    def __repr__(self) -> str:
        return f"NumpyBackend({str(self.directory)!r}, pid={os.getpid()})"
